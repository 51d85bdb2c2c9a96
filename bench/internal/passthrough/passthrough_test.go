package passthrough

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestStripRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		headers  [][2]string
		gone     []string
		kept     []string
		wantBody bool
	}{
		{"connection names", [][2]string{{"Connection", "X-Trace, close"}, {"X-Trace", "1"}, {"X-Keep", "2"}}, []string{"X-Trace", "Connection"}, []string{"X-Keep"}, false},
		{"classic list", [][2]string{{"Keep-Alive", "timeout=5"}, {"Proxy-Authorization", "x"}, {"Upgrade", "h2c"}, {"TE", "trailers"}, {"X-CleverTap-Account-Id", "ACC"}}, []string{"Keep-Alive", "Proxy-Authorization", "Upgrade", "TE"}, []string{"X-CleverTap-Account-Id"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h fasthttp.RequestHeader
			h.DisableNormalizing()
			for _, kv := range tt.headers {
				h.Set(kv[0], kv[1])
			}
			StripRequest(&h)
			for _, k := range tt.gone {
				if v := h.Peek(k); len(v) > 0 {
					t.Errorf("%s still present: %q", k, v)
				}
			}
			for _, k := range tt.kept {
				if v := h.Peek(k); len(v) == 0 {
					t.Errorf("%s removed", k)
				}
			}
			if h.ConnectionClose() {
				t.Error("Connection: close forwarded upstream")
			}
		})
	}
}

// serve runs h on a 127.0.0.1 listener until the test ends.
func serve(t *testing.T, s *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

func TestProxyForwardsAndPassesReplyBack(t *testing.T) {
	t.Parallel()
	var sawTrace, sawBody string
	up := serve(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		sawTrace = string(ctx.Request.Header.Peek("X-Trace"))
		sawBody = string(ctx.PostBody())
		ctx.Response.Header.Set("X-Upstream", "yes")
		ctx.Response.Header.Set("Keep-Alive", "timeout=1")
		ctx.SetStatusCode(201)
		ctx.SetBodyString(`{"ok":true}`)
	}})
	addr := serve(t, NewServer(New(up).Handle))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/a1?z=ACC")
	req.Header.SetMethod("POST")
	req.Header.Set("Connection", "X-Trace")
	req.Header.Set("X-Trace", "secret-hop")
	req.SetBodyString(`[{"type":"meta"}]`)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 201 || string(resp.Body()) != `{"ok":true}` || string(resp.Header.Peek("X-Upstream")) != "yes" {
		t.Fatalf("reply not passed back: %d %s", resp.StatusCode(), resp.Body())
	}
	if len(resp.Header.Peek("Keep-Alive")) > 0 {
		t.Error("upstream Keep-Alive passed to the client")
	}
	if sawTrace != "" || sawBody != `[{"type":"meta"}]` {
		t.Errorf("upstream saw X-Trace %q body %q", sawTrace, sawBody)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	addr := serve(t, NewServer(New(dead).Handle))
	code, body, err := fasthttp.Post(nil, "http://"+addr+"/a1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code != fasthttp.StatusBadGateway || !strings.Contains(string(body), "upstream unavailable") {
		t.Fatalf("got %d %s, want 502", code, body)
	}
}
