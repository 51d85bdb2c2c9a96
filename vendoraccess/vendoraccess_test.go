package vendoraccess

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// render writes a request as the vendor receives it, one header a line.
func render(base string, r Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s", r.Method, base, r.Path)
	if len(r.Query) > 0 {
		fmt.Fprintf(&b, "?%s", r.Query)
	}
	b.WriteByte('\n')
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	if len(r.Body) > 0 {
		fmt.Fprintf(&b, "\n%s\n", r.Body)
	}
	return b.String()
}

// The calls each vendor receives, as golden files: testdata/<case>.golden.
func TestRequestsGolden(t *testing.T) {
	hashed, tok := []byte(`"h:3f2a9c"`), []byte(`"tok:k1:AbC-d_e"`)
	for _, tc := range []struct {
		name   string
		vendor string
		cfg    Config
		ids    [][]byte
	}{
		{"posthog", "posthog", Config{BaseURL: "https://eu.posthog.com", Token: []byte("phx_key"), ProjectID: "42"}, [][]byte{hashed, tok}},
		{"posthog_selfhosted_prefix", "posthog", Config{BaseURL: "https://analytics.example.org/ph/", Token: []byte("phx_key"), ProjectID: "a b"}, [][]byte{[]byte(`"id with space&x=1"`)}},
		{"amplitude", "amplitude", Config{BaseURL: "https://amplitude.com", Token: []byte("amp-secret")}, [][]byte{tok}},
		{"amplitude_custom_host", "amplitude", Config{BaseURL: "http://127.0.0.1:8080", Token: []byte("amp-secret")}, [][]byte{hashed}},
		{"mixpanel", "mixpanel", Config{BaseURL: "https://eu.mixpanel.com", Token: []byte("mp-oauth"), ProjectToken: "MP TOKEN"}, [][]byte{hashed, tok, []byte("42")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := New(tc.vendor, tc.cfg)
			var got strings.Builder
			fmt.Fprintf(&got, "mode: %s\n", v.Mode())
			for _, r := range v.Requests(tc.ids) {
				got.WriteString("---\n" + render(v.BaseURL(), r))
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("requests differ from %s:\n%s", path, got.String())
			}
		})
	}
}

// Mixpanel's body is JSON whatever the ids: each is quoted from its
// text, and one that only starts like a JSON string stays one string.
func TestMixpanelBodyQuoted(t *testing.T) {
	v := New("mixpanel", Config{Token: []byte("t"), ProjectToken: "p"})
	ids := [][]byte{[]byte(`"a\u0041"`), []byte(`"x"],"compliance_type":"CCPA","y":["`), []byte("42"), []byte(`"`)}
	reqs := v.Requests(ids)
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	body := reqs[0].Body
	r := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || r.Get("compliance_type").Str != "GDPR" || r.Get("y").Exists() || r.Get("distinct_ids.#").Int() != 4 ||
		r.Get("distinct_ids.0").Str != "aA" || r.Get("distinct_ids.1").Str != string(Text(ids[1])) || r.Get("distinct_ids.2").Str != "42" || r.Get("distinct_ids.3").Str != `"` {
		t.Errorf("body: %s", body)
	}
}

// Filter keeps only what is about the pseudonym asked for, before
// anything is opened.
func TestFilter(t *testing.T) {
	id := []byte(`"p-1"`)
	for _, tc := range []struct {
		vendor  string
		status  int
		body    string
		want    string
		dropped int
		err     error
	}{
		{"posthog", 200, `{"next":null,"results":[{"distinct_ids":["p-1"],"properties":{}}]}`, `{"next":null,"results":[{"distinct_ids":["p-1"],"properties":{}}]}`, 0, nil},
		{"posthog", 200, `{"next":null,"results":[{"distinct_ids":["q"],"properties":{"e":"tok:x"}},{"distinct_ids":["a","p-1"]},{"distinct_ids":"p-1"}],"n":1}`, `{"next":null,"results":[{"distinct_ids":["a","p-1"]}],"n":1}`, 2, nil},
		{"posthog", 200, `{"results":[{"distinct_ids":["P-1"]}]}`, `{"results":[]}`, 1, nil},
		{"posthog", 500, `{"results":[{"distinct_ids":["q"]}]}`, `{"results":[{"distinct_ids":["q"]}]}`, 0, nil},
		{"amplitude", 200, `{"userData":{"user_id":"p-1","amp_props":{}}}`, `{"userData":{"user_id":"p-1","amp_props":{}}}`, 0, nil},
		{"amplitude", 200, `{"userData":{"user_id":"q","amp_props":{}}}`, ``, 0, ErrOtherSubject},
		{"amplitude", 200, `{"userData":{"amp_props":{}}}`, ``, 0, ErrOtherSubject},
		{"amplitude", 400, `{"error":"User id and device id not seen before"}`, `{"error":"User id and device id not seen before"}`, 0, nil},
	} {
		kept, dropped, err := New(tc.vendor, Config{BaseURL: "http://127.0.0.1:1"}).Filter(Request{ID: id}, tc.status, []byte(tc.body))
		if string(kept) != tc.want || dropped != tc.dropped || err != tc.err {
			t.Errorf("%s %s: %s, %d dropped, %v", tc.vendor, tc.body, kept, dropped, err)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		vendor, base string
		mode         Mode
		reason       string
		host         string
	}{
		{"posthog", "https://us.posthog.com", Lookup, "", "https://us.posthog.com"},
		{"amplitude", "https://amplitude.com", Lookup, "", AmplitudeProfileUS},
		{"amplitude", "", Lookup, "", AmplitudeProfileUS},
		{"amplitude", "https://api2.amplitude.com/", Lookup, "", AmplitudeProfileUS},
		{"amplitude", "https://analytics.eu.amplitude.com", None, "unavailable in its EU region", ""},
		{"amplitude", "https://api.eu.amplitude.com", None, "unavailable in its EU region", ""},
		{"amplitude", "https://API.Amplitude.com./", Lookup, "", AmplitudeProfileUS},
		{"amplitude", "https://analytics.amplitude.com", Lookup, "", AmplitudeProfileUS},
		{"amplitude", "https://eu.amplitude.com", None, "unavailable in its EU region", ""},
		{"amplitude", "https://Analytics.EU.amplitude.com.", None, "unavailable in its EU region", ""},
		{"amplitude", "https://api.in.amplitude.com", None, "no region", ""},
		{"amplitude", "https://api.eu-central.amplitude.com", None, "no region", ""},
		{"amplitude", "https://amplitude-proxy.example.org/amp", Lookup, "", "https://amplitude-proxy.example.org/amp"},
		{"mixpanel", "https://mixpanel.com", Export, "", "https://mixpanel.com"},
		{"segment", "https://api.segmentapis.com", None, "Profile API", ""},
		{"rudderstack", "https://api.rudderstack.com", None, "no access API", ""},
		{"clevertap", "https://eu1.api.clevertap.com", None, "no access client", ""},
	} {
		v := New(tc.vendor, Config{BaseURL: tc.base, Token: []byte("t")})
		if v.Mode() != tc.mode || !strings.Contains(v.Reason(), tc.reason) || (tc.host != "" && v.BaseURL() != tc.host) {
			t.Errorf("%s at %s: mode %s, base %s, reason %q", tc.vendor, tc.base, v.Mode(), v.BaseURL(), v.Reason())
		}
		if tc.mode == None && len(v.Requests([][]byte{[]byte(`"x"`)})) != 0 {
			t.Errorf("%s: a vendor without an access API got calls", tc.vendor)
		}
	}
}

func TestRead(t *testing.T) {
	const secret = "jane.doe@example.com"
	for _, tc := range []struct {
		vendor string
		status int
		body   string
		want   Answer
		reason string // Failed answers: in the reason
	}{
		{"posthog", 200, `{"next":null,"results":[{"uuid":"u1","distinct_ids":["x"],"properties":{"email":"e"}}]}`, Answer{Found: true}, ""},
		{"posthog", 200, `{"next":null,"previous":null,"results":[]}`, Answer{}, ""},
		{"posthog", 200, `{"detail":"` + secret + `"}`, Answer{Failed: true}, "no results list"},
		{"posthog", 401, `{"type":"authentication_error","detail":"` + secret + `"}`, Answer{Failed: true}, "person:read"},
		{"posthog", 429, `{}`, Answer{Failed: true}, "HTTP 429"},
		{"posthog", 500, `{"detail":"` + secret + `"}`, Answer{Failed: true}, "HTTP 500"},
		{"posthog", 200, `<html>` + secret, Answer{Failed: true}, "not JSON"},
		{"amplitude", 200, `{"userData":{"user_id":"x","amp_props":{"plan":"pro"},"cohort_ids":null}}`, Answer{Found: true}, ""},
		{"amplitude", 200, `{"error":"User id and device id not seen before"}`, Answer{}, ""},
		{"amplitude", 400, `{"error":"User id and device id not seen before"}`, Answer{}, ""},
		{"amplitude", 200, `{"error":"Number of requests per minute exceeds system limit"}`, Answer{Failed: true}, "no userData"},
		{"amplitude", 401, `{"error":"not seen before"}`, Answer{Failed: true}, "secret key"},
		{"mixpanel", 200, `{"status":"ok","results":{"task_id":"mp-77"}}`, Answer{Job: "mp-77"}, ""},
		{"mixpanel", 200, `{"status":"ok","results":[{"status":"PENDING","tracking_id":"1583792934719392965","requesting_user":"dpo@example.com"}]}`, Answer{Job: "1583792934719392965"}, ""},
		{"mixpanel", 201, `{"status":"ok","results":{"task_id":"a\nb"}}`, Answer{Job: "a?b"}, ""},
		{"mixpanel", 200, `{"status":"ok","results":{}}`, Answer{Failed: true}, "no retrieval task"},
		{"mixpanel", 403, `{"error":"` + secret + `"}`, Answer{Failed: true}, "GDPR OAuth token"},
	} {
		got := New(tc.vendor, Config{}).Read(tc.status, []byte(tc.body))
		reason := got.Reason
		got.Reason = ""
		if got != tc.want || !strings.Contains(reason, tc.reason) || strings.Contains(reason, secret) {
			t.Errorf("%s %d %s: %+v (%q)", tc.vendor, tc.status, tc.body, got, reason)
		}
	}
}

// FuzzRead: any answer is read without a panic, and a failure's reason
// is one of the fixed templates (filled with the vendor's name and the
// HTTP status only): nothing of the answer reaches it. Filter keeps only
// results about the id asked for, as JSON.
func FuzzRead(f *testing.F) {
	for _, s := range []string{`{"results":[]}`, `{"userData":{}}`, `{"results":{"task_id":"x"}}`, `{"results":[{"tracking_id":"1"}]}`, `{"error":"not seen before"}`, `nul`,
		`{"results":[{"distinct_ids":["id-1"]},{"distinct_ids":["other"]}]}`, `{"userData":{"user_id":"id-1"}}`} {
		f.Add("posthog", 200, s)
		f.Add("amplitude", 400, s)
		f.Add("mixpanel", 201, s)
	}
	f.Fuzz(func(t *testing.T, vendor string, status int, body string) {
		v := New(vendor, Config{})
		a := v.Read(status, []byte(body))
		if a.Failed && !allowedReason(vendor, status, a.Reason) {
			t.Errorf("reason not of a fixed template: %q", a.Reason)
		}
		if len(a.Job) > 128 {
			t.Errorf("job of %d bytes", len(a.Job))
		}
		kept, dropped, err := v.Filter(Request{ID: []byte(`"id-1"`)}, status, []byte(body))
		if err != nil || dropped == 0 {
			return
		}
		if !gjson.ValidBytes(kept) {
			t.Fatalf("filtered answer is not JSON: %s", kept)
		}
		for _, p := range gjson.GetBytes(kept, "results").Array() {
			if !strings.Contains(p.Get("distinct_ids").Raw, `"id-1"`) {
				t.Errorf("kept a result about someone else: %s", p.Raw)
			}
		}
	})
}

func allowedReason(vendor string, status int, reason string) bool {
	for _, r := range []string{
		fmt.Sprintf("%s answered HTTP %d with a body that is not JSON", vendor, status),
		vendor + " is rate limiting the account (HTTP 429): retry later",
		fmt.Sprintf("%s refused the credentials (HTTP %d): check rights.vendors.%s.token%s", vendor, status, vendor, scopeHint(vendor)),
		fmt.Sprintf("%s refused the request (HTTP %d; see data for its answer)", vendor, status),
		"posthog's answer has no results list",
		"amplitude's answer has no userData",
		"mixpanel's answer names no retrieval task",
		"no access client for " + vendor,
	} {
		if reason == r {
			return true
		}
	}
	return false
}
