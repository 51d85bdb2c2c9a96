package proxy

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// accessProxy is a Proxy with the default policy, tenant acme (the
// default tenant; accounts ACC, ACC2; passcode "pass", access token
// testAccessToken), tenant named (account NAMED, clevertap_account_id
// CT-NAMED, the same secrets), tenant half (a passcode, no access token),
// tenant bare (neither) and an in-memory upstream that answers with reply.
func accessProxy(tb testing.TB, limit int, reply func(ctx *fasthttp.RequestCtx)) (*Proxy, *masking.Transformer, *int) {
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
	cfg.Limits.MaxAccessResponseBytes = limit
	ra := NewRightsAdapter(nil, map[string]RightsOptions{
		"acme":  {Passcode: []byte("pass"), AccessToken: []byte(testAccessToken)},
		"half":  {Passcode: []byte("pass")},
		"named": {Passcode: []byte("pass"), AccessToken: []byte(testAccessToken), AccountID: "CT-NAMED"},
	})
	p, err := New(cfg, eng, []TenantSpec{
		{Name: "acme", Accounts: []string{"ACC", "ACC2"}, Applier: tr, Upstreams: map[string]string{"": "http://upstream.test"}},
		{Name: "bare", Accounts: []string{"BARE"}, Applier: tr, Upstreams: map[string]string{"": "http://upstream.test"}},
		{Name: "half", Accounts: []string{"HALF"}, Applier: tr, Upstreams: map[string]string{"": "http://upstream.test"}},
		{Name: "named", Accounts: []string{"NAMED"}, Applier: tr, Upstreams: map[string]string{"": "http://upstream.test"}},
	}, "acme", clevertap.Routes(), WithRights(ra))
	if err != nil {
		tb.Fatal(err)
	}
	calls := new(int)
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { *calls++; reply(ctx) }}
	go up.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	for _, t := range p.tenants {
		t.upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	}
	return p, tr, calls
}

const testAccessToken = "acme-consentry-access-0001"

// accessAuthHdr are the headers of an authenticated access request for acme.
var accessAuthHdr = []string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "pass", AccessTokenHeader, testAccessToken}

func token(t testing.TB, tr *masking.Transformer, raw string) string {
	t.Helper()
	out, _, _, err := tr.Apply(nil, &masking.Decision{Action: masking.ActionTokenize}, []byte(raw), masking.TypeString)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(string(out), `"`)
}

func TestAccessReplies(t *testing.T) {
	var body []byte
	var encoding string
	status := 200
	p, tr, calls := accessProxy(t, 512, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Set-Cookie", "vendor=1")
		ctx.Response.Header.Set("X-WZRK-RD", "elsewhere")
		if encoding != "" {
			ctx.Response.Header.Set("Content-Encoding", encoding)
		}
		ctx.SetStatusCode(status)
		ctx.SetBody(body)
	})
	email := token(t, tr, `"jane@example.com"`)
	profile := []byte(`{"status":"success","record":{"email":"` + email + `"}}`)
	pad := func(n int) []byte { // a profile reply of exactly n bytes
		b := []byte(`{"status":"success","record":{"email":"` + email + `","pad":""}}`)
		return append(b[:len(b)-3], append(bytes.Repeat([]byte("x"), n-len(b)), `"}}`...)...)
	}
	var ctx fasthttp.RequestCtx
	for _, tc := range []struct {
		name       string
		body       []byte
		encoding   string
		status     int
		wantStatus int
		want       string // substring of the reply
	}{
		{"opened", profile, "", 200, 200, `"email":"jane@example.com"`},
		{"gzip reply opened", appendGzip(nil, profile), "gzip", 200, 200, `"email":"jane@example.com"`},
		{"vendor 404 JSON passed on", []byte(`{"status":"fail","error":"not found","code":404}`), "", 404, 404, `"status":"fail"`},
		{"exactly at the budget", pad(512), "", 200, 200, `jane@example.com`},
		{"one byte over the budget", pad(513), "", 200, 502, "access_response_too_large"},
		{"gzip over the budget", appendGzip(nil, pad(600)), "gzip", 200, 502, "access_response_too_large"},
		{"broken gzip", []byte{0x1f, 0x8b, 1, 2}, "gzip", 200, 502, "vendor_invalid_reply"},
		{"unknown encoding", profile, "br", 200, 502, "vendor_invalid_reply"},
		{"not JSON", []byte(`<html>oops</html>`), "", 500, 502, "vendor_invalid_reply"},
		{"truncated JSON", profile[:len(profile)-2], "", 200, 502, "vendor_invalid_reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, encoding, status = tc.body, tc.encoding, tc.status
			before := *calls
			request(&ctx, "GET", "/1/profile.json?identity=user-1", nil, accessAuthHdr...)
			p.Handle(&ctx)
			got := string(ctx.Response.Body())
			if ctx.Response.StatusCode() != tc.wantStatus || !strings.Contains(got, tc.want) || *calls != before+1 {
				t.Fatalf("got %d %.200s (%d calls)", ctx.Response.StatusCode(), got, *calls-before)
			}
			if tc.wantStatus == 502 && strings.Contains(got, "jane") {
				t.Errorf("a refused reply leaked opened data: %s", got)
			}
			for _, h := range []string{"Set-Cookie", "X-WZRK-RD", "Content-Encoding"} {
				if len(ctx.Response.Header.Peek(h)) > 0 {
					t.Errorf("vendor header %s passed on", h)
				}
			}
			if tc.wantStatus != 502 && string(ctx.Response.Header.Peek("Cache-Control")) != "no-store" {
				t.Error("access replies must not be cached")
			}
		})
	}
	if want := `consentry_budget_exceeded_total{budget="` + budget.AccessResponse.String() + `"} 2`; !strings.Contains(scrape(t, p.metrics), want) {
		t.Errorf("metrics lack %s", want)
	}
}

func TestAccessRefusedWithoutCredential(t *testing.T) {
	p, _, calls := accessProxy(t, 1<<20, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("{}") })
	var ctx fasthttp.RequestCtx
	for _, tc := range []struct {
		hdr    []string
		status int
		code   string
	}{
		{[]string{"X-CleverTap-Account-Id", "ACC"}, 401, "missing_credential"},
		{[]string{"X-CleverTap-Account-Id", "ACC", AccessTokenHeader, testAccessToken}, 401, "missing_credential"},
		// The vendor's passcode alone opens nothing: CleverTap holds it.
		{[]string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "pass"}, 401, "missing_credential"},
		{[]string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "pas", AccessTokenHeader, testAccessToken}, 403, "invalid_credential"},
		{[]string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "passs", AccessTokenHeader, testAccessToken}, 403, "invalid_credential"},
		{[]string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "pass", AccessTokenHeader, testAccessToken + "x"}, 403, "invalid_credential"},
		// Configured before access_token existed, or never: the routes are off.
		{[]string{"X-CleverTap-Account-Id", "HALF", "X-CleverTap-Passcode", "pass"}, 404, "access_not_configured"},
		{[]string{"X-CleverTap-Account-Id", "HALF", "X-CleverTap-Passcode", "pass", AccessTokenHeader, testAccessToken}, 404, "access_not_configured"},
		{[]string{"X-CleverTap-Account-Id", "BARE", "X-CleverTap-Passcode", "pass"}, 404, "access_not_configured"},
	} {
		for _, uri := range []string{"/1/profile.json?identity=user-1", "/1/events.json?cursor=anything"} {
			resetGate(p)
			request(&ctx, "GET", uri, nil, tc.hdr...)
			p.Handle(&ctx)
			if ctx.Response.StatusCode() != tc.status || !strings.Contains(string(ctx.Response.Body()), tc.code) {
				t.Errorf("%s %v: %d %s", uri, tc.hdr, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	// A body on a GET, none on a POST.
	request(&ctx, "GET", "/1/profile.json?identity=user-1", []byte(`{}`), accessAuthHdr...)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 400 {
		t.Errorf("GET with a body: %d", ctx.Response.StatusCode())
	}
	request(&ctx, "POST", "/1/events.json", nil, accessAuthHdr...)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 400 {
		t.Errorf("POST without a body: %d", ctx.Response.StatusCode())
	}
	if *calls != 0 {
		t.Errorf("%d refused requests reached the vendor", *calls)
	}
}

// Failed authentications are limited per tenant: after
// MaxAccessAuthFailures in a minute every access request of the tenant is
// answered 429, even a correct one, and counted; other tenants are not
// affected.
func TestAccessAuthRateLimited(t *testing.T) {
	p, _, calls := accessProxy(t, 1<<20, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("{}") })
	var ctx fasthttp.RequestCtx
	wrong := []string{"X-CleverTap-Account-Id", "ACC", "X-CleverTap-Passcode", "pass", AccessTokenHeader, "guessed-token-0000000"}
	for i := 0; i < MaxAccessAuthFailures; i++ {
		request(&ctx, "GET", "/1/events.json?cursor=anything", nil, wrong...)
		p.Handle(&ctx)
		if ctx.Response.StatusCode() != 403 {
			t.Fatalf("failure %d: %d %s", i+1, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	for _, hdr := range [][]string{wrong, accessAuthHdr} {
		request(&ctx, "GET", "/1/profile.json?identity=user-1", nil, hdr...)
		p.Handle(&ctx)
		if ctx.Response.StatusCode() != 429 || !strings.Contains(string(ctx.Response.Body()), "access_rate_limited") || len(ctx.Response.Header.Peek("Retry-After")) == 0 {
			t.Errorf("after %d failures: %d %s (Retry-After %q)", MaxAccessAuthFailures, ctx.Response.StatusCode(), ctx.Response.Body(), ctx.Response.Header.Peek("Retry-After"))
		}
	}
	if *calls != 0 {
		t.Errorf("%d refused requests reached the vendor", *calls)
	}
	if want := `consentry_budget_exceeded_total{budget="` + budget.AccessAuth.String() + `"} 2`; !strings.Contains(scrape(t, p.metrics), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// resetGate forgets the failed authentications counted so far.
func resetGate(p *Proxy) {
	g := &p.rights.gate
	g.mu.Lock()
	g.win = nil
	g.mu.Unlock()
}

func TestAccessGateWindow(t *testing.T) {
	var g accessGate
	t0 := time.Unix(1000, 0)
	for i := 0; i < MaxAccessAuthFailures; i++ {
		if b, _ := g.blocked("a", t0); b {
			t.Fatalf("blocked after %d failures", i)
		}
		g.fail("a", t0.Add(time.Duration(i)*time.Second))
	}
	for _, tc := range []struct {
		tenant string
		at     time.Duration
		want   bool
	}{
		{"a", 10 * time.Second, true},
		{"a", 59 * time.Second, true},
		{"a", 60 * time.Second, false}, // the minute is over
		{"b", 10 * time.Second, false}, // another tenant
	} {
		if b, wait := g.blocked(tc.tenant, t0.Add(tc.at)); b != tc.want || (b && wait != time.Minute-tc.at) {
			t.Errorf("%s at +%v: blocked %v, wait %v", tc.tenant, tc.at, b, wait)
		}
	}
}

// The account id CleverTap receives is the tenant's configured one, never
// the client's bytes, and an account id no tenant configured is refused
// before anything else even with a default tenant.
func TestAccessAccountIsConfigured(t *testing.T) {
	var forwarded []string
	p, _, calls := accessProxy(t, 1<<20, func(ctx *fasthttp.RequestCtx) {
		forwarded = append(forwarded, string(ctx.Request.Header.Peek("X-CleverTap-Account-Id")))
		ctx.SetBodyString("{}")
	})
	secrets := []string{"X-CleverTap-Passcode", "pass", AccessTokenHeader, testAccessToken}
	var ctx fasthttp.RequestCtx
	for _, tc := range []struct {
		account string // "": no header
		status  int
		want    string // the account id forwarded
	}{
		{"ACC", 200, "ACC"},
		{"ACC2", 200, "ACC"}, // the tenant's first account
		{"NAMED", 200, "CT-NAMED"},
		{"UNCONFIGURED", 403, ""}, // would resolve to the default tenant acme
		{"", 403, ""},
	} {
		forwarded, *calls = nil, 0
		hdr := secrets
		if tc.account != "" {
			hdr = append([]string{"X-CleverTap-Account-Id", tc.account}, secrets...)
		}
		request(&ctx, "GET", "/1/events.json?cursor=abc", nil, hdr...)
		p.Handle(&ctx)
		if ctx.Response.StatusCode() != tc.status {
			t.Errorf("%q: %d %s", tc.account, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if tc.want == "" && *calls != 0 || tc.want != "" && (len(forwarded) != 1 || forwarded[0] != tc.want) {
			t.Errorf("%q: forwarded %q in %d calls, want %q", tc.account, forwarded, *calls, tc.want)
		}
	}
}

// The limit bounds the answer, not only the vendor's reply: a short
// pseudonym in the reply stands for the long identifier named in the
// request.
func TestAccessAnswerBounded(t *testing.T) {
	var ctx fasthttp.RequestCtx
	p, _, _ := accessProxy(t, 512, func(ctx *fasthttp.RequestCtx) {
		pseud := string(ctx.QueryArgs().Peek("identity"))
		ctx.SetBodyString(`{"status":"success","records":["` + strings.Repeat(pseud+`","`, 4) + pseud + `"]}`)
	})
	request(&ctx, "GET", "/1/profile.json?identity="+strings.Repeat("u", 400), nil, accessAuthHdr...)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 502 || !strings.Contains(string(ctx.Response.Body()), "access_response_too_large") || bytes.Contains(ctx.Response.Body(), []byte("uuuu")) {
		t.Fatalf("got %d %.200s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if want := `consentry_budget_exceeded_total{budget="` + budget.AccessResponse.String() + `"} 1`; !strings.Contains(scrape(t, p.metrics), want) {
		t.Errorf("metrics lack %s", want)
	}
	request(&ctx, "GET", "/1/profile.json?identity=user-1", nil, accessAuthHdr...)
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), `"user-1"`) {
		t.Errorf("a small answer: %d %.200s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// Access replies count in limits.max_in_flight_body_bytes: the reply read,
// decompressed and opened.
func TestAccessInFlightBytes(t *testing.T) {
	var body []byte
	var encoding string
	p, tr, _ := accessProxy(t, 1<<20, func(ctx *fasthttp.RequestCtx) {
		if encoding != "" {
			ctx.Response.Header.Set("Content-Encoding", encoding)
		}
		ctx.SetBody(body)
	})
	p.cfg.Limits.MaxInFlightBodyBytes = 1000
	email := token(t, tr, `"jane@example.com"`)
	doc := func(n int) []byte { // a reply of n bytes that opens to about n bytes
		b := []byte(`{"email":"` + email + `","pad":""}`)
		return append(b[:len(b)-2], append(bytes.Repeat([]byte("x"), n-len(b)), `"}`...)...)
	}
	var ctx fasthttp.RequestCtx
	for _, tc := range []struct {
		name       string
		body       []byte
		encoding   string
		wantStatus int
	}{
		{"read and opened fit", doc(400), "", 200},
		{"read and opened do not fit", doc(600), "", 503},
		{"decompressed and opened do not fit", appendGzip(nil, doc(480)), "gzip", 503},
	} {
		body, encoding = tc.body, tc.encoding
		request(&ctx, "GET", "/1/profile.json?identity=user-1", nil, accessAuthHdr...)
		p.Handle(&ctx)
		if ctx.Response.StatusCode() != tc.wantStatus {
			t.Errorf("%s: %d %.200s", tc.name, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if tc.wantStatus == 503 && (!strings.Contains(string(ctx.Response.Body()), "overloaded") || bytes.Contains(ctx.Response.Body(), []byte("jane"))) {
			t.Errorf("%s: %.200s", tc.name, ctx.Response.Body())
		}
		if tc.wantStatus == 200 {
			// The answer counts until it is written.
			if n, want := p.inFlightBytes.Load(), int64(ctx.Response.Header.ContentLength()); n != want || n == 0 {
				t.Errorf("%s: %d bytes counted in flight before the answer is written, want %d", tc.name, n, want)
			}
			ctx.Response.Body() // fasthttp writes (reads) and closes the stream
		}
		if n := p.inFlightBytes.Load(); n != 0 {
			t.Errorf("%s: %d bytes still counted in flight", tc.name, n)
		}
	}
}

// The opened answer is not copied into fasthttp's pooled body buffer, and
// the buffer Consentry wrote it into is wiped once it is written.
func TestAccessAnswerWipedAfterWrite(t *testing.T) {
	var email string
	p, tr, _ := accessProxy(t, 1<<20, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"email":"` + email + `"}`) })
	email = token(t, tr, `"jane@example.com"`)
	s := &fasthttp.Server{Handler: p.Handle}
	ln := fasthttputil.NewInmemoryListener()
	go s.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	var seen []byte
	// What the handler leaves in the response: a stream over Consentry's
	// own buffer, not body bytes.
	var ctx fasthttp.RequestCtx
	request(&ctx, "GET", "/1/profile.json?identity=user-1", nil, accessAuthHdr...)
	p.Handle(&ctx)
	ab, ok := ctx.Response.BodyStream().(*answerBody)
	if !ok || !bytes.Contains(ab.b, []byte("jane@example.com")) {
		t.Fatalf("the answer is not streamed from Consentry's buffer: %T", ctx.Response.BodyStream())
	}
	seen = ab.b
	if got := ctx.Response.Body(); !bytes.Contains(got, []byte("jane@example.com")) { // written
		t.Fatalf("answer %s", got)
	}
	if bytes.ContainsAny(seen, "jane@.com") || len(seen) == 0 {
		t.Errorf("Consentry's buffer keeps the opened answer after it was written: %q", seen)
	}
	// Over a connection: the client gets the whole answer.
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://consentry.test/1/profile.json?identity=user-1")
	for i := 0; i+1 < len(accessAuthHdr); i += 2 {
		req.Header.Set(accessAuthHdr[i], accessAuthHdr[i+1])
	}
	if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != `{"email":"jane@example.com"}` {
		t.Fatalf("over a connection: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	if n := p.inFlightBytes.Load(); n != 0 {
		t.Errorf("%d bytes still counted in flight after the answer was written", n)
	}
}

// CleverTap's answer for a person it does not hold is "not found", not a
// failure of the lookup; every other failure stays one.
func TestVendorAnswerNotFound(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int
		want   bool
	}{
		{`{"status":"fail","error":"User not found","code":404}`, 200, true},
		{`{"status":"fail","error":"Profile not found","code":404}`, 404, true},
		{`{"status":"fail","error":"No such profile","code":"404"}`, 200, true},
		{`{"status":"fail","error":"profile NOT FOUND"}`, 200, true},
		{`{"status":"success","record":{}}`, 200, false},
		{`{"status":"fail","error":"Passcode is not valid","code":403}`, 403, false},
		{`{"status":"fail","error":"Internal error","code":500}`, 500, false},
		{`{"status":"fail","error":"Account not found","code":404}`, 500, false},
		{`{"status":"fail","error":"Rate limit exceeded","code":429}`, 200, false},
		{`[]`, 200, false},
	} {
		var v vendorAnswer
		_ = json.Unmarshal([]byte(tc.body), &v)
		if got := v.notFound(tc.status); got != tc.want {
			t.Errorf("%d %s: not found %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}
