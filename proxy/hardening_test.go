package proxy

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/consentry/consentry/formats/clevertap"
)

// countingUpstream points the acme tenant of p at an in-memory upstream
// that answers {} and counts the requests it receives.
func countingUpstream(tb testing.TB, p *Proxy) *atomic.Int32 {
	tb.Helper()
	var hits atomic.Int32
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetBodyString("{}")
	}}
	go up.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	p.tenants["acme"].upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	return &hits
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
