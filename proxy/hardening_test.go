package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/clevertap"
)

// upstreamCapture counts the requests an in-memory upstream receives and
// keeps the headers of the last one.
type upstreamCapture struct {
	hits atomic.Int32
	mu   sync.Mutex
	last fasthttp.RequestHeader
}

func (c *upstreamCapture) Load() int32 { return c.hits.Load() }

func (c *upstreamCapture) header(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.last.PeekAll(name)
	if len(v) == 0 {
		return "", false
	}
	return string(v[0]), true
}

// countingUpstream points the acme tenant of p at an in-memory upstream
// that answers {} and records what it receives.
func countingUpstream(tb testing.TB, p *Proxy) *upstreamCapture {
	tb.Helper()
	c := &upstreamCapture{}
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		c.mu.Lock()
		ctx.Request.Header.CopyTo(&c.last)
		c.mu.Unlock()
		c.hits.Add(1)
		ctx.SetBodyString("{}")
	}}
	go up.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	p.tenants["acme"].upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	return c
}

func TestRepeatedAccountSourcesAreRefused(t *testing.T) {
	p, _ := testProxy(t)
	hits := countingUpstream(t, p)
	batch := []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{"n":1}}]`)
	web, err := clevertap.EncodeWebParam(nil, []byte(`{"type":"profile","profile":{"Plan":"gold"},"id":"ACC","g":"g1","s":1}`))
	if err != nil {
		t.Fatal(err)
	}
	const hdr = "X-CleverTap-Account-Id"
	for _, tc := range []struct {
		name, method, uri string
		body              []byte
		hdr               [][2]string
		status            int
		code              string
	}{
		{"single values", "POST", "/a1?z=ACC", batch, [][2]string{{hdr, "ACC"}}, 200, ""},
		{"header twice, equal", "POST", "/a1", batch, [][2]string{{hdr, "ACC"}, {hdr, "ACC"}}, 400, "account_mismatch"},
		{"header twice, other case", "POST", "/a1", batch, [][2]string{{hdr, "ACC"}, {"x-clevertap-account-id", "ACC"}}, 400, "account_mismatch"},
		{"header twice, different", "POST", "/a1", batch, [][2]string{{hdr, "ACC"}, {hdr, "OTHER"}}, 400, "account_mismatch"},
		{"z twice, equal", "POST", "/a1?z=ACC&z=ACC", batch, nil, 400, "account_mismatch"},
		{"z twice, one empty", "POST", "/a1?z=&z=ACC", batch, nil, 400, "account_mismatch"},
		{"z percent-encoded", "POST", "/a1?%7A=ACC", batch, nil, 400, "account_mismatch"},
		{"z encoded and plain", "POST", "/a1?%7A=OTHER&z=ACC", batch, nil, 400, "account_mismatch"},
		{"hello: z twice", "GET", "/hello?z=ACC&z=ACC", nil, nil, 400, "account_mismatch"},
		{"hello: header twice", "GET", "/hello", nil, [][2]string{{hdr, "ACC"}, {hdr, "ACC"}}, 400, "account_mismatch"},
		{"upload: header twice", "POST", "/1/upload", []byte(`{"d":[]}`), [][2]string{{hdr, "ACC"}, {hdr, "ACC"}}, 400, "account_mismatch"},
		{"web: d twice", "GET", "/a?type=push&d=" + string(web) + "&d=" + string(web), nil, nil, 400, "account_mismatch"},
		{"web: single d", "GET", "/a?type=push&d=" + string(web), nil, nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			request(&ctx, tc.method, tc.uri, tc.body)
			for _, h := range tc.hdr {
				ctx.Request.Header.Add(h[0], h[1])
			}
			before := hits.Load()
			p.Handle(&ctx)
			got := ctx.Response.StatusCode()
			if got != tc.status || (tc.code != "" && !strings.Contains(string(ctx.Response.Body()), `"code":"`+tc.code+`"`)) {
				t.Fatalf("got %d %s, want %d %s", got, ctx.Response.Body(), tc.status, tc.code)
			}
			forwarded := hits.Load() - before
			if tc.status != 200 && forwarded != 0 {
				t.Errorf("refused request reached the upstream %d times", forwarded)
			}
			if tc.status == 200 && forwarded != 1 {
				t.Errorf("accepted request reached the upstream %d times", forwarded)
			}
		})
	}
}

// TestContentTypeOnlyWhenSent: the upstream gets the client's Content-Type,
// and none when the client sent none.
func TestContentTypeOnlyWhenSent(t *testing.T) {
	p, _ := testProxy(t)
	up := countingUpstream(t, p)
	batch := []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{"n":1}}]`)
	for _, tc := range []struct {
		name, ctype string
	}{
		{"none", ""},
		{"json", "application/json; charset=utf-8"},
		{"form", "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			request(&ctx, "POST", "/a1?z=ACC", batch)
			if tc.ctype != "" {
				ctx.Request.Header.SetContentType(tc.ctype)
			}
			p.Handle(&ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			got, ok := up.header("Content-Type")
			if tc.ctype == "" && ok {
				t.Errorf("upstream got Content-Type %q, the client sent none", got)
			}
			if tc.ctype != "" && got != tc.ctype {
				t.Errorf("upstream got Content-Type %q, want %q", got, tc.ctype)
			}
		})
	}
}

// TestReadErrors: requests fasthttp cannot read are answered with the JSON
// error body and the right status (431 for headers over the limit).
func TestReadErrors(t *testing.T) {
	p, _ := testProxy(t)
	// fasthttp's default logger would quote the unreadable request's bytes.
	if _, ok := p.server.Logger.(quietLogger); !ok {
		t.Errorf("fasthttp logs with %T", p.server.Logger)
	}
	ln := fasthttputil.NewInmemoryListener()
	go p.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	big := strings.Repeat("a", config.DefaultMaxHeaderBytes+1)
	for _, tc := range []struct {
		name, raw string
		status    int
		code      string
	}{
		{"headers over the limit", "POST /a1?z=ACC HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\nContent-Length: 2\r\n\r\n[]", 431, "headers_too_large"},
		{"malformed request line", "NOT HTTP?email=jane@example.com\r\n\r\n", 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ln.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go c.Write([]byte(tc.raw))
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(c)); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != tc.status || !strings.Contains(string(resp.Body()), `{"error":{"code":"`+tc.code+`"`) {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode(), resp.Body(), tc.status, tc.code)
			}
			if ct := string(resp.Header.ContentType()); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}

		})
	}
}

// blockedWriter holds every Write until release is closed (a stalled
// stdout), then counts the lines it was given.
type blockedWriter struct {
	release chan struct{}
	lines   *atomic.Int64
}

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// TestStalledAuditDoesNotBlockRequests: requests stay fast when the audit
// output never accepts a write; every line is either written once the
// output accepts again or counted as dropped.
func TestStalledAuditDoesNotBlockRequests(t *testing.T) {
	p, _ := testProxy(t)
	w := blockedWriter{release: make(chan struct{}), lines: new(atomic.Int64)}
	p.audit = audit.New(w, audit.WithQueue(4))
	batch := []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{"n":1}}]`)
	var ctx fasthttp.RequestCtx
	start := time.Now()
	const n = 200
	for range n {
		request(&ctx, "POST", "/a1?z=ACC", batch)
		p.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d requests took %s with a stalled audit output", n, d)
	}
	// The blocked write holds one batch (as many lines as the writer found
	// queued while filling it) and the queue 4 more; the rest are dropped.
	dropped := p.audit.Dropped()
	if dropped < n/2 {
		t.Errorf("%d audit lines dropped of %d with a stalled output", dropped, n)
	}
	close(w.release)
	if err := p.audit.Close(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(w.lines.Load()) + p.audit.Dropped(); got != n {
		t.Errorf("%d lines written + %d dropped = %d, want %d", w.lines.Load(), p.audit.Dropped(), got, n)
	}
}

// A cleaner that panics answers its request 500 with a JSON body; the
// process and the next requests carry on (found by fuzzing: a detector
// sliced past the end of a value).
func TestHandlerPanicAnswered500(t *testing.T) {
	p, _ := testProxy(t)
	for _, rs := range p.routes {
		for _, rt := range rs {
			if rt.Path == "/a1" {
				orig := rt.Clean
				rt.Clean = func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
					if bytes.Contains(body, []byte("boom")) {
						var s []byte
						_ = s[len(body)] // index out of range
					}
					return orig(dst, body, env)
				}
			}
		}
	}
	var ctx fasthttp.RequestCtx
	request(&ctx, "POST", "/a1?z=ACC", []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"boom","evtData":{}}]`))
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 500 || !bytes.Contains(ctx.Response.Body(), []byte(`"internal_error"`)) {
		t.Fatalf("panicking request: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if p.panics.Load() != 1 {
		t.Errorf("panics counted: %d", p.panics.Load())
	}
	var next fasthttp.RequestCtx
	request(&next, "POST", "/a1?z=ACC", []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"fine","evtData":{}}]`))
	p.Handle(&next)
	if next.Response.StatusCode() != 200 {
		t.Fatalf("next request: %d %s", next.Response.StatusCode(), next.Response.Body())
	}
}
