package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Accounts and secrets of accessConfig.
const (
	accessAcc       = "ACME-ACCESS-01"
	otherAcc        = "OTHER-ACCESS-01"
	accessPass      = "ACME-CT-PASSCODE-7731"
	otherPass       = "OTHER-CT-PASSCODE-0042"
	accessToken     = "dpo-access-token-0123456789"
	acmeAccessTok   = "acme-consentry-access-7731-aa"
	otherAccessTok  = "other-consentry-access-0042-bb"
	legacyAcc       = "LEGACY-ACCESS-01"
	personIdentity  = "user-8841-jane"
	personEmail     = "jane.doe.8841@example.com"
	personPhone     = "+14155550123"
	personDevice    = "__g1a2b3c4d5e6f"
	accessRespLimit = 16384
)

// accessConfig: two tenants on up with CleverTap passcodes and access
// tokens, a third (legacy) with a passcode only (access routes off), a small
// access reply budget and a short upstream timeout.
func accessConfig(t *testing.T, up string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "consentry.yaml", `
admin_tokens:
  - name: dpo
    value: `+accessToken+`
upstream: {timeout: 1s}
limits: {max_access_response_bytes: `+fmt.Sprint(accessRespLimit)+`}
tenants:
  acme:
    accounts: ["`+accessAcc+`"]
    upstream: `+up+`
    rights:
      clevertap_passcode: {value: `+accessPass+`}
      access_token: {value: `+acmeAccessTok+`}
  other:
    accounts: ["`+otherAcc+`"]
    upstream: `+up+`
    rights:
      clevertap_passcode: {value: `+otherPass+`}
      access_token: {value: `+otherAccessTok+`}
  legacy:
    accounts: ["`+legacyAcc+`"]
    upstream: `+up+`
    rights:
      clevertap_passcode: {value: `+accessPass+`}
`)
}

// fakeCleverTap plays CleverTap behind the capture upstream: SDK batches
// (POST /a1) create and update profiles exactly as they arrive (so it holds
// what Consentry forwarded: pseudonyms and tokens), and the REST API answers
// GET /1/profile.json by identity, email or objectId, and the cursor
// downloads, in the shapes of CleverTap's reference (profile.json
// {"status":"success","record":{...}}).
type fakeCleverTap struct {
	up       *upstream
	mu       sync.Mutex
	profiles []map[string]any // record: identity, email, profileData, platformInfo
	mode     string           // "", "500", "403", "garbage", "huge", "slow"
	extra    map[string]any   // added to every record's profileData
}

func newFakeCleverTap(up *upstream) *fakeCleverTap {
	ct := &fakeCleverTap{up: up}
	up.reply = ct.serve
	return ct
}

func (ct *fakeCleverTap) set(mode string, extra map[string]any) {
	ct.mu.Lock()
	ct.mode, ct.extra = mode, extra
	ct.mu.Unlock()
}

func (ct *fakeCleverTap) serve(w http.ResponseWriter, r *http.Request) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if r.URL.Path == "/a1" {
		ct.learn()
		fmt.Fprint(w, `{}`)
		return
	}
	if r.Header.Get("X-CleverTap-Passcode") == "" || r.Header.Get("X-CleverTap-Account-Id") == "" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"status":"fail","error":"Account ID is not valid","code":401}`)
		return
	}
	switch ct.mode {
	case "500":
		w.WriteHeader(500)
		fmt.Fprint(w, `{"status":"fail","error":"Internal error","code":500}`)
		return
	case "403":
		w.WriteHeader(403)
		fmt.Fprint(w, `{"status":"fail","error":"Passcode is not valid","code":403}`)
		return
	case "garbage":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><body>502 Bad Gateway</body></html>`)
		return
	case "slow":
		ct.mu.Unlock()
		time.Sleep(1500 * time.Millisecond)
		ct.mu.Lock()
	}
	q := r.URL.Query()
	var out any
	switch {
	case r.URL.Path == "/1/profile.json":
		var rec map[string]any
		for _, p := range ct.profiles {
			if (q.Has("identity") && p["identity"] == q.Get("identity")) || (q.Has("email") && p["email"] == q.Get("email")) ||
				(q.Has("objectId") && gjson.Get(toJSON(p), "platformInfo.0.objectId").Str == q.Get("objectId")) {
				rec = ct.decorate(p)
			}
		}
		if rec == nil {
			// Not-found answer: UNVERIFIED in CleverTap's documentation;
			// played as its usual failure shape.
			out = map[string]any{"status": "fail", "error": "User not found", "code": 404}
			break
		}
		out = map[string]any{"status": "success", "record": rec}
	case r.Method == "POST":
		out = map[string]any{"status": "success", "cursor": "ZyZpbGU%3D%2Fab"}
	default:
		var recs []any
		for _, p := range ct.profiles {
			recs = append(recs, ct.decorate(p))
		}
		out = map[string]any{"status": "success", "previous_cursor": "ZyZpbGU%3D%2Fab", "records": recs}
	}
	b, _ := json.Marshal(out)
	w.Write(b)
}

func (ct *fakeCleverTap) decorate(p map[string]any) map[string]any {
	rec := map[string]any{}
	for k, v := range p {
		rec[k] = v
	}
	pd := map[string]any{}
	for k, v := range p["profileData"].(map[string]any) {
		pd[k] = v
	}
	for k, v := range ct.extra {
		pd[k] = v
	}
	if ct.mode == "huge" {
		pd["Notes"] = strings.Repeat("x", 2*accessRespLimit)
	}
	rec["profileData"] = pd
	return rec
}

// learn stores the profile records of an SDK batch under their identity.
func (ct *fakeCleverTap) learn() {
	reqs := ct.up.requests() // the capture upstream has read the body
	body := reqs[len(reqs)-1].Body
	var batch []map[string]any
	if json.Unmarshal(body, &batch) != nil || len(batch) == 0 {
		return
	}
	g, _ := batch[0]["g"].(string)
	for _, rec := range batch[1:] {
		prof, _ := rec["profile"].(map[string]any)
		if rec["type"] != "profile" || prof == nil {
			continue
		}
		pd := map[string]any{}
		for k, v := range prof {
			if k != "Identity" && k != "Email" {
				pd[k] = v
			}
		}
		ct.profiles = append(ct.profiles, map[string]any{
			"identity":     prof["Identity"],
			"email":        prof["Email"],
			"profileData":  pd,
			"platformInfo": []any{map[string]any{"platform": "Android", "objectId": g, "os_version": "14"}},
		})
	}
}

func accessGet(t *testing.T, base, path string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sendPerson sends the person's SDK traffic for account acc and returns
// what the vendor received for their profile.
func sendPerson(t *testing.T, cs *instance, up *upstream, acc, identity, email string) gjson.Result {
	t.Helper()
	batch := `[{"type":"meta","id":"` + acc + `","g":"` + personDevice + `"},` +
		`{"type":"profile","profile":{"Identity":"` + identity + `","Email":"` + email + `","Phone":"` + personPhone + `","Customer Type":"Gold","tz":"Europe/Berlin"}},` +
		`{"type":"event","evtName":"Product Viewed","evtData":{"Price":59.99}}]`
	resp, b := post(t, cs.url+"/a1?os=Android&t=80200&z="+acc, []byte(batch), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("SDK batch: %d %s", resp.StatusCode, b)
	}
	return gjson.GetBytes(up.last(t).Body, `#(type=="profile").profile`)
}

// Right of access through Consentry: the vendor holds the pseudonymised
// profile; the controller asks with the person's real identifiers and the
// tenant's passcode, and gets the profile back readable.
func TestAccessThroughConsentry(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	ct := newFakeCleverTap(up)
	cs := start(t, "--config", accessConfig(t, up.url))

	held := sendPerson(t, cs, up, accessAcc, personIdentity, personEmail)
	for _, raw := range []string{personIdentity, personEmail, personPhone} {
		if strings.Contains(held.Raw, raw) {
			t.Fatalf("the vendor received %q in clear: %s", raw, held.Raw)
		}
	}
	if held.Get("Identity").Str == "" || !strings.HasPrefix(held.Get("Email").Str, "tok:") {
		t.Fatalf("test needs a hashed identity and a tokenized email upstream: %s", held.Raw)
	}
	auth := map[string]string{"X-CleverTap-Account-Id": accessAcc, "X-CleverTap-Passcode": accessPass, "X-Consentry-Access-Token": acmeAccessTok}

	for _, q := range []string{"identity=" + personIdentity, "email=" + url.QueryEscape(personEmail), "objectId=" + personDevice} {
		before := len(up.requests())
		status, body := accessGet(t, cs.url, "/1/profile.json?"+q, auth)
		rec := gjson.GetBytes(body, "record")
		if status != 200 || gjson.GetBytes(body, "status").Str != "success" {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		if rec.Get("email").Str != personEmail || rec.Get("profileData.Phone").Str != personPhone || rec.Get("profileData.Customer Type").Str != "Gold" {
			t.Errorf("%s: tokens not opened: %s", q, body)
		}
		if strings.HasPrefix(q, "identity=") && rec.Get("identity").Str != personIdentity {
			t.Errorf("%s: identity not restored: %s", q, body)
		}
		got := up.requests()[before:]
		if len(got) != 1 || got[0].Path != "/1/profile.json" || strings.Contains(got[0].Query, "jane") || strings.Contains(got[0].Query, "user-8841") {
			t.Fatalf("%s: upstream got %+v", q, got)
		}
		if got[0].Header.Get("X-Clevertap-Passcode") != accessPass || got[0].Header.Get("X-Clevertap-Account-Id") != accessAcc ||
			got[0].Header.Get("X-Consentry-Access-Token") != "" || got[0].Header.Get("Cookie") != "" {
			t.Errorf("%s: upstream headers %v", q, got[0].Header)
		}
	}

	// Refused without the passcode or the access token, with a wrong one,
	// with another tenant's, with the passcode alone (CleverTap holds it),
	// and for a tenant that never switched access on: nothing reaches the
	// vendor. Fewer failures than MaxAccessAuthFailures (10) for acme.
	before := len(up.requests())
	withTok := func(acc, pass, tok string) map[string]string {
		h := map[string]string{"X-CleverTap-Account-Id": acc}
		if pass != "" {
			h["X-CleverTap-Passcode"] = pass
		}
		if tok != "" {
			h["X-Consentry-Access-Token"] = tok
		}
		return h
	}
	paths := []string{"/1/profile.json?identity=" + personIdentity, "/1/profiles.json?cursor=abc", "/1/events.json?cursor=abc"}
	for i, tc := range []struct {
		hdr    map[string]string
		status int
		code   string
	}{
		{withTok(accessAcc, "", ""), 401, "missing_credential"},
		{withTok(accessAcc, accessPass, ""), 401, "missing_credential"},
		{withTok(accessAcc, "", acmeAccessTok), 401, "missing_credential"},
		{withTok(accessAcc, "guess", acmeAccessTok), 403, "invalid_credential"},
		{withTok(accessAcc, otherPass, otherAccessTok), 403, "invalid_credential"},
		{withTok(accessAcc, accessPass, acmeAccessTok+"x"), 403, "invalid_credential"},
		{withTok(legacyAcc, accessPass, ""), 404, "access_not_configured"},
		{withTok(legacyAcc, accessPass, acmeAccessTok), 404, "access_not_configured"},
		{withTok("NOT-CONFIGURED", accessPass, acmeAccessTok), 403, "unknown_tenant"},
	} {
		path := paths[i%len(paths)]
		status, body := accessGet(t, cs.url, path, tc.hdr)
		if status != tc.status || gjson.GetBytes(body, "error.code").Str != tc.code {
			t.Errorf("%s with %v: %d %s", path, tc.hdr, status, body)
		}
	}
	// No account id: the message names the header, not default_tenant
	// (never used on these routes).
	noAccount := map[string]string{"X-CleverTap-Passcode": accessPass, "X-Consentry-Access-Token": acmeAccessTok}
	if status, body := accessGet(t, cs.url, paths[0], noAccount); status != 403 || gjson.GetBytes(body, "error.code").Str != "unknown_tenant" ||
		!strings.Contains(gjson.GetBytes(body, "error.message").Str, "X-CleverTap-Account-Id header is required on the access routes") ||
		strings.Contains(string(body), "no default tenant") {
		t.Errorf("no account id: %d %s", status, body)
	}
	if resp, body := post(t, cs.url+"/1/profiles.json?batch_size=10", []byte(`{"event_name":"App Launched","from":20260101,"to":20260131}`), withTok(accessAcc, accessPass, "")); resp.StatusCode != 401 {
		t.Errorf("cursor open without the access token: %d %s", resp.StatusCode, body)
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Fatalf("%d refused access requests reached the vendor", n)
	}

	// Cursor download: POST opens, GET reads; emails readable, identities
	// not named in the request stay as the vendor holds them.
	resp, body := post(t, cs.url+"/1/profiles.json?batch_size=23", []byte(`{"event_name":"App Launched","from":20260101,"to":20260131}`), auth)
	if resp.StatusCode != 200 || gjson.GetBytes(body, "cursor").Str != "ZyZpbGU%3D%2Fab" {
		t.Fatalf("cursor open: %d %s", resp.StatusCode, body)
	}
	if last := up.last(t); last.Query != "batch_size=23" || string(last.Body) != `{"event_name":"App Launched","from":20260101,"to":20260131}` {
		t.Errorf("cursor open upstream: %q %s", last.Query, last.Body)
	}
	status, body := accessGet(t, cs.url, "/1/profiles.json?cursor=ZyZpbGU%3D%2Fab", auth)
	if status != 200 || gjson.GetBytes(body, "records.0.email").Str != personEmail || gjson.GetBytes(body, "records.0.identity").Str != held.Get("Identity").Str {
		t.Errorf("cursor page: %d %s", status, body)
	}
	if last := up.last(t); last.Query != "cursor=ZyZpbGU%3D%2Fab" {
		t.Errorf("cursor forwarded as %q", last.Query)
	}
	if resp, body := post(t, cs.url+"/1/events.json?batch_size=23", []byte(`{"event_name":"Charged","from":20260101,"to":20260131,"props":[{"name":"Email","operator":"equals","value":"`+personEmail+`"}]}`), auth); resp.StatusCode != 400 {
		t.Errorf("value filter: %d %s", resp.StatusCode, body)
	}

	// Unknown person: the vendor's own answer, passed on.
	status, body = accessGet(t, cs.url, "/1/profile.json?identity=nobody-here", auth)
	if status != 200 || gjson.GetBytes(body, "status").Str != "fail" {
		t.Errorf("unknown identity: %d %s", status, body)
	}

	// Tokens Consentry did not issue under acme's key stay as sent: the
	// other tenant's token (same key id, another key), acme's own token
	// under a retired key id, and garbage in token form.
	other := sendPerson(t, cs, up, otherAcc, "other-person-1", "other.person@example.org")
	foreign := other.Get("Email").Str
	own := held.Get("Email").Str
	retired := "tok:k0:" + own[strings.LastIndex(own, ":")+1:]
	forged := "tok:k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
	ct.set("", map[string]any{"Foreign": foreign, "Retired": retired, "Forged": forged})
	status, body = accessGet(t, cs.url, "/1/profile.json?identity="+personIdentity, auth)
	pd := gjson.GetBytes(body, "record.profileData")
	if status != 200 || pd.Get("Foreign").Str != foreign || pd.Get("Retired").Str != retired || pd.Get("Forged").Str != forged || gjson.GetBytes(body, "record.email").Str != personEmail {
		t.Errorf("tokens of other keys: %d %s", status, body)
	}

	// Vendor failures are failures.
	for _, tc := range []struct {
		mode   string
		status int
		code   string
	}{
		{"500", 500, ""}, {"403", 403, ""},
		{"garbage", 502, "vendor_invalid_reply"},
		{"huge", 502, "access_response_too_large"},
		{"slow", 504, "upstream_timeout"},
	} {
		ct.set(tc.mode, nil)
		status, body := accessGet(t, cs.url, "/1/profile.json?identity="+personIdentity, auth)
		if status != tc.status || gjson.GetBytes(body, "error.code").Str != tc.code || strings.Contains(string(body), "tok:") || strings.Contains(string(body), "xxxx") {
			t.Errorf("vendor %s: %d %.200s", tc.mode, status, body)
		}
	}
	ct.set("", nil)

	// Nothing personal in the logs or the audit trail.
	time.Sleep(1100 * time.Millisecond) // audit lines are flushed every second
	logs := cs.stderr.String() + cs.stdout.String()
	for _, s := range []string{personIdentity, personEmail, personPhone, "14155550123", own, foreign, "other.person@example.org"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold %q", s)
		}
	}
	var routes []string
	for _, l := range cs.auditLines(t) {
		if r, _ := l["route"].(string); strings.HasPrefix(r, "/1/profile") || strings.HasPrefix(r, "/1/events") {
			routes = append(routes, r)
		}
	}
	if len(routes) < 10 {
		t.Errorf("access requests missing from the audit trail: %v", routes)
	}
	if !strings.Contains(logs, "access request") || strings.Contains(logs, acmeAccessTok) || strings.Contains(logs, accessPass) {
		t.Errorf("access requests are logged by outcome and counts, never credentials:\n%s", logs)
	}

	// Guessing the access token with CleverTap's passcode: after 10
	// failures in a minute the tenant's access routes answer 429, even to
	// the right credentials; nothing reaches the vendor.
	before = len(up.requests())
	var last int
	for i := 0; i < 12; i++ {
		last, _ = accessGet(t, cs.url, "/1/events.json?cursor=anything", withTok(accessAcc, accessPass, fmt.Sprintf("guess-%016d", i)))
	}
	status, body = accessGet(t, cs.url, "/1/profile.json?identity="+personIdentity, auth)
	if last != 429 || status != 429 || gjson.GetBytes(body, "error.code").Str != "access_rate_limited" || len(up.requests()) != before {
		t.Errorf("guessing: last guess %d, then the right credentials %d %s; %d reached the vendor", last, status, body, len(up.requests())-before)
	}
}

// consentry subjects access: Consentry's report, its rights log and
// CleverTap's profile in one document; a failing vendor is a failed part,
// not a failed document.
func TestSubjectsAccessDocument(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	ct := newFakeCleverTap(up)
	cs := start(t, "--config", accessConfig(t, up.url))
	sendPerson(t, cs, up, accessAcc, personIdentity, personEmail)
	env := []string{"CONSENTRY_ADMIN_TOKEN=" + accessToken, "CONSENTRY_ADMIN_URL=" + cs.admin}

	out, errs, code := subjectsCLI(t, env, "", "access", "--tenant", "acme", "--identity", personIdentity)
	doc := gjson.Parse(out)
	if code != 0 || doc.Get("action").Str != "access" || doc.Get("parts.#").Int() != 2 {
		t.Fatalf("access: exit %d\n%s\n%s", code, out, errs)
	}
	own, vendor := doc.Get("parts.0"), doc.Get("parts.1")
	if own.Get("vendor").Str != "consentry" || own.Get("status").Str != "ok" || own.Get("data.report.linkedDevices").Int() != 1 ||
		!own.Get("data.report.marketingConsent").Exists() || own.Get("data.rightsLog.#").Int() < 1 || own.Get("time").Str == "" {
		t.Errorf("consentry part: %s", own.Raw)
	}
	if vendor.Get("vendor").Str != "clevertap" || vendor.Get("status").Str != "ok" || vendor.Get("httpStatus").Int() != 200 || vendor.Get("found").Raw != "true" ||
		vendor.Get("data.record.email").Str != personEmail || vendor.Get("data.record.identity").Str != personIdentity ||
		vendor.Get("data.record.profileData.Phone").Str != personPhone || vendor.Get("time").Str == "" {
		t.Errorf("clevertap part: %s", vendor.Raw)
	}
	if last := up.last(t); last.Path != "/1/profile.json" || strings.Contains(last.Query, "user-8841") ||
		last.Header.Get("X-Clevertap-Passcode") != accessPass || last.Header.Get("X-Clevertap-Account-Id") != accessAcc {
		t.Errorf("vendor lookup: %s %q %v", last.Path, last.Query, last.Header)
	}
	if strings.Contains(doc.Get("subject").Str, "user-8841") || !strings.HasPrefix(doc.Get("subject").Str, "identity:") {
		t.Errorf("subject %q", doc.Get("subject").Str)
	}

	// By device: the vendor is asked by objectId.
	out, _, code = subjectsCLI(t, env, "", "access", "--tenant", "acme", "--device", personDevice)
	if code != 0 || gjson.Get(out, "parts.1.data.record.email").Str != personEmail || !strings.HasPrefix(up.last(t).Query, "objectId=") {
		t.Errorf("access by device: exit %d %s", code, out)
	}
	if gjson.Get(out, "note").Exists() {
		t.Errorf("a known device has a note: %s", gjson.Get(out, "note").Raw)
	}
	// The id without the SDK's prefix is another id: known false, and a
	// note that says how ids look, never the id typed.
	bare := strings.TrimPrefix(personDevice, "__g")
	out, _, _ = subjectsCLI(t, env, "", "access", "--tenant", "acme", "--device", bare)
	if note := gjson.Get(out, "note").Str; gjson.Get(out, "parts.0.data.report.known").Raw != "false" ||
		!strings.Contains(note, "no record of this device") || !strings.Contains(note, "__g") || strings.Contains(out, bare) {
		t.Errorf("access by a bare device id: %s", out)
	}

	// The vendor fails: the document is still answered, with an error part,
	// and the CLI says so (exit 1).
	for _, tc := range []struct{ mode, code string }{{"500", "vendor_error"}, {"403", "vendor_error"}, {"garbage", "vendor_invalid_reply"}, {"slow", "upstream_timeout"}, {"huge", "access_response_too_large"}} {
		ct.set(tc.mode, nil)
		status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/access", accessToken, `{"tenant":"acme","identity":"`+personIdentity+`"}`)
		part := gjson.GetBytes(body, "parts.1")
		if status != 200 || gjson.GetBytes(body, "parts.0.status").Str != "ok" || part.Get("status").Str != "error" || part.Get("error.code").Str != tc.code {
			t.Errorf("vendor %s: %d %.300s", tc.mode, status, body)
		}
	}
	ct.set("500", nil)
	out, errs, code = subjectsCLI(t, env, "", "access", "--tenant", "acme", "--identity", personIdentity)
	if code != 1 || !strings.Contains(errs, "the clevertap part failed") || gjson.Get(out, "parts.0.status").Str != "ok" {
		t.Errorf("CLI with a failing vendor: exit %d\n%s\n%s", code, out, errs)
	}
	ct.set("", nil)

	// Unknown person: Consentry knows nothing, the vendor says so; that is
	// an answer (found: false), not a failure, and the CLI exits 0.
	status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/access", accessToken, `{"tenant":"acme","identity":"nobody-here"}`)
	if part := gjson.GetBytes(body, "parts.1"); status != 200 || gjson.GetBytes(body, "parts.0.data.report.known").Bool() ||
		part.Get("status").Str != "ok" || part.Get("found").Raw != "false" || part.Get("data").Exists() || part.Get("error").Exists() {
		t.Errorf("unknown subject: %d %s", status, body)
	}
	if out, errs, code := subjectsCLI(t, env, "", "access", "--tenant", "acme", "--identity", "nobody-here"); code != 0 || gjson.Get(out, "parts.1.found").Raw != "false" {
		t.Errorf("CLI for an unknown person: exit %d\n%s\n%s", code, out, errs)
	}
	// A reply over the budget is counted, as on the proxied routes.
	if m := scrapeAdmin(t, cs.admin+"/metrics"); !strings.Contains(m, `consentry_budget_exceeded_total{budget="access_response_bytes"} 1`) {
		t.Errorf("subjects access over the budget not counted")
	}
	// Bad requests and missing tokens are refused.
	for _, tc := range []struct {
		token, body string
		status      int
	}{
		{"", `{"tenant":"acme","identity":"x"}`, 401},
		{accessToken, `{"tenant":"nope","identity":"x"}`, 404},
		{accessToken, `{"tenant":"acme"}`, 400},
		{accessToken, `{"tenant":"acme","identity":""}`, 400},
	} {
		if status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/access", tc.token, tc.body); status != tc.status {
			t.Errorf("%s: %d %s", tc.body, status, body)
		}
	}

	logs := cs.stderr.String() + cs.stdout.String()
	for _, s := range []string{personIdentity, personEmail, personPhone, "nobody-here"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold %q", s)
		}
	}
}

// Two tenants configured with the same token key would open each other's
// tokens (a token names its key id, not its tenant): refused at start,
// naming both.
func TestSharedTokenKeyRefusedAtStart(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64)))
	cfg := writeFile(t, t.TempDir(), "consentry.yaml", `
tenants:
  acme:
    accounts: ["`+accessAcc+`"]
    upstream: http://127.0.0.1:1
    keys: {token: {value: "`+key+`"}, token_key_id: k1}
  other:
    accounts: ["`+otherAcc+`"]
    upstream: http://127.0.0.1:1
    keys: {token: {value: "`+key+`"}, token_key_id: k2}
`)
	_, errs, code := runCLITimeout(t, 30*time.Second, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir())
	if code == 0 || !strings.Contains(errs, "tenants.acme.keys.token and tenants.other.keys.token: the same token key") {
		t.Fatalf("exit %d, want a refusal naming both tenants:\n%s", code, errs)
	}
}
