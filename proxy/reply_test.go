package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// rawUpstream answers every request with reply, byte for byte.
func rawUpstream(t *testing.T, p *Proxy, reply string) {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				var req fasthttp.Request
				if req.Read(r) != nil {
					return
				}
				_, _ = io.WriteString(c, reply)
			}()
		}
	}()
	hc := p.tenants["acme"].upstreams[""].client
	hc.Dial = func(string) (net.Conn, error) { return ln.Dial() }
}

// rawRoundTrip sends one request through p's own server and returns the
// reply's bytes as the client sees them.
func rawRoundTrip(t *testing.T, p *Proxy, request string) string {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	go p.server.Serve(ln) //nolint:errcheck // closed below
	t.Cleanup(func() { ln.Close() })
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	br := bufio.NewReader(c)
	if err := resp.Read(br); err != nil {
		t.Fatal(err)
	}
	return resp.Header.String() + string(resp.Body())
}

func TestReplyIsConsentrys(t *testing.T) {
	body := `[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{}}]`
	req := "POST /a1?z=ACC HTTP/1.1\r\nHost: proxy.test\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	for _, tc := range []struct {
		name, upstream string
		wantStatus     string
		notWant        []string
		want           []string
	}{
		{
			name:       "HTTP/1.0 upstream with a Server header",
			upstream:   "HTTP/1.0 200 Fine By Me\r\nServer: vendor-edge/1.2.3\r\nX-Vendor: v\r\nContent-Length: 2\r\n\r\n{}",
			wantStatus: "HTTP/1.1 200 OK\r\n",
			notWant:    []string{"vendor-edge", "HTTP/1.0", "Fine By Me"},
			want:       []string{"X-Vendor: v", "{}"},
		},
		{
			name:       "HTTP/1.1 upstream error",
			upstream:   "HTTP/1.1 503 Service Unavailable\r\nServer: nginx\r\nContent-Length: 4\r\n\r\nbusy",
			wantStatus: "HTTP/1.1 503 Service Unavailable\r\n",
			notWant:    []string{"nginx"},
			want:       []string{"busy"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testProxy(t)
			rawUpstream(t, p, tc.upstream)
			got := rawRoundTrip(t, p, req)
			if !strings.HasPrefix(got, tc.wantStatus) {
				t.Errorf("status line: got %q, want prefix %q", got, tc.wantStatus)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("upstream's %q echoed: %q", w, got)
				}
			}
			if strings.Count(got, "Server:") != 1 || !strings.Contains(got, "\r\nServer: consentry\r\n") {
				t.Errorf("want Consentry's own Server header only: %q", got)
			}
		})
	}
}

// TestRecordsForwardedOnlyOn2xx: consentry_records_total{outcome="forwarded"}
// counts records the upstream accepted; the others are upstream_failed.
func TestRecordsForwardedOnlyOn2xx(t *testing.T) {
	batch := []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{}},{"type":"event","evtName":"F","evtData":{}}]`)
	for _, tc := range []struct {
		name, upstream           string
		status                   int
		wantForwarded, wantFails string
	}{
		{"2xx", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, `outcome="forwarded"} 2`, `outcome="upstream_failed"} 0`},
		{"5xx", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}", 500, `outcome="forwarded"} 0`, `outcome="upstream_failed"} 2`},
		{"4xx", "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}", 429, `outcome="forwarded"} 0`, `outcome="upstream_failed"} 2`},
		{"no answer", "", 502, `outcome="forwarded"} 0`, `outcome="upstream_failed"} 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testProxy(t)
			rawUpstream(t, p, tc.upstream)
			var ctx fasthttp.RequestCtx
			request(&ctx, "POST", "/a1?z=ACC", batch)
			p.Handle(&ctx)
			if ctx.Response.StatusCode() != tc.status {
				t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			out := scrape(t, p.metrics)
			for _, w := range []string{tc.wantForwarded, tc.wantFails, `consentry_records_total{outcome="in"} 2`} {
				if !strings.Contains(out, w) {
					t.Errorf("missing %s in\n%s", w, grepLines(out, "consentry_records_total"))
				}
			}
		})
	}
}

func TestRuntimeCollectors(t *testing.T) {
	out := scrape(t, NewMetrics(nil))
	for _, w := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_resident_memory_bytes ", "process_open_fds "} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %s", w)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestCleanReplyHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        []string // header lines left, in order
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nServer: vendor/1.2\r\nX-Request-Id: r1\r\n\r\n",
			[]string{"Content-Type: application/json", "X-Request-Id: r1"}},
		{"hop-by-hop", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: X-Hop, close\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nUpgrade: h2c\r\nX-Request-Id: r1\r\n\r\n",
			[]string{"Content-Type: application/json", "X-Request-Id: r1"}},
		{"redirect", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nx-wzrk-rd: eu1\r\nX-Request-Id: r1\r\n\r\n",
			[]string{"Content-Type: application/json", "X-Request-Id: r1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(strings.NewReader(tc.reply + "{}"))); err != nil {
				t.Fatal(err)
			}
			cleanReplyHeaders(&resp.Header, []string{"X-WZRK-RD", "X-WZRK-SPIKY-RD"})
			var got []string
			for k, v := range resp.Header.All() {
				got = append(got, string(k)+": "+string(v))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("left %q, want %q", got, tc.want)
			}
		})
	}
}
