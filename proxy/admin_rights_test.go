package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/consentry/consentry/erasure"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rights"
	"github.com/consentry/consentry/rules"
)

const testToken = "0123456789abcdef-ops"

// vendor is an in-memory upstream that records deletion calls.
type vendor struct {
	mu        sync.Mutex
	bodies    []string
	hdrs      []string
	status    int
	onRequest func()
}

func (v *vendor) handle(ctx *fasthttp.RequestCtx) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.bodies = append(v.bodies, string(ctx.Path())+" "+string(ctx.PostBody()))
	v.hdrs = append(v.hdrs, string(ctx.Request.Header.Peek("X-CleverTap-Account-Id"))+"/"+string(ctx.Request.Header.Peek("X-CleverTap-Passcode")))
	if v.onRequest != nil {
		v.onRequest()
	}
	ctx.SetStatusCode(v.status)
	ctx.SetBodyString(`{"status":"success"}`)
}

// adminFixture is a proxy with a registry and the rights API on a mux.
func adminFixture(t *testing.T, tokens []AdminToken, withCreds bool) (*http.ServeMux, *Proxy, *vendor) {
	t.Helper()
	p, _ := testProxy(t)
	reg, err := rights.Open(t.TempDir(), bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	p.rights = NewRightsAdapter(reg, nil)
	v := &vendor{status: 200}
	ln := fasthttputil.NewInmemoryListener()
	go (&fasthttp.Server{Handler: v.handle}).Serve(ln)
	t.Cleanup(func() { ln.Close() })
	p.tenants["acme"].upstreams[""].client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	// The admin API calls vendors over net/http: the same recorder.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		defer v.mu.Unlock()
		v.bodies = append(v.bodies, r.URL.Path+" "+string(body))
		v.hdrs = append(v.hdrs, r.Header.Get("X-CleverTap-Account-Id")+"/"+r.Header.Get("X-CleverTap-Passcode"))
		w.WriteHeader(v.status)
		io.WriteString(w, `{"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	vendors := map[string][]*erasure.Vendor{}
	if withCreds {
		ct, err := erasure.New(erasure.CleverTap, erasure.Config{BaseURL: srv.URL, Account: "ACC", Token: []byte("PASS")})
		if err != nil {
			t.Fatal(err)
		}
		vendors["acme"] = []*erasure.Vendor{ct}
	}
	api, err := NewRightsAPI(p, tokens, WithVendorErasure(vendors))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	return mux, p, v
}

func call(t *testing.T, mux http.Handler, method, path, token, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
	}
	return rec.Code, m, string(raw)
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestRightsAPIRefuses(t *testing.T) {
	mux, _, _ := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, false)
	bearer := "Bearer " + testToken
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "POST", "/v1/subjects/suppress", "", `{"tenant":"acme","identity":"A"}`, 401, "missing_token"},
		{"wrong token", "POST", "/v1/subjects/suppress", "Bearer nope-nope-nope-nope", `{"tenant":"acme","identity":"A"}`, 401, "invalid_token"},
		{"token prefix", "POST", "/v1/subjects/suppress", "Bearer " + testToken[:10], `{}`, 401, "invalid_token"},
		{"basic auth", "POST", "/v1/subjects/suppress", "Basic " + testToken, `{}`, 401, "invalid_token"},
		{"wrong method", "GET", "/v1/subjects/show", bearer, ``, 405, "method_not_allowed"},
		{"log wrong method", "POST", "/v1/rights-log", bearer, ``, 405, "method_not_allowed"},
		{"not JSON", "POST", "/v1/subjects/show", bearer, `tenant=acme`, 400, "invalid_request"},
		{"empty", "POST", "/v1/subjects/show", bearer, ``, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/subjects/show", bearer, `{"tenant":"acme","email":"a@b.c"}`, 400, "invalid_request"},
		{"trailing", "POST", "/v1/subjects/show", bearer, `{"tenant":"acme","identity":"A"} {}`, 400, "invalid_request"},
		{"no tenant", "POST", "/v1/subjects/show", bearer, `{"identity":"A"}`, 400, "invalid_subject"},
		{"unknown tenant", "POST", "/v1/subjects/show", bearer, `{"tenant":"other","identity":"A"}`, 404, "unknown_tenant"},
		{"both", "POST", "/v1/subjects/show", bearer, `{"tenant":"acme","identity":"A","device":"d"}`, 400, "invalid_subject"},
		{"neither", "POST", "/v1/subjects/show", bearer, `{"tenant":"acme"}`, 400, "invalid_subject"},
		{"empty id", "POST", "/v1/subjects/suppress", bearer, `{"tenant":"acme","identity":""}`, 400, "invalid_identifier"},
		{"control char", "POST", "/v1/subjects/suppress", bearer, `{"tenant":"acme","device":"a\nb"}`, 400, "invalid_identifier"},
		{"number id", "POST", "/v1/subjects/suppress", bearer, `{"tenant":"acme","identity":42}`, 400, "invalid_request"},
		{"bad since", "GET", "/v1/rights-log?since=yesterday", bearer, ``, 400, "invalid_since"},
		{"log unknown tenant", "GET", "/v1/rights-log?tenant=other", bearer, ``, 404, "unknown_tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m, raw := call(t, mux, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || errCode(m) != tc.code {
				t.Errorf("got %d %s, want %d %s", status, raw, tc.status, tc.code)
			}
			if strings.Contains(raw, "a@b.c") {
				t.Error("error echoes a value")
			}
		})
	}
}

func TestRightsAPIDisabled(t *testing.T) {
	mux, p, _ := adminFixture(t, nil, false)
	if status, m, _ := call(t, mux, "POST", "/v1/subjects/show", "Bearer "+testToken, `{"tenant":"acme","identity":"A"}`); status != 403 || errCode(m) != "admin_api_disabled" {
		t.Errorf("no tokens: %d %v", status, m)
	}
	mux, p, _ = adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, false)
	p.rights = nil
	if status, m, _ := call(t, mux, "POST", "/v1/subjects/show", "Bearer "+testToken, `{"tenant":"acme","identity":"A"}`); status != 404 || errCode(m) != "rights_disabled" {
		t.Errorf("no registry: %d %v", status, m)
	}
}

func TestNewRightsAPIValidatesTokens(t *testing.T) {
	p, _ := testProxy(t)
	for _, tc := range []struct {
		tokens []AdminToken
		want   string
	}{
		{[]AdminToken{{Name: "", Secret: []byte(testToken)}}, "name: required"},
		{[]AdminToken{{Name: "a", Secret: []byte("short")}}, "at least 16"},
		{[]AdminToken{{Name: "a", Secret: []byte(testToken)}, {Name: "a", Secret: []byte(testToken + "x")}}, "used twice"},
	} {
		if _, err := NewRightsAPI(p, tc.tokens); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.tokens, err)
		} else if strings.Contains(err.Error(), "short") {
			t.Error("error quotes the token")
		}
	}
}

func TestRightsAPISuppressShowUnsuppressLog(t *testing.T) {
	mux, p, _ := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}, {Name: "dpo", Secret: []byte(testToken + "-dpo")}}, false)
	reg := p.rights.Registry()
	ops, dpo := "Bearer "+testToken, "bearer "+testToken+"-dpo"
	status, m, raw := call(t, mux, "POST", "/v1/subjects/suppress", ops, `{"tenant":"acme","identity":"user-42"}`)
	rep, _ := m["report"].(map[string]any)
	if status != 200 || rep["suppressed"] != true || rep["reason"] != "admin" {
		t.Fatalf("suppress: %d %s", status, raw)
	}
	if !reg.Check("acme", []byte("user-42"), nil).Drop(false) {
		t.Fatal("not in force for the next lookup")
	}
	status, m, raw = call(t, mux, "POST", "/v1/subjects/show", dpo, `{"tenant":"acme","identity":"user-42"}`)
	if rep, _ = m["report"].(map[string]any); status != 200 || rep["suppressed"] != true || strings.Contains(raw, "user-42") {
		t.Fatalf("show: %d %s", status, raw)
	}
	status, m, raw = call(t, mux, "POST", "/v1/subjects/unsuppress", ops, `{"tenant":"acme","identity":"user-42"}`)
	if rep, _ = m["report"].(map[string]any); status != 200 || rep["suppressed"] != false {
		t.Fatalf("unsuppress: %d %s", status, raw)
	}
	if reg.Check("acme", []byte("user-42"), nil).Drop(false) {
		t.Fatal("still suppressed")
	}
	status, m, raw = call(t, mux, "GET", "/v1/rights-log", dpo, ``)
	entries, _ := m["entries"].([]any)
	if status != 200 || m["complete"] != true || len(entries) != 3 || strings.Contains(raw, "user-42") {
		t.Fatalf("log: %d %s", status, raw)
	}
	var actors []string
	for _, e := range entries {
		em := e.(map[string]any)
		actors = append(actors, em["action"].(string)+":"+em["actor"].(string))
	}
	if strings.Join(actors, " ") != "suppress:ops access:dpo unsuppress:ops" {
		t.Errorf("log actors %v", actors)
	}
	_, m, _ = call(t, mux, "GET", "/v1/rights-log?since=2999-01-01T00:00:00Z&tenant=acme", dpo, ``)
	if entries, _ := m["entries"].([]any); len(entries) != 0 || m["count"] != float64(0) {
		t.Errorf("since filter: %v", m)
	}
}

func TestRightsAPIErase(t *testing.T) {
	vendorState := func(m map[string]any, vendor string) map[string]any {
		rep, _ := m["report"].(map[string]any)
		vs, _ := rep["vendorErasures"].([]any)
		for _, v := range vs {
			if vm := v.(map[string]any); vm["vendor"] == vendor {
				return vm
			}
		}
		return nil
	}
	t.Run("forwarded translated", func(t *testing.T) {
		mux, p, v := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, true)
		status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`)
		ct := vendorState(m, "clevertap")
		if status != 200 || ct["status"] != "accepted" || ct["httpStatus"] != float64(200) {
			t.Fatalf("erase: %d %s", status, raw)
		}
		if len(v.bodies) != 1 || !strings.HasPrefix(v.bodies[0], clevertap.DeletePath+` {"identity":"`) || strings.Contains(v.bodies[0], "user-42") || v.hdrs[0] != "ACC/PASS" {
			t.Errorf("vendor got %v %v", v.bodies, v.hdrs)
		}
		if v := p.rights.Registry().Check("acme", []byte("user-42"), nil); !v.Drop(false) || v.Reason != rights.ReasonAdminErasure {
			t.Errorf("not erased: %+v", v)
		}
		// Accepted once: a repeat does not call the vendor again.
		// The answer says so: vendorsCalled is there and empty, the note
		// explains why.
		if status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`); status != 200 || len(v.bodies) != 1 ||
			!strings.Contains(raw, `"vendorsCalled":[]`) || m["note"] != "every configured vendor had already accepted; nothing was called" {
			t.Errorf("repeat: %d %s, vendor calls %d", status, raw, len(v.bodies))
		}
		// a device erasure names the guid
		call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","device":"df2e224d90874887b4d61153ef3a2508"}`)
		if len(v.bodies) != 2 || v.bodies[1] != clevertap.DeletePath+` {"guid":"df2e224d90874887b4d61153ef3a2508"}` {
			t.Errorf("device: %v", v.bodies)
		}
	})
	t.Run("no vendors", func(t *testing.T) {
		mux, _, v := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, false)
		status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`)
		if status != 200 || m["note"] == nil || !strings.Contains(raw, "rights.vendors") || len(v.bodies) != 0 {
			t.Fatalf("erase: %d %s", status, raw)
		}
	})
	t.Run("vendor unreachable", func(t *testing.T) {
		// No answer: the reason says so and there is no httpStatus.
		p, _ := testProxy(t)
		reg, err := rights.Open(t.TempDir(), bytes.Repeat([]byte{3}, 32))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		p.rights = NewRightsAdapter(reg, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String()
		ln.Close()
		ct, err := erasure.New(erasure.CleverTap, erasure.Config{BaseURL: down, Account: "ACC", Token: []byte("PASS")})
		if err != nil {
			t.Fatal(err)
		}
		api, err := NewRightsAPI(p, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {ct}}))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		api.Register(mux)
		status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`)
		ct2 := vendorState(m, "clevertap")
		if _, has := ct2["httpStatus"]; status != 502 || ct2["status"] != "failed" || ct2["reason"] != "cannot reach the vendor" || has ||
			!strings.Contains(raw, `"vendorsCalled":["clevertap"]`) {
			t.Fatalf("erase: %d %s", status, raw)
		}
	})
	t.Run("vendor fails, then recovers", func(t *testing.T) {
		mux, p, v := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, true)
		v.status = 500
		status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`)
		ct := vendorState(m, "clevertap")
		if status != 502 || errCode(m) != "upstream_erase_failed" || ct["status"] != "failed" || ct["httpStatus"] != float64(500) || ct["reason"] != "HTTP 500" {
			t.Fatalf("erase: %d %s", status, raw)
		}
		if !p.rights.Registry().Check("acme", []byte("user-42"), nil).Drop(false) {
			t.Error("a failed vendor call must not undo the local erasure")
		}
		v.status = 200
		status, m, raw = call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-42"}`)
		if status != 200 || vendorState(m, "clevertap")["status"] != "accepted" || len(v.bodies) != 2 {
			t.Fatalf("retry: %d %s", status, raw)
		}
	})
}

// A device the registry holds nothing on (typically an id typed without
// the prefix the SDK sends) gets a note on show, access and erase, which
// never repeats the id; a known device gets none. Answers that are not an
// erase carry no vendorsCalled.
func TestRightsAPIUnknownDeviceNote(t *testing.T) {
	mux, _, _ := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, false)
	const bare, full = "ea7583cd0aa14b2f9c3d5e6f7a8b9c0d", "-gea7583cd0aa14b2f9c3d5e6f7a8b9c0d"
	if status, _, raw := call(t, mux, "POST", "/v1/subjects/suppress", "Bearer "+testToken, `{"tenant":"acme","device":"`+full+`"}`); status != 200 {
		t.Fatalf("suppress: %d %s", status, raw)
	}
	for _, tc := range []struct {
		action, device string
		note           bool
	}{
		{"show", bare, true},
		{"access", bare, true},
		{"erase", bare, true},
		{"show", full, false},
		{"access", full, false},
		{"erase", full, false},
		{"show", bare, false}, // erased: the registry holds it now
	} {
		status, m, raw := call(t, mux, "POST", "/v1/subjects/"+tc.action, "Bearer "+testToken, `{"tenant":"acme","device":"`+tc.device+`"}`)
		note, _ := m["note"].(string)
		if status != 200 || strings.Contains(note, "no record of this device") != tc.note {
			t.Errorf("%s %s: %d %s", tc.action, tc.device, status, raw)
		}
		if tc.note && (!strings.Contains(note, "__g") || !strings.Contains(note, "-g") || strings.Contains(raw, "ea7583cd0aa")) {
			t.Errorf("%s: note %q (the id must not be echoed)", tc.action, raw)
		}
		if _, ok := m["vendorsCalled"]; ok != (tc.action == "erase") {
			t.Errorf("%s: vendorsCalled present %v: %s", tc.action, ok, raw)
		}
	}
}

func TestRightsAPIUnavailable(t *testing.T) {
	mux, p, _ := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, false)
	p.rights.Registry().Close()
	for _, path := range []string{"/v1/subjects/suppress", "/v1/subjects/show"} {
		if status, m, raw := call(t, mux, "POST", path, "Bearer "+testToken, `{"tenant":"acme","identity":"A"}`); status != 503 || errCode(m) != "rights_unavailable" {
			t.Errorf("%s: %d %s", path, status, raw)
		}
	}
	if status, m, raw := call(t, mux, "GET", "/v1/rights-log", "Bearer "+testToken, ``); status != 503 || errCode(m) != "rights_unavailable" {
		t.Errorf("log: %d %s", status, raw)
	}
}

// TestDeleteRouteNeedsAuthority drives the proxied deletion route: a
// deletion with the tenant's passcode erases before the translated deletion
// reaches the vendor (and stays when the vendor fails); one without it is
// forwarded untouched by the registry and takes effect locally only if the
// vendor accepts it.
func TestDeleteRouteNeedsAuthority(t *testing.T) {
	for _, tc := range []struct {
		name       string
		passcode   string // sent in X-CleverTap-Passcode; the tenant's is "PASS"
		vendor     int
		wantStatus int
		erased     bool
	}{
		{"passcode, vendor fails: erased first", "PASS", 503, 503, true},
		{"passcode, vendor accepts", "PASS", 200, 200, true},
		{"no passcode, vendor refuses: nothing changes", "", 401, 401, false},
		{"wrong passcode, vendor refuses: nothing changes", "PASX", 401, 401, false},
		{"no passcode, vendor fails: nothing changes", "", 502, 502, false},
		{"no passcode, vendor accepts: erased after", "", 200, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p, v := adminFixture(t, nil, false)
			p.rights.tenants = map[string]RightsOptions{"acme": {Passcode: []byte("PASS")}}
			reg := p.rights.Registry()
			v.status = tc.vendor
			var ctx fasthttp.RequestCtx
			hdrs := []string{"X-CleverTap-Account-Id", "ACC"}
			if tc.passcode != "" {
				hdrs = append(hdrs, "X-CleverTap-Passcode", tc.passcode)
			}
			request(&ctx, "POST", clevertap.DeletePath, []byte(`{"identity":["user-42"]}`), hdrs...)
			p.Handle(&ctx)
			if ctx.Response.StatusCode() != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", ctx.Response.StatusCode(), tc.wantStatus, ctx.Response.Body())
			}
			verdict := reg.Check("acme", []byte("user-42"), nil)
			if got := verdict.Status == rights.StatusSuppressed; got != tc.erased {
				t.Fatalf("erased = %v (%+v), want %v", got, verdict, tc.erased)
			}
			if tc.erased && verdict.Reason != rights.ReasonErasure {
				t.Errorf("reason %v, want erasure (from traffic)", verdict.Reason)
			}
			var entries int
			for e, err := range reg.Log(time.Time{}) {
				if err != nil || e.Actor != clevertap.ActorDeleteAPI || e.Action != rights.ActionErase {
					t.Errorf("log entry %+v %v", e, err)
				}
				entries++
			}
			if want := map[bool]int{true: 1, false: 0}[tc.erased]; entries != want {
				t.Errorf("%d log entries, want %d", entries, want)
			}
		})
	}
}

// TestDeleteRouteVendorAcceptedButStoreFails: the vendor accepted the
// deletion but the registry cannot record it: the client gets 503 so that it
// retries, and the subject is never left clear silently.
func TestDeleteRouteVendorAcceptedButStoreFails(t *testing.T) {
	_, p, v := adminFixture(t, nil, false)
	v.status = 200
	reg := p.rights.Registry()
	p.rights = NewRightsAdapter(reg, nil)
	// Close the registry after the request was cleaned: the erasure that
	// waits for the vendor's answer then fails.
	v.onRequest = func() { reg.Close() }
	var ctx fasthttp.RequestCtx
	request(&ctx, "POST", clevertap.DeletePath, []byte(`{"identity":["user-42"]}`), "X-CleverTap-Account-Id", "ACC")
	p.Handle(&ctx)
	if ctx.Response.StatusCode() != 503 || !bytes.Contains(ctx.Response.Body(), []byte("rights_unavailable")) {
		t.Fatalf("status %d %s, want 503 rights_unavailable", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// A device erasure deletes the CleverTap profile by guid; vendors that
// delete by user id only are skipped with the reason, not failed, and the
// answer is 200. A policy that drops user ids leaves nothing to delete.
func TestRightsAPIEraseDeviceAndSkips(t *testing.T) {
	mux, p, v := adminFixture(t, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("segment called: %s", r.URL.Path)
	}))
	defer srv.Close()
	seg, err := erasure.New(erasure.Segment, erasure.Config{BaseURL: srv.URL, Token: []byte("tok")})
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewRightsAPI(p, []AdminToken{{Name: "ops", Secret: []byte(testToken)}}, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {seg}}))
	if err != nil {
		t.Fatal(err)
	}
	segOnly := http.NewServeMux()
	api.Register(segOnly)

	status, m, raw := call(t, segOnly, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","device":"df2e224d90874887b4d61153ef3a2508"}`)
	if status != 200 || !strings.Contains(raw, `"status":"skipped"`) || !strings.Contains(raw, "deletes by user id only") || m["error"] != nil {
		t.Fatalf("device erasure at segment: %d %s", status, raw)
	}
	// The device's linked identities were erased locally, not at Segment:
	// the note says to erase each identity.
	if note, _ := m["note"].(string); !strings.Contains(note, "were not deleted at segment") || !strings.Contains(note, "erase each identity") {
		t.Errorf("device erasure note %q", note)
	}
	status, _, raw = call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","device":"df2e224d90874887b4d61153ef3a2508"}`)
	if status != 200 || len(v.bodies) != 1 || !strings.Contains(v.bodies[0], `{"guid":"df2e224d90874887b4d61153ef3a2508"}`) {
		t.Fatalf("device erasure at clevertap: %d %s %v", status, raw, v.bodies)
	}
	// A policy that drops Segment's user ids: Segment never received the
	// person, so it is skipped, not called (srv fails the test if it is).
	drops, err := policy.New(policy.WithFS(rules.FS), policy.WithData(map[string]any{"tenants": map[string]any{"acme": map[string]any{
		"fields": map[string]any{"userId": map[string]any{"action": "drop"}},
	}}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drops.Close)
	p.policy = drops
	status, m, raw = call(t, segOnly, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-8"}`)
	if status != 200 || m["error"] != nil || !strings.Contains(raw, `"vendor":"segment","status":"skipped"`) || !strings.Contains(raw, "never forwards this identifier to segment") {
		t.Fatalf("policy drops user ids: %d %s", status, raw)
	}
	// The policy cannot translate: no valid policy, no vendor call, 503,
	// the local erasure stands.
	p.policy = nil
	status, m, raw = call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"user-9"}`)
	if status != 503 || errCode(m) != "policy_unavailable" || len(v.bodies) != 1 {
		t.Fatalf("no policy: %d %s", status, raw)
	}
	if !p.rights.Registry().Check("acme", []byte("user-9"), nil).Drop(false) {
		t.Error("the local erasure depends on the policy")
	}
}

// A vendor that failed and was then removed from the configuration is not
// retried and does not hold every later erase of the subject at 502: the
// answer is 200 with a note naming it as not configured, and the report
// keeps its failed state. Before, every later erase answered 502.
func TestRightsAPIEraseVendorNoLongerConfigured(t *testing.T) {
	tokens := []AdminToken{{Name: "ops", Secret: []byte(testToken)}}
	mux, p, v := adminFixture(t, tokens, true) // clevertap only
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	ph, err := erasure.New(erasure.PostHog, erasure.Config{BaseURL: down.URL, Token: []byte("k"), ProjectID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := NewRightsAPI(p, tokens, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {ph}}))
	before := http.NewServeMux()
	api.Register(before)
	body := `{"tenant":"acme","identity":"user-77"}`
	if status, _, raw := call(t, before, "POST", "/v1/subjects/erase", "Bearer "+testToken, body); status != 502 {
		t.Fatalf("posthog down: %d %s", status, raw)
	}
	for i := range 2 {
		status, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, body)
		note, _ := m["note"].(string)
		if status != 200 || m["error"] != nil || !strings.Contains(note, "not configured: posthog") {
			t.Fatalf("erase #%d without posthog configured: %d %s", i, status, raw)
		}
		if !strings.Contains(raw, `"vendor":"posthog","status":"failed"`) {
			t.Errorf("the report lost posthog's state: %s", raw)
		}
	}
	if len(v.bodies) != 1 {
		t.Errorf("clevertap called %d times, want once", len(v.bodies))
	}
}

// Two instances of a fleet (two RightsAPIs over one registry) erasing one
// subject at once call each vendor once: the first claims the call in the
// registry, the other answers 202 with the vendor in_progress and calls
// nothing; once the claim's answer is in, an erase reports it accepted.
// Before, both instances called Segment.
func TestRightsAPIEraseClaimsAcrossInstances(t *testing.T) {
	tokens := []AdminToken{{Name: "ops", Secret: []byte(testToken)}}
	_, p, _ := adminFixture(t, tokens, false)
	var calls atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		w.Write([]byte(`{"data":{"regulateId":"reg-1"}}`))
	}))
	defer slow.Close()
	var muxes []*http.ServeMux
	for range 2 {
		seg, _ := erasure.New(erasure.Segment, erasure.Config{BaseURL: slow.URL, Token: []byte("t")})
		api, _ := NewRightsAPI(p, tokens, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {seg}}))
		m := http.NewServeMux()
		api.Register(m)
		muxes = append(muxes, m)
	}
	body := `{"tenant":"acme","identity":"user-88"}`
	first := make(chan int)
	go func() {
		st, _, _ := call(t, muxes[0], "POST", "/v1/subjects/erase", "Bearer "+testToken, body)
		first <- st
	}()
	for calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	st, _, raw := call(t, muxes[1], "POST", "/v1/subjects/erase", "Bearer "+testToken, body)
	if st != 202 || !strings.Contains(raw, `"vendorsInProgress":["segment"]`) || !strings.Contains(raw, `"status":"in_progress"`) || !strings.Contains(raw, `"vendorsCalled":[]`) {
		t.Errorf("erase on the second instance during the first one's call: %d %s", st, raw)
	}
	close(release)
	if st := <-first; st != 200 {
		t.Errorf("first instance: %d", st)
	}
	st, _, raw = call(t, muxes[1], "POST", "/v1/subjects/erase", "Bearer "+testToken, body)
	if st != 200 || !strings.Contains(raw, `"vendor":"segment","status":"accepted","job":"reg-1"`) {
		t.Errorf("after the call: %d %s", st, raw)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("segment called %d times, want once", n)
	}
}

// Unsuppressing a subject forgets the vendor states (a later erasure asks
// every vendor again) but not what they mean: Segment's accepted
// SUPPRESS_WITH_DELETE keeps blocking the person's data at Segment, so the
// answer warns and says how to lift it there; PostHog keeps no suppression.
// The vendor history stays in the rights log. Before, the answer said
// nothing.
func TestRightsAPIUnsuppressWarnsVendorSuppression(t *testing.T) {
	tokens := []AdminToken{{Name: "ops", Secret: []byte(testToken)}}
	_, p, _ := adminFixture(t, tokens, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/regulations") {
			w.Write([]byte(`{"data":{"regulateId":"reg-9"}}`))
			return
		}
		w.Write([]byte(`{"persons_found":1,"persons_deleted":1,"deletion_errors":[]}`))
	}))
	defer srv.Close()
	seg, _ := erasure.New(erasure.Segment, erasure.Config{BaseURL: srv.URL, Token: []byte("t")})
	ph, _ := erasure.New(erasure.PostHog, erasure.Config{BaseURL: srv.URL, Token: []byte("k"), ProjectID: "1"})
	api, _ := NewRightsAPI(p, tokens, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {seg, ph}}))
	mux := http.NewServeMux()
	api.Register(mux)
	body := `{"tenant":"acme","identity":"user-5"}`
	if st, _, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, body); st != 200 {
		t.Fatalf("erase: %d %s", st, raw)
	}
	st, m, raw := call(t, mux, "POST", "/v1/subjects/unsuppress", "Bearer "+testToken, body)
	ws, _ := m["warnings"].([]any)
	if st != 200 || len(ws) != 1 {
		t.Fatalf("unsuppress: %d %s, want one warning (segment)", st, raw)
	}
	if w := ws[0].(string); !strings.HasPrefix(w, "segment still suppresses") || !strings.Contains(w, "reg-9") || !strings.Contains(w, "UNSUPPRESS") {
		t.Errorf("warning %q", w)
	}
	if strings.Contains(raw, "user-5") {
		t.Error("the answer names the identifier")
	}
	var history []string
	for e, err := range p.rights.Registry().Log(time.Time{}) {
		if err == nil && e.Action == rights.ActionVendorErase && e.VendorStatus == "accepted" {
			history = append(history, e.Vendor)
		}
	}
	if len(history) != 2 {
		t.Errorf("rights log vendor history after unsuppress: %v", history)
	}
	// A second unsuppress has nothing left to warn about.
	if _, m, raw := call(t, mux, "POST", "/v1/subjects/unsuppress", "Bearer "+testToken, body); m["warnings"] != nil {
		t.Errorf("second unsuppress: %s", raw)
	}
}

// A vendor that accepts the deletion but says it knew none of the ids
// (PostHog persons_found 0, Amplitude invalid_ids under ignore_invalid_id)
// is recorded as accepted with unknownId, and the answer warns: nothing
// was deleted there. Before, both were plain accepted.
func TestRightsAPIEraseUnknownID(t *testing.T) {
	tokens := []AdminToken{{Name: "ops", Secret: []byte(testToken)}}
	for _, c := range []struct {
		name, vendor, id, answer string
		unknown                  bool
	}{
		{"posthog found nobody", erasure.PostHog, "user-1", `{"persons_found":0,"persons_deleted":0,"deletion_errors":[]}`, true},
		{"posthog found one", erasure.PostHog, "user-2", `{"persons_found":1,"persons_deleted":1,"deletion_errors":[]}`, false},
		{"amplitude every id invalid", erasure.Amplitude, "user-3", `{"day":"2026-12-09","status":"staging","invalid_ids":["x"]}`, true},
		{"amplitude none invalid", erasure.Amplitude, "user-4", `{"day":"2026-12-09","status":"staging","invalid_ids":[]}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, p, _ := adminFixture(t, tokens, false)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(c.answer)) }))
			defer srv.Close()
			v, err := erasure.New(c.vendor, erasure.Config{BaseURL: srv.URL, Token: []byte("k"), ProjectID: "1", APIKey: "a"})
			if err != nil {
				t.Fatal(err)
			}
			api, _ := NewRightsAPI(p, tokens, WithVendorErasure(map[string][]*erasure.Vendor{"acme": {v}}))
			mux := http.NewServeMux()
			api.Register(mux)
			st, m, raw := call(t, mux, "POST", "/v1/subjects/erase", "Bearer "+testToken, `{"tenant":"acme","identity":"`+c.id+`"}`)
			if st != 200 || !strings.Contains(raw, `"status":"accepted"`) {
				t.Fatalf("%d %s", st, raw)
			}
			if got := strings.Contains(raw, `"unknownId":true`); got != c.unknown {
				t.Errorf("unknownId %v, want %v: %s", got, c.unknown, raw)
			}
			if ws, _ := m["warnings"].([]any); (len(ws) == 1) != c.unknown {
				t.Errorf("warnings %v", ws)
			}
			if _, _, show := call(t, mux, "POST", "/v1/subjects/show", "Bearer "+testToken, `{"tenant":"acme","identity":"`+c.id+`"}`); strings.Contains(show, `"unknownId":true`) != c.unknown {
				t.Errorf("show: %s", show)
			}
		})
	}
}
