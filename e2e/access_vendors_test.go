package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

// accessAPIs plays the access APIs of PostHog (persons), Amplitude (User
// Profile API) and Mixpanel (GDPR retrieval) on the vendors' capture
// upstreams. PostHog and Amplitude answer from what the SDK traffic
// delivered, so a person is found only under the pseudonym Consentry
// forwarded, and holds the tokens Consentry wrote.
type accessAPIs struct {
	v    map[string]*vendorAPI
	mu   sync.Mutex
	mode map[string]string // vendor → "" | "5xx"
}

const (
	posthogPersons   = "/api/projects/42/persons/"
	amplitudeProfile = "/v1/userprofile"
	mixpanelRetrieve = "/api/app/data-retrievals/v3.0/"
)

func playAccessAPIs(v map[string]*vendorAPI) *accessAPIs {
	a := &accessAPIs{v: v, mode: map[string]string{}}
	for name, path := range map[string]string{"posthog": posthogPersons, "amplitude": amplitudeProfile, "mixpanel": mixpanelRetrieve} {
		up := v[name].up
		up.mu.Lock()
		ingest := up.reply
		up.reply = func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				ingest(w, r)
				return
			}
			a.serve(name, w, r)
		}
		up.mu.Unlock()
	}
	return a
}

func (a *accessAPIs) set(vendor, mode string) { a.mu.Lock(); a.mode[vendor] = mode; a.mu.Unlock() }

// uploads are the SDK requests a vendor received (not the access calls).
func uploads(up *upstream) []captured {
	var out []captured
	for _, c := range up.requests() {
		if c.Method == http.MethodPost && !strings.HasPrefix(c.Path, "/api/") {
			out = append(out, c)
		}
	}
	return out
}

func (a *accessAPIs) serve(vendor string, w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	mode := a.mode[vendor]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	want := map[string]string{"posthog": "Bearer phx-key-1", "amplitude": "Api-Key amp-secret-1", "mixpanel": "Bearer mp-oauth-1"}[vendor]
	switch {
	case r.Header.Get("Authorization") != want:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"detail":"Invalid API key"}`)
		return
	case mode == "5xx":
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"detail":"busy"}`)
		return
	}
	t := a.v[vendor].up.t
	q := r.URL.Query()
	switch vendor {
	case "posthog":
		id := q.Get("distinct_id")
		var set string
		found := false
		for _, rec := range recordsOf(t, "batch", uploads(a.v["posthog"].up)) {
			if rec.Get("distinct_id").Str == id {
				found = true
				if rec.Get("event").Str == "$identify" {
					set = rec.Get("$set").Raw
				}
			}
		}
		if !found || set == "" {
			io.WriteString(w, `{"next":null,"previous":null,"results":[]}`)
			return
		}
		qid, _ := json.Marshal(id)
		fmt.Fprintf(w, `{"next":null,"previous":null,"results":[{"id":1,"uuid":"0192e4d5-7f1a-7c3e-9a44-1c2d3e4f5a6b","name":%s,"distinct_ids":[%s],"properties":%s,"created_at":"2026-12-01T09:00:00Z","last_seen_at":"2026-12-02T09:00:00Z"}]}`,
			gjson.Get(set, "email").Raw, qid, set)
	case "amplitude":
		id := q.Get("user_id")
		var props, device string
		for _, rec := range recordsOf(t, "amplitude", uploads(a.v["amplitude"].up)) {
			if rec.Get("user_id").Str == id && rec.Get("event_type").Str == "$identify" {
				props, device = rec.Get("user_properties.$set").Raw, rec.Get("device_id").Raw
			}
		}
		if props == "" || q.Get("get_amp_props") != "true" {
			io.WriteString(w, `{"error":"User id and device id not seen before"}`)
			return
		}
		qid, _ := json.Marshal(id)
		fmt.Fprintf(w, `{"userData":{"recommendations":null,"user_id":%s,"device_id":%s,"amp_props":%s,"cohort_ids":["c-buyers"]}}`, qid, device, props)
	case "mixpanel":
		io.WriteString(w, `{"status":"ok","results":{"task_id":"mp-retrieval-5"}}`)
	}
}

// calls are the access calls a vendor received.
func (a *accessAPIs) calls(vendor string) []captured {
	var out []captured
	for _, c := range a.v[vendor].up.requests() {
		if c.Method == http.MethodGet || strings.HasPrefix(c.Path, "/api/app/data-retrievals/") {
			out = append(out, c)
		}
	}
	return out
}

func partsOf(doc string) map[string]gjson.Result {
	m := map[string]gjson.Result{}
	for _, p := range gjson.Get(doc, "parts").Array() {
		m[p.Get("vendor").Str] = p
	}
	return m
}

// A person whose SDK traffic went to every vendor through Consentry asks
// for their data: the access document holds, besides Consentry's report
// and CleverTap's profile, PostHog's person and Amplitude's profile asked
// under the pseudonyms those vendors hold and read back with the e-mail
// opened and the user id restored, Mixpanel's retrieval requested (its
// task id), and Segment and RudderStack skipped with what to do and the
// values they hold the person under. A failing vendor is an error part
// (CLI exit 1); nothing personal reaches the logs.
func TestSubjectsAccessAtEveryVendor(t *testing.T) {
	t.Parallel()
	v := vendorAPIs(t)
	newFakeCleverTap(v["clevertap"].up)
	apis := playAccessAPIs(v)
	cfg, tokenFile := erasureConfig(t, v, "")
	cs := start(t, "--config", cfg)
	p := jane.forClient("access-vendors")
	sendAsPerson(t, cs, p)
	held := heldPseudonyms(t, v, p)
	// What PostHog and Amplitude hold is unreadable without Consentry.
	var phSet, ampSet string
	for _, rec := range recordsOf(t, "batch", uploads(v["posthog"].up)) {
		if rec.Get("event").Str == "$identify" {
			phSet = rec.Get("$set").Raw
		}
	}
	for _, rec := range recordsOf(t, "amplitude", uploads(v["amplitude"].up)) {
		if rec.Get("event_type").Str == "$identify" {
			ampSet = rec.Get("user_properties.$set").Raw
		}
	}
	if phSet == "" || ampSet == "" || strings.Contains(phSet+ampSet, p.Email) || !strings.HasPrefix(gjson.Get(phSet, "email").Str, "tok:") {
		t.Fatalf("the vendors should hold the e-mail as a token: posthog %s, amplitude %s", phSet, ampSet)
	}

	cli := func(wantCode int, id string) (string, string) {
		t.Helper()
		out, errs, code := subjectsCLI(t, nil, id+"\n", "access", "--tenant", "default", "--identity", "-", "--admin", cs.admin, "--token-file", tokenFile)
		if code != wantCode || !json.Valid([]byte(out)) {
			t.Fatalf("subjects access: exit %d, want %d\n%s\n%s", code, wantCode, out, errs)
		}
		return out, errs
	}
	out, _ := cli(0, p.UserID)
	parts := partsOf(out)
	if gjson.Get(out, "parts.0.vendor").Str != "consentry" || len(parts) != 7 {
		t.Fatalf("parts: %s", out)
	}
	if ct := parts["clevertap"]; ct.Get("status").Str != "ok" || ct.Get("data.record.identity").Str != p.UserID || ct.Get("data.record.email").Str != p.Email {
		t.Errorf("clevertap part: %s", ct.Raw)
	}
	ph := parts["posthog"]
	if ph.Get("status").Str != "ok" || ph.Get("found").Raw != "true" || ph.Get("httpStatus").Int() != 200 || ph.Get("time").Str == "" ||
		ph.Get("data.results.0.distinct_ids.0").Str != p.UserID || ph.Get("data.results.0.properties.email").Str != p.Email ||
		ph.Get("data.results.0.properties.phone").Str != p.Phone || ph.Get("data.results.0.name").Str != p.Email {
		t.Errorf("posthog part: %s", ph.Raw)
	}
	am := parts["amplitude"]
	if am.Get("status").Str != "ok" || am.Get("found").Raw != "true" || am.Get("data.userData.user_id").Str != p.UserID ||
		am.Get("data.userData.amp_props.email").Str != p.Email || am.Get("data.userData.cohort_ids.0").Str != "c-buyers" {
		t.Errorf("amplitude part: %s", am.Raw)
	}
	if mp := parts["mixpanel"]; mp.Get("status").Str != "requested" || mp.Get("job").Str != "mp-retrieval-5" || mp.Get("httpStatus").Int() != 200 {
		t.Errorf("mixpanel part: %s", mp.Raw)
	}
	for _, name := range []string{"segment", "rudderstack"} {
		part := parts[name]
		if part.Get("status").Str != "skipped" || part.Get("error.code").Str != "no_access_api" || part.Get("data.heldAs.0").Str != held[name] {
			t.Errorf("%s part (the vendor holds %q): %s", name, held[name], part.Raw)
		}
	}
	// Each vendor was asked under the pseudonym it holds, never the raw id.
	phCalls, ampCalls, mpCalls := apis.calls("posthog"), apis.calls("amplitude"), apis.calls("mixpanel")
	if len(phCalls) != 1 || phCalls[0].Path != posthogPersons || phCalls[0].Query != "distinct_id="+strings.ReplaceAll(held["posthog"], ":", "%3A") {
		t.Errorf("posthog calls: %+v (holds %q)", phCalls, held["posthog"])
	}
	if len(ampCalls) != 1 || !strings.HasPrefix(ampCalls[0].Query, "user_id=") || !strings.Contains(ampCalls[0].Query, "get_amp_props=true") {
		t.Errorf("amplitude calls: %+v", ampCalls)
	}
	if len(mpCalls) != 1 || mpCalls[0].Query != "token=MP_TOKEN" || !slices.Contains(gjsonStrings(mpCalls[0].Body, "distinct_ids"), held["mixpanel"]) ||
		gjson.GetBytes(mpCalls[0].Body, "compliance_type").Str != "GDPR" {
		t.Errorf("mixpanel calls: %+v (holds %q)", mpCalls, held["mixpanel"])
	}
	for _, c := range append(append(phCalls, ampCalls...), mpCalls...) {
		assertNoLeak(t, []byte(c.Path+"?"+c.Query+" "+string(c.Body)), p.seeds())
	}

	// PostHog fails: its part is an error, the others answer, the CLI
	// says so.
	apis.set("posthog", "5xx")
	out, errs := cli(1, p.UserID)
	parts = partsOf(out)
	if ph := parts["posthog"]; ph.Get("status").Str != "error" || ph.Get("httpStatus").Int() != 503 || ph.Get("error.code").Str != "vendor_error" ||
		parts["amplitude"].Get("status").Str != "ok" || !strings.Contains(errs, "the posthog part failed") {
		t.Errorf("posthog failing: %s\n%s", out, errs)
	}
	apis.set("posthog", "")

	// A person the vendors never saw: found false everywhere, exit 0.
	out, _ = cli(0, "nobody-"+p.UserID)
	parts = partsOf(out)
	for _, name := range []string{"posthog", "amplitude"} {
		if part := parts[name]; part.Get("status").Str != "ok" || part.Get("found").Raw != "false" || part.Get("data").Exists() {
			t.Errorf("%s, unknown person: %s", name, part.Raw)
		}
	}

	seeds := p.seeds()
	for _, h := range held {
		seeds = append(seeds, h)
	}
	assertNoLeak(t, []byte(cs.stdout.String()+cs.stderr.String()), seeds)
	if !strings.Contains(cs.stderr.String()+cs.stdout.String(), `"vendor":"posthog","part_status":"ok"`) {
		t.Error("the vendor parts are not logged")
	}
}

func gjsonStrings(body []byte, path string) []string {
	var out []string
	for _, r := range gjson.GetBytes(body, path).Array() {
		out = append(out, r.String())
	}
	return out
}
