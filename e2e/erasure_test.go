package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/rights/pgtest"
)

// vendorAPI is one capture upstream that plays a vendor: its ingestion API
// (vendorReply) and its deletion API, whose answer the test switches
// between success and each kind of failure.
type vendorAPI struct {
	name   string
	up     *upstream
	delete string // the deletion path
	ok     string // the deletion API's success body
	ids    string // where the deletion body names the person (gjson path)
	mu     sync.Mutex
	mode   string // ok | 5xx | 4xx | garbage | timeout
}

func newVendorAPI(t *testing.T, name, deletePath, ok, ids string) *vendorAPI {
	v := &vendorAPI{name: name, up: newUpstream(t), delete: deletePath, ok: ok, ids: ids, mode: "ok"}
	v.up.reply = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != v.delete {
			switch {
			case name == "clevertap" && r.URL.Path == "/a1":
				io.WriteString(w, `{"g":"__upstream-ack"}`)
				return
			case strings.HasPrefix(r.URL.Path, "/v1/"): // Segment's single-message paths
				io.WriteString(w, `{"success":true}`)
				return
			}
			vendorReply(w, r)
			return
		}
		v.mu.Lock()
		mode := v.mode
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch mode {
		case "5xx":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"upstream busy"}`)
		case "4xx":
			// Vendors echo what they refuse: the reason must not carry it.
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid ids %s"}`, body)
		case "garbage":
			io.WriteString(w, `<html>maintenance</html>`)
		case "timeout":
			time.Sleep(4 * time.Second)
			io.WriteString(w, v.ok)
		default:
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, v.ok)
		}
	}
	return v
}

// named are the identifiers a deletion body names.
func (v *vendorAPI) named(body []byte) []string {
	var out []string
	for _, r := range gjson.GetBytes(body, v.ids).Array() {
		out = append(out, r.String())
	}
	return out
}

func (v *vendorAPI) set(mode string) { v.mu.Lock(); v.mode = mode; v.mu.Unlock() }

// deletions are the deletion calls the vendor received.
func (v *vendorAPI) deletions() []captured {
	var out []captured
	for _, c := range v.up.requests() {
		if c.Path == v.delete {
			out = append(out, c)
		}
	}
	return out
}

// vendorAPIs plays the six vendors.
func vendorAPIs(t *testing.T) map[string]*vendorAPI {
	return map[string]*vendorAPI{
		"clevertap":   newVendorAPI(t, "clevertap", "/1/delete/profiles.json", `{"status":"success"}`, "identity"),
		"segment":     newVendorAPI(t, "segment", "/regulations", `{"data":{"regulateId":"2YJw5Sq6TZ"}}`, "subjectIds"),
		"rudderstack": newVendorAPI(t, "rudderstack", "/v2/regulations", `[{"id":"rs-reg-1","workspaceId":"ws","canceled":false}]`, "users.#.userId"),
		"amplitude":   newVendorAPI(t, "amplitude", "/api/2/deletions/users", `{"day":"2026-12-09","status":"staging","amplitude_ids":[]}`, "user_ids"),
		"mixpanel":    newVendorAPI(t, "mixpanel", "/api/app/data-deletions/v3.0/", `{"status":"ok","results":{"task_id":"mp-task-77"}}`, "distinct_ids"),
		"posthog":     newVendorAPI(t, "posthog", "/api/projects/42/persons/bulk_delete/", `{"persons_found":1,"persons_deleted":1,"events_queued_for_deletion":true,"deletion_errors":[]}`, "distinct_ids"),
	}
}

// erasureConfig is one tenant whose traffic goes to each vendor's capture
// upstream, with an account at every vendor's deletion API there.
func erasureConfig(t *testing.T, v map[string]*vendorAPI, policyData string) (cfg, tokenFile string) {
	dir := t.TempDir()
	tokenFile = writeFile(t, dir, "token", adminTokenValue)
	cfg = writeFile(t, dir, "consentry.yaml", `
admin_tokens:
  - name: dpo
    value: `+adminTokenValue+`
upstream: {timeout: 2s}
default_tenant: default
tenants:
  default:
    accounts: ["`+account+`"]
    upstream: `+v["clevertap"].up.url+`
    upstreams:
      segment: `+v["segment"].up.url+`
      rudderstack: `+v["rudderstack"].up.url+`
      amplitude: `+v["amplitude"].up.url+`
      mixpanel: `+v["mixpanel"].up.url+`
      posthog: `+v["posthog"].up.url+`
`+policyData+`
    rights:
      clevertap_passcode: {value: CT-PASSCODE-9}
      vendors:
        segment: {token: {value: sgp-token-1}, base_url: `+v["segment"].up.url+`}
        rudderstack: {token: {value: rs-token-1}, base_url: `+v["rudderstack"].up.url+`, destination_ids: [dest-1]}
        amplitude: {token: {value: amp-secret-1}, api_key: AMP_GO_KEY, base_url: `+v["amplitude"].up.url+`}
        mixpanel: {token: {value: mp-oauth-1}, project_token: MP_TOKEN, base_url: `+v["mixpanel"].up.url+`}
        posthog: {token: {value: phx-key-1}, project_id: "42", base_url: `+v["posthog"].up.url+`}
`)
	return cfg, tokenFile
}

// mixpanelSend posts one mixpanel-js request: a form body whose data is
// the base64 JSON of the records.
func mixpanelSend(t *testing.T, cs *instance, path, records string) {
	t.Helper()
	body := "data=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(records)))
	resp, b := post(t, cs.url+path+"?ip=1&_=1700000000000", []byte(body), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 200 {
		t.Fatalf("mixpanel %s: %d %s", path, resp.StatusCode, b)
	}
}

// sendAsPerson sends p's SDK traffic to every vendor through cs: CleverTap
// SDK /a1, the real Segment, RudderStack, PostHog and Amplitude Go clients,
// and mixpanel-js's wire format (track and engage).
func sendAsPerson(t *testing.T, cs *instance, p person) {
	t.Helper()
	resp, b := post(t, cs.url+"/a1?z="+account, sdkBatch("__e-"+p.DeviceID, profile(`"Identity":"`+p.UserID+`","Email":"`+p.Email+`"`), evt), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("clevertap: %d %s", resp.StatusCode, b)
	}
	for name, drive := range map[string]func(*testing.T, string, string, person, string) phaseResult{
		"segment": segmentGo, "rudderstack": rudderGo, "posthog": posthogGo, "amplitude": amplitudeGo,
	} {
		if res := drive(t, cs.url, "send", p, ""); !res.OK {
			t.Fatalf("%s client: %s", name, res.Error)
		}
	}
	mixpanelSend(t, cs, "/track/", `[{"event":"Viewed","properties":{"token":"MP_TOKEN","distinct_id":"`+p.UserID+`","$device_id":"`+p.DeviceID+`","time":1700000000}}]`)
	mixpanelSend(t, cs, "/engage/", `[{"$token":"MP_TOKEN","$distinct_id":"`+p.UserID+`","$set":{"plan":"pro","$email":"`+p.Email+`"}}]`)
}

// heldPseudonyms reads, per vendor, the one value under which the vendor
// holds p: the user id as the SDK traffic delivered it.
func heldPseudonyms(t *testing.T, v map[string]*vendorAPI, p person) map[string]string {
	t.Helper()
	kinds := map[string]struct {
		kind  string
		paths []string
	}{
		"segment": {"batch", []string{"userId"}}, "rudderstack": {"batch", []string{"userId"}},
		"posthog": {"batch", []string{"distinct_id"}}, "amplitude": {"amplitude", []string{"user_id"}},
		"mixpanel": {"mixpanel", []string{"properties.distinct_id", "$distinct_id"}},
	}
	held := map[string]string{}
	for name, k := range kinds {
		seen := map[string]bool{}
		for _, r := range recordsOf(t, k.kind, v[name].up.requests()) {
			if u := userOf(r, k.paths); u != "" {
				seen[u] = true
			}
		}
		if len(seen) != 1 {
			t.Fatalf("%s holds p under %d user ids, want 1: %v", name, len(seen), seen)
		}
		for u := range seen {
			if u == p.UserID {
				t.Fatalf("%s received the raw user id", name)
			}
			held[name] = u
		}
	}
	held["clevertap"] = sentIdentity(t, v["clevertap"].up)
	return held
}

func erased(t *testing.T, out string) map[string]gjson.Result {
	t.Helper()
	m := map[string]gjson.Result{}
	for _, e := range gjson.Get(out, "report.vendorErasures").Array() {
		m[e.Get("vendor").Str] = e
	}
	return m
}

// An admin erasure of a person whose SDK traffic went through Consentry
// reaches every configured vendor's deletion API with the pseudonym that
// vendor holds; each vendor failure (5xx, 4xx, garbage, timeout) is
// reported per vendor and retried by erasing again once the vendor
// recovers, without calling vendors that accepted; the local suppression
// holds throughout; nothing personal reaches the logs.
func TestErasureAtEveryVendor(t *testing.T) {
	t.Parallel()
	v := vendorAPIs(t)
	// The tenant's policy tokenizes the user ids of Amplitude and Mixpanel
	// (by field path) and hashes the others: each vendor must be named by
	// its own pseudonym, not by one computed for another format.
	cfg, tokenFile := erasureConfig(t, v, `    policy_data:
      fields:
        user_id: {action: tokenize}
        properties.distinct_id: {action: tokenize}
        $distinct_id: {action: tokenize}`)
	cs := start(t, "--config", cfg)
	p := jane.forClient("erasure")
	sendAsPerson(t, cs, p)
	held := heldPseudonyms(t, v, p)
	for name, want := range map[string]bool{"amplitude": true, "mixpanel": true, "segment": false, "clevertap": false} {
		if got := strings.HasPrefix(held[name], "tok:"); got != want {
			t.Fatalf("%s holds %q: the tenant policy should make it a token: %v", name, held[name], want)
		}
	}

	v["segment"].set("5xx")
	v["mixpanel"].set("4xx")
	v["amplitude"].set("garbage")
	v["posthog"].set("timeout")
	cli := func(wantCode int, args ...string) string {
		t.Helper()
		out, errs, code := subjectsCLI(t, nil, p.UserID+"\n", append(args, "--admin", cs.admin, "--token-file", tokenFile)...)
		if code != wantCode || !json.Valid([]byte(out)) {
			t.Fatalf("subjects %v: exit %d, want %d\n%s\n%s", args, code, wantCode, out, errs)
		}
		return out
	}
	start := time.Now()
	out := cli(1, "erase", "--tenant", "default", "--identity", "-")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the erasure took %v: vendors must be called concurrently, each bounded by upstream.timeout", took)
	}
	if gjson.Get(out, "error.code").Str != "upstream_erase_failed" || gjson.Get(out, "report.reason").Str != "admin-erasure" {
		t.Fatalf("erase: %s", out)
	}
	// Every vendor was asked to delete the pseudonym it holds.
	for name, api := range v {
		d := api.deletions()
		if len(d) != 1 {
			t.Fatalf("%s: %d deletion calls, want 1", name, len(d))
		}
		if got := api.named(d[0].Body); !slices.Contains(got, held[name]) {
			t.Errorf("%s deletion names %q, the vendor holds %q", name, got, held[name])
		}
		assertNoLeak(t, []byte(d[0].Path+"?"+d[0].Query+" "+string(d[0].Body)), p.seeds())
	}
	auth := map[string][2]string{
		"clevertap": {"X-Clevertap-Passcode", "CT-PASSCODE-9"}, "segment": {"Authorization", "Bearer sgp-token-1"},
		"rudderstack": {"Authorization", "Bearer rs-token-1"}, "amplitude": {"Authorization", basicAuth("AMP_GO_KEY", "amp-secret-1")},
		"mixpanel": {"Authorization", "Bearer mp-oauth-1"}, "posthog": {"Authorization", "Bearer phx-key-1"},
	}
	for name, h := range auth {
		if got := v[name].deletions()[0].Header.Get(h[0]); got != h[1] {
			t.Errorf("%s: %s = %q", name, h[0], got)
		}
	}
	if q := v["mixpanel"].deletions()[0].Query; q != "token=MP_TOKEN" {
		t.Errorf("mixpanel query %q", q)
	}
	// Per vendor status.
	st := erased(t, out)
	for _, c := range []struct {
		vendor, status, job string
		http                int64
		reason              string
	}{
		{"clevertap", "accepted", "", 200, ""},
		{"rudderstack", "accepted", "rs-reg-1", 200, ""},
		{"segment", "failed", "", 503, "HTTP 503"},
		{"mixpanel", "failed", "", 400, "HTTP 400"},
		{"amplitude", "failed", "", 200, "the answer has no deletion job day"},
		{"posthog", "failed", "", 0, "no answer in time"},
	} {
		e := st[c.vendor]
		if e.Get("status").Str != c.status || e.Get("job").Str != c.job || e.Get("httpStatus").Int() != c.http || e.Get("reason").Str != c.reason {
			t.Errorf("%s: %s", c.vendor, e.Raw)
		}
	}
	if strings.Contains(out, "invalid ids") {
		t.Error("the vendor's answer text reached the report")
	}

	// The person stays suppressed locally while vendors fail.
	f := forwarder{t, cs, v["clevertap"].up}
	if f.sdk(sdkBatch("__e-"+p.DeviceID, profile(`"Identity":"`+p.UserID+`"`), evt)) {
		t.Error("an erased person's CleverTap records were forwarded")
	}
	seg := forwarder{t, cs, v["segment"].up}
	if fwd, status, _ := seg.send("/v1/track", []byte(`{"userId":"`+p.UserID+`","event":"Viewed","messageId":"m-e1"}`), map[string]string{"Authorization": basic("SEG_GO_KEY")}); fwd || status != 200 {
		t.Errorf("an erased person's Segment track: forwarded %v, status %d", fwd, status)
	}

	// The vendors recover: erasing again calls only those that did not accept.
	for _, api := range v {
		api.set("ok")
	}
	out = cli(0, "erase", "--tenant", "default", "--identity", "-")
	var called []string
	for _, c := range gjson.Get(out, "vendorsCalled").Array() {
		called = append(called, c.Str)
	}
	if strings.Join(called, ",") != "amplitude,mixpanel,posthog,segment" {
		t.Errorf("retry called %s", called)
	}
	want := map[string]int{"clevertap": 1, "rudderstack": 1, "segment": 2, "mixpanel": 2, "amplitude": 2, "posthog": 2}
	for name, api := range v {
		d := api.deletions()
		if len(d) != want[name] {
			t.Errorf("%s: %d deletion calls after the retry, want %d", name, len(d), want[name])
			continue
		}
		if got := api.named(d[len(d)-1].Body); !slices.Contains(got, held[name]) {
			t.Errorf("%s retry names %q, the vendor holds %q", name, got, held[name])
		}
	}
	out = cli(0, "show", "--tenant", "default", "--identity", "-")
	jobs := map[string]string{"clevertap": "", "rudderstack": "rs-reg-1", "segment": "2YJw5Sq6TZ", "mixpanel": "mp-task-77", "amplitude": "2026-12-09", "posthog": ""}
	st = erased(t, out)
	for name, job := range jobs {
		if e := st[name]; e.Get("status").Str != "accepted" || e.Get("job").Str != job {
			t.Errorf("show %s: %s", name, e.Raw)
		}
	}
	if !gjson.Get(out, "report.suppressed").Bool() {
		t.Error("not suppressed after the vendors accepted")
	}
	// All accepted: erasing again calls no vendor.
	cli(0, "erase", "--tenant", "default", "--identity", "-")
	for name, api := range v {
		if n := len(api.deletions()); n != want[name] {
			t.Errorf("%s called again after it accepted (%d calls)", name, n)
		}
	}
	if f.sdk(sdkBatch("__e-"+p.DeviceID, profile(`"Identity":"`+p.UserID+`"`), evt)) {
		t.Error("an erased person's records were forwarded after the vendor deletions")
	}

	// The rights log has every vendor call, with states, job ids and HTTP statuses.
	out = cli(0, "log", "--tenant", "default")
	var log []string
	for _, e := range gjson.Get(out, "entries").Array() {
		if e.Get("action").Str == "vendor-erase" && e.Get("vendor").Str == "segment" {
			log = append(log, e.Get("vendorStatus").Str+":"+fmt.Sprint(e.Get("httpStatus").Int())+":"+e.Get("job").Str)
		}
	}
	if strings.Join(log, " ") != "requested:0: failed:503: requested:0: accepted:200:2YJw5Sq6TZ" {
		t.Errorf("segment in the rights log: %v", log)
	}

	// Nothing personal in the logs or the audit trail: neither the raw
	// identifiers nor the pseudonyms the vendors hold.
	seeds := p.seeds()
	for _, h := range held {
		seeds = append(seeds, h)
	}
	assertNoLeak(t, []byte(cs.stdout.String()+cs.stderr.String()), seeds)
	if !strings.Contains(cs.stderr.String(), `"msg":"vendor deletion"`) {
		t.Error("vendor deletions are not logged")
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// A tenant policy that rewrites CleverTap's SDK identity by its path
// (profile.Identity of /a1 batches) makes CleverTap hold a token that REST
// uploads would never carry: the deletion must name it. Before, it named
// the REST translation only, CleverTap answered 200 and nothing was
// deleted.
func TestErasureCleverTapSDKPathPolicy(t *testing.T) {
	t.Parallel()
	v := vendorAPIs(t)
	cfg, tokenFile := erasureConfig(t, v, `    policy_data:
      fields:
        profile.Identity: {action: tokenize}`)
	cs := start(t, "--config", cfg)
	p := jane.forClient("erasure-ct-sdk")
	sendAsPerson(t, cs, p)
	held := heldPseudonyms(t, v, p)["clevertap"]
	if !strings.HasPrefix(held, "tok:") {
		t.Fatalf("clevertap holds %q: the path-specific policy should make it a token", held)
	}
	out, errs, code := subjectsCLI(t, nil, p.UserID+"\n", "erase", "--tenant", "default", "--identity", "-", "--admin", cs.admin, "--token-file", tokenFile)
	if code != 0 {
		t.Fatalf("erase: exit %d\n%s\n%s", code, out, errs)
	}
	d := v["clevertap"].deletions()
	if len(d) != 1 {
		t.Fatalf("clevertap: %d deletion calls, want 1", len(d))
	}
	if got := v["clevertap"].named(d[0].Body); !slices.Contains(got, held) {
		t.Errorf("clevertap deletion names %q, clevertap holds %q", got, held)
	}
	assertNoLeak(t, d[0].Body, p.seeds())
}

// On a fleet the vendor states are in the shared PostgreSQL registry: an
// erasure that fails at one vendor on one instance is retried from another
// instance, which calls only that vendor.
func TestErasureRetriedFromAnotherFleetInstance(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	v := vendorAPIs(t)
	ct, seg := v["clevertap"], v["segment"]
	cfg := writeFile(t, t.TempDir(), "consentry.yaml", `
admin_tokens:
  - name: ops
    value: `+opsToken+`
rights:
  key: {value: "`+fleetRightsKey+`"}
  postgres:
    dsn: {value: "`+dsn+`"}
    schema: `+pgtest.Schema(t, dsn)+`
default_tenant: acme
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+ct.up.url+`
    upstreams: {segment: `+seg.up.url+`}
    keys:
      hmac: {value: "`+fleetHMACKey+`"}
      token: {value: "`+fleetTokenKey+`"}
    rights:
      vendors:
        clevertap: {token: {value: CT-PASS-F}}
        segment: {token: {value: sgp-f}, base_url: `+seg.up.url+`}
`)
	a, b := start(t, "--config", cfg), start(t, "--config", cfg)
	p := jane.forClient("fleet-erase")
	user := p.UserID
	if status, _, reply, err := sdkSend(a, sdkBatch("__fe1", profile(`"Identity":"`+user+`"`), evt)); err != nil || status != 200 {
		t.Fatalf("sdk: %d %s %v", status, reply, err)
	}
	// Segment is named by what Segment received, not by CleverTap's value.
	if res := segmentGo(t, a.url, "send", p, ""); !res.OK {
		t.Fatalf("segment client: %s", res.Error)
	}
	var held string
	for _, r := range recordsOf(t, "batch", seg.up.requests()) {
		if u := userOf(r, []string{"userId"}); u != "" {
			held = u
		}
	}
	if held == "" || held == user {
		t.Fatalf("segment holds %q", held)
	}
	seg.set("5xx")
	status, body := adminCall(t, "POST", a.admin+"/v1/subjects/erase", opsToken, `{"tenant":"acme","identity":"`+user+`"}`)
	if status != 502 || gjson.GetBytes(body, `report.vendorErasures.#(vendor=="segment").status`).Str != "failed" {
		t.Fatalf("erase on a: %d %s", status, body)
	}
	seg.set("ok")
	status, body = adminCall(t, "POST", b.admin+"/v1/subjects/erase", opsToken, `{"tenant":"acme","identity":"`+user+`"}`)
	if status != 200 || gjson.GetBytes(body, "vendorsCalled").String() != `["segment"]` {
		t.Fatalf("retry on b: %d %s", status, body)
	}
	if n := len(ct.deletions()); n != 1 {
		t.Errorf("clevertap called %d times, want once", n)
	}
	d := seg.deletions()
	if len(d) != 2 || !slices.Contains(seg.named(d[1].Body), held) {
		t.Errorf("segment deletions %d, last names %q, vendor holds %q", len(d), seg.named(d[len(d)-1].Body), held)
	}
	status, body = adminCall(t, "POST", a.admin+"/v1/subjects/show", opsToken, `{"tenant":"acme","identity":"`+user+`"}`)
	if status != 200 || gjson.GetBytes(body, `report.vendorErasures.#(status=="accepted")#.vendor`).String() != `["clevertap","segment"]` {
		t.Errorf("show on a: %d %s", status, body)
	}
	mustDrop(t, b, sdkBatch("__fe2", profile(`"Identity":"`+user+`"`), evt), "erased user on b")

	// Both instances erase another person at once while Segment is slow:
	// the first to claim the call in the registry makes it, the other
	// reports Segment in_progress (202) and does not call it.
	seg.set("timeout") // answers after 4 s
	before := len(seg.deletions())
	const other = "fleet-erase-user-2"
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([][]byte, 2)
	for i, in := range []*instance{a, b} {
		wg.Go(func() {
			codes[i], bodies[i] = adminCall(t, "POST", in.admin+"/v1/subjects/erase", opsToken, `{"tenant":"acme","identity":"`+other+`"}`)
		})
	}
	wg.Wait()
	slices.Sort(codes)
	if n := len(seg.deletions()) - before; n != 1 || codes[0] != 200 || codes[1] != 202 {
		t.Errorf("concurrent erasures on a and b: segment called %d times, want once; answers %v\n%s\n%s", n, codes, bodies[0], bodies[1])
	}
}
