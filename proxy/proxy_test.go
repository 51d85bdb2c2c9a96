package proxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rights"
	"github.com/consentry/consentry/rules"
)

func TestGunzipLimits(t *testing.T) {
	plain := bytes.Repeat([]byte("a"), 10000)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(plain)
	zw.Close()
	z := buf.Bytes()

	if out, err := gunzip(nil, z, 1<<20, 1000); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("within limits: %v", err)
	}
	if _, err := gunzip(nil, z, 5000, 1000); err != errTooLarge {
		t.Errorf("size limit: %v", err)
	}
	if _, err := gunzip(nil, z, 1<<20, 2); err != errRatio {
		t.Errorf("ratio limit: %v", err)
	}
	if _, err := gunzip(nil, []byte{0x1f, 0x8b, 0, 0}, 1<<20, 100); err != errBadGzip {
		t.Errorf("broken gzip: %v", err)
	}
	if out := appendGzip(nil, plain); !bytes.Equal(mustGunzip(t, out), plain) {
		t.Error("appendGzip round trip")
	}
}

func mustGunzip(t *testing.T, b []byte) []byte {
	out, err := gunzip(nil, b, 1<<24, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testProxy is a Proxy with the real default policy whose upstream is an
// in-memory fasthttp server answering {}.
func testProxy(tb testing.TB) (*Proxy, *fasthttputil.InmemoryListener) {
	tb.Helper()
	eng, err := policy.New(policy.WithFS(rules.FS))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{1}, 32), TokenKey: bytes.Repeat([]byte{2}, 64), TokenKeyID: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	p, err := New(cfg, eng, []TenantSpec{{Name: "acme", Accounts: []string{"ACC"}, Applier: tr, Upstreams: map[string]string{"": "http://upstream.test"}}}, "", clevertap.Routes())
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-WZRK-RD", "elsewhere")
		ctx.SetBodyString("{}")
	}}
	go up.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	p.tenants["acme"].upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	return p, ln
}

func request(ctx *fasthttp.RequestCtx, method, uri string, body []byte, hdr ...string) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	ctx.Request.SetBody(body)
}

func TestHandleRoutesAndTenants(t *testing.T) {
	p, _ := testProxy(t)
	var ctx fasthttp.RequestCtx
	batch := []byte(`[{"type":"meta","id":"ACC","af":{"GoogleAdID":"abc"}},{"type":"event","evtName":"E","evtData":{"Email":"a@b.co"}}]`)
	for _, tc := range []struct {
		name, method, uri string
		body              []byte
		hdr               []string
		status            int
		contains          string
	}{
		{"ok", "POST", "/a1?z=ACC", batch, nil, 200, "{}"},
		{"header account, other case", "POST", "/a1", batch, []string{"x-clevertap-account-id", "ACC"}, 200, "{}"},
		{"mismatch", "POST", "/a1?z=OTHER", batch, nil, 400, "account_mismatch"},
		{"unknown", "POST", "/a1?z=NOPE", []byte(`[{"type":"meta","id":"NOPE"}]`), nil, 403, "unknown_tenant"},
		{"no account", "POST", "/1/upload", []byte(`{"d":[]}`), nil, 403, "unknown_tenant"},
		{"404", "POST", "/v2/whatever", batch, nil, 404, "unknown_route"},
		{"405", "PUT", "/a1", batch, nil, 405, "method_not_allowed"},
		{"preflight on a server route", "OPTIONS", "/a1", nil, []string{"Origin", "https://shop.example"}, 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			request(&ctx, tc.method, tc.uri, tc.body, tc.hdr...)
			p.Handle(&ctx)
			if ctx.Response.StatusCode() != tc.status || !strings.Contains(string(ctx.Response.Body()), tc.contains) {
				t.Errorf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			if len(ctx.Response.Header.Peek("X-WZRK-RD")) > 0 {
				t.Error("redirect header passed through")
			}
		})
	}
}

// BenchmarkHandle is one SDK batch through the whole handler: route,
// tenant, clean, forward to an in-memory upstream, filter the reply.
func BenchmarkHandle(b *testing.B) {
	p, _ := testProxy(b)
	in, err := clevertap.Samples.ReadFile("samples/android_batch.json")
	if err != nil {
		b.Fatal(err)
	}
	in = bytes.ReplaceAll(in, []byte("TEST-RK4-654-R75Z"), []byte("ACC"))
	var ctx fasthttp.RequestCtx
	request(&ctx, "POST", "/a1?os=Android&z=ACC", in)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		request(&ctx, "POST", "/a1?os=Android&z=ACC", in)
		p.Handle(&ctx)
	}
}

// BenchmarkHandleTypical is a typical app request (a returning device's
// batch of five light records, the bench corpus `typical`) through the
// whole handler with a rights registry and an audit logger: the fixed
// per-request cost, which light records do not hide.
func BenchmarkHandleTypical(b *testing.B) {
	p, _ := testProxy(b)
	reg, err := rights.Open(b.TempDir(), bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	p.rights = NewRightsAdapter(reg, nil)
	p.audit = audit.New(io.Discard)
	b.Cleanup(func() { p.audit.Close() })
	// The upstream answers as the bench sink does: {} and a content type.
	ln := fasthttputil.NewInmemoryListener()
	go (&fasthttp.Server{NoDefaultServerHeader: true, NoDefaultDate: true, Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("application/json;charset=utf-8")
		ctx.SetBodyString("{}")
	}}).Serve(ln)
	b.Cleanup(func() { ln.Close() })
	p.tenants["acme"].upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	in, err := os.ReadFile("testdata/typical_a1.json")
	if err != nil {
		b.Fatal(err)
	}
	const uri = "/a1?os=Android&t=70700&z=ACC&ts=1767223941"
	hdr := []string{"Content-Type", "application/json; charset=utf-8", "X-CleverTap-Account-Id", "ACC", "X-CleverTap-Token", "a1b-2c3"}
	var ctx fasthttp.RequestCtx
	request(&ctx, "POST", uri, in, hdr...)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		request(&ctx, "POST", uri, in, hdr...)
		p.Handle(&ctx)
	}
}

// An https upstream is reached from a plain listener: the forwarded
// request carries the upstream's scheme, not the client's.
func TestHTTPSUpstream(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":1}`) }))
	t.Cleanup(srv.Close)
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{1}, 32), TokenKey: bytes.Repeat([]byte{2}, 64), TokenKeyID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(policy.WithFS(rules.FS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	cfg := config.Default()
	cfg.Upstream.InsecureSkipVerify = true // httptest's certificate
	p, err := New(cfg, eng, []TenantSpec{{Name: "acme", Accounts: []string{"ACC"}, Applier: tr, Upstreams: map[string]string{"": srv.URL}}}, "", clevertap.Routes())
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	request(&ctx, "POST", "/a1?z=ACC", []byte(`[{"type":"meta","id":"ACC"}]`))
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), `"ok"`) {
		t.Errorf("https upstream: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// The upstream's path prefix is sent as configured: escapes stay escapes.
func TestUpstreamPrefixEscaped(t *testing.T) {
	for _, tc := range []struct{ url, prefix string }{
		{"https://h.example", ""},
		{"https://h.example/", ""},
		{"https://h.example/amp/", "/amp"},
		{"https://h.example/a%2Fb/", "/a%2Fb"},
		{"https://h.example/a%20b", "/a%20b"},
	} {
		up, err := newUpstream(tc.url, config.Default().Upstream)
		if err != nil || up.prefix != tc.prefix {
			t.Errorf("%s: prefix %q, want %q (%v)", tc.url, up.prefix, tc.prefix, err)
		}
	}
}
