package erasure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/masking"
)

// testConfigs are complete accounts with fake credentials.
var testConfigs = map[string]Config{
	CleverTap:   {BaseURL: "https://eu1.api.clevertap.com", Token: []byte("ct-passcode"), Account: "TEST-RK4-654-R75Z"},
	Segment:     {Token: []byte("sgp_public_api_token")},
	RudderStack: {Token: []byte("rs-service-token"), DestinationIDs: []string{"2bNL5mPdkR", "2bNL6xYQ8e"}},
	Amplitude:   {Token: []byte("amp-secret-key"), APIKey: "amp-api-key"},
	Mixpanel:    {Token: []byte("mp-gdpr-oauth-token"), ProjectToken: "mp project token"},
	PostHog:     {BaseURL: "https://eu.posthog.com/", Token: []byte("phx_personal_key"), ProjectID: "1234"},
}

func render(r Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "\n%s\n", r.Body)
	return b.String()
}

// Each vendor's deletion call for one person under the default policy
// (identifiers hashed): golden files in testdata/<vendor>.golden. The raw
// identifier never appears; the pseudonym is the one the policy writes.
func TestRequestGolden(t *testing.T) {
	const person = "user-42@example.com"
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			v, err := New(name, testConfigs[name])
			if err != nil {
				t.Fatal(err)
			}
			env := formatstest.NewEnv(t, nil)
			ids, err := v.SubjectIDs(nil, env, false, []byte(person))
			if err != nil || len(ids) != 1 {
				t.Fatalf("ids %q, %v", ids, err)
			}
			got := render(v.Request(ids, false))
			if strings.Contains(got, person) {
				t.Error("the raw identifier reaches the vendor")
			}
			if !strings.Contains(got, string(ids[0])) {
				t.Errorf("the request does not name the pseudonym %s", ids[0])
			}
			formatstest.CheckGolden(t, name, got)
		})
	}
	v, _ := New(CleverTap, testConfigs[CleverTap])
	ids, err := v.SubjectIDs(nil, formatstest.NewEnv(t, nil), true, []byte("df2e224d90874887b4d61153ef3a2508"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("device ids %q, %v", ids, err)
	}
	formatstest.CheckGolden(t, "clevertap_guid", render(v.Request(ids, true)))
}

// The pseudonym is what the policy writes for the identifier: the keyed
// hash of the tenant key (the default policy hashes id.user everywhere).
func TestSubjectIDsArePseudonyms(t *testing.T) {
	env := formatstest.NewEnv(t, nil)
	want := string(hashOf(t, "person-7"))
	for _, name := range Names {
		v, _ := New(name, testConfigs[name])
		ids, err := v.SubjectIDs(nil, env, false, []byte("person-7"))
		if err != nil || len(ids) != 1 || string(ids[0]) != want {
			t.Errorf("%s: %q %v, want [%s]", name, ids, err, want)
		}
	}
}

func hashOf(t *testing.T, id string) []byte {
	tr := formatstest.Applier(t)
	d := masking.Decision{Action: masking.ActionHash}
	out, _, _, err := tr.Apply(nil, &d, masking.AppendQuote(nil, []byte(id)), masking.TypeString)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A policy that drops user ids leaves nothing to delete: the vendor never
// received the person.
func TestSubjectIDsDropped(t *testing.T) {
	env := formatstest.DropEnv(t)
	for _, name := range Names {
		v, _ := New(name, testConfigs[name])
		ids, err := v.SubjectIDs(nil, env, false, []byte("person-7"))
		if err != nil || len(ids) != 0 {
			t.Errorf("%s: %q %v", name, ids, err)
		}
	}
}

func TestDeviceOnlyAtCleverTap(t *testing.T) {
	for _, name := range Names {
		v, _ := New(name, testConfigs[name])
		_, err := v.SubjectIDs(nil, formatstest.NewEnv(t, nil), true, []byte("dev-1"))
		if got := errors.Is(err, ErrDeviceUnsupported); got != (name != CleverTap) {
			t.Errorf("%s: device erasure error %v", name, err)
		}
	}
}

func TestAnswer(t *testing.T) {
	f := func(vendor string, status int, body string, accepted bool, job, reason string) {
		t.Helper()
		v, err := New(vendor, testConfigs[vendor])
		if err != nil {
			t.Fatal(err)
		}
		o := v.answer(status, []byte(body), 1)
		if o.Accepted != accepted || o.Job != job || !strings.Contains(o.Reason, reason) || o.HTTPStatus != status {
			t.Errorf("%s %d %q: %+v", vendor, status, body, o)
		}
	}
	f(CleverTap, 200, `{"status":"success"}`, true, "", "")
	f(CleverTap, 200, ``, true, "", "")
	f(CleverTap, 200, `{"status":"fail","error":"Invalid passcode","code":401}`, false, "", "status fail")
	f(CleverTap, 200, `<html>`, false, "", "not JSON")
	f(CleverTap, 500, `{"status":"fail"}`, false, "", "HTTP 500")
	f(Segment, 200, `{"data":{"regulateId":"2YJw5Sq6TZ"}}`, true, "2YJw5Sq6TZ", "")
	f(Segment, 200, `{"data":{}}`, false, "", "regulateId")
	f(Segment, 200, `garbage`, false, "", "regulateId")
	f(Segment, 422, `{"errors":[{"type":"validation","message":"user@example.com"}]}`, false, "", "HTTP 422")
	f(Segment, 429, ``, false, "", "rate limited")
	f(Segment, 401, ``, false, "", "credentials refused")
	f(RudderStack, 201, `[{"id":"reg-1","workspaceId":"w"}]`, true, "reg-1", "")
	f(RudderStack, 200, `{"id":"reg-2"}`, true, "reg-2", "")
	f(RudderStack, 204, ``, false, "", "not JSON")
	f(Amplitude, 200, `{"day":"2026-12-05","status":"staging","amplitude_ids":[]}`, true, "2026-12-05", "")
	f(Amplitude, 400, `{"error":"invalid"}`, false, "", "HTTP 400")
	f(Mixpanel, 200, `{"status":"ok","results":{"task_id":"6f1b"}}`, true, "6f1b", "")
	f(Mixpanel, 201, `{"status":"ok","results":{"task_id":12}}`, true, "12", "")
	f(Mixpanel, 200, `{"status":"ok"}`, false, "", "task_id")
	f(PostHog, 202, `{"persons_found":1,"persons_deleted":1,"deletion_errors":[]}`, true, "", "deleted 1")
	f(PostHog, 202, `{"persons_found":1,"persons_deleted":0,"deletion_errors":[{"person_uuid":"u"}]}`, false, "", "could not be deleted")
	f(PostHog, 302, ``, false, "", "HTTP 302")
	// The vendor did not know the id: accepted, but flagged (all of the n
	// ids unknown) or counted (some of them: a numeric id is sent twice).
	for _, c := range []struct {
		vendor, body string
		n            int
		unknown      bool
		reason       string
	}{
		{Amplitude, `{"day":"2026-12-05","invalid_ids":["a"]}`, 1, true, UnknownIDReason},
		{Amplitude, `{"day":"2026-12-05","invalid_ids":["a"]}`, 2, false, "1 of 2 ids unknown"},
		{Amplitude, `{"day":"2026-12-05","invalid_ids":[]}`, 1, false, ""},
		{PostHog, `{"persons_found":0,"persons_deleted":0,"deletion_errors":[]}`, 2, true, UnknownIDReason},
		{PostHog, `{"persons_found":1,"persons_deleted":1,"deletion_errors":[]}`, 2, false, "deleted 1"},
	} {
		v, _ := New(c.vendor, testConfigs[c.vendor])
		if o := v.answer(200, []byte(c.body), c.n); !o.Accepted || o.UnknownID != c.unknown || !strings.Contains(o.Reason, c.reason) {
			t.Errorf("%s %s (%d ids): %+v", c.vendor, c.body, c.n, o)
		}
	}
	// A hostile job id cannot forge log lines or grow without bound.
	f(Segment, 200, `{"data":{"regulateId":"a\nb"}}`, true, "a?b", "")
	f(Segment, 200, `{"data":{"regulateId":"`+strings.Repeat("x", 300)+`"}}`, true, strings.Repeat("x", 128), "")
}

func TestNewErrors(t *testing.T) {
	f := func(vendor string, cfg Config, want string) {
		t.Helper()
		_, err := New(vendor, cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s %+v: %v, want %q", vendor, cfg, err, want)
		}
	}
	f("heap", Config{}, "unknown vendor")
	f(Segment, Config{}, "token: required")
	f(Segment, Config{Token: []byte("t"), BaseURL: "ftp://x"}, "base_url")
	f(Segment, Config{Token: []byte("t"), BaseURL: "https://x/?a=1"}, "base_url")
	// Plain http only to this machine: the token would travel in clear.
	f(Segment, Config{Token: []byte("t"), BaseURL: "http://api.segmentapis.com"}, "not loopback")
	f(Segment, Config{Token: []byte("t"), BaseURL: "http://10.0.0.8:8080"}, "not loopback")
	f(CleverTap, Config{Token: []byte("t"), Account: "A", BaseURL: "http://eu1.api.clevertap.com"}, "clevertap.rest upstream")
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:80", "https://api.segmentapis.com"} {
		if _, err := New(Segment, Config{Token: []byte("t"), BaseURL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	f(CleverTap, Config{Token: []byte("t")}, "base_url: required")
	f(CleverTap, Config{Token: []byte("t"), BaseURL: "https://x"}, "account: required")
	f(Amplitude, Config{Token: []byte("t")}, "api_key")
	f(Mixpanel, Config{Token: []byte("t")}, "project_token")
	f(PostHog, Config{Token: []byte("t")}, "project_id")
	f(RudderStack, Config{Token: []byte("t")}, "destination_ids")
}

// Do over loopback: the request arrives as built; a timeout and a refused
// connection are failures without an HTTP status.
func TestDo(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		if r.Header.Get("Authorization") != "Bearer phx_personal_key" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(202)
		fmt.Fprint(w, `{"persons_found":0,"persons_deleted":0,"deletion_errors":[]}`)
	}))
	defer srv.Close()
	cfg := testConfigs[PostHog]
	cfg.BaseURL = srv.URL
	v, _ := New(PostHog, cfg)
	o := v.Do(context.Background(), [][]byte{[]byte(`"abc"`)}, false)
	if !o.Accepted || o.HTTPStatus != 202 || got.URL.Path != "/api/projects/1234/persons/bulk_delete/" {
		t.Errorf("%+v %v", o, got.URL)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
	defer slow.Close()
	cfg.BaseURL = slow.URL
	v, _ = New(PostHog, cfg, WithTimeout(50*time.Millisecond))
	if o := v.Do(context.Background(), [][]byte{[]byte(`"abc"`)}, false); o.Accepted || o.HTTPStatus != 0 || o.Reason != "no answer in time" {
		t.Errorf("timeout: %+v", o)
	}
	cfg.BaseURL = "http://127.0.0.1:1"
	v, _ = New(PostHog, cfg)
	if o := v.Do(context.Background(), [][]byte{[]byte(`"abc"`)}, false); o.Accepted || o.Reason != "cannot reach the vendor" {
		t.Errorf("refused: %+v", o)
	}
}

// The answer parsers never panic, accept only 2xx, and keep job ids short
// and printable whatever the vendor sends.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{`{"data":{"regulateId":"x"}}`, `[{"id":"r"}]`, `{"day":"2026-01-01"}`, `{"results":{"task_id":"t"}}`, `{"persons_found":1,"deletion_errors":[{}]}`, `{"status":"fail"}`, ``, `nul`} {
		f.Add(200, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		for _, name := range Names {
			v, _ := New(name, testConfigs[name])
			o := v.answer(status, []byte(body), 1)
			if o.Accepted && (status < 200 || status > 299) {
				t.Fatalf("%s accepted HTTP %d", name, status)
			}
			if len(o.Job) > 128 || strings.ContainsFunc(o.Job, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Fatalf("%s job %q", name, o.Job)
			}
			if strings.Contains(o.Reason, body) && len(body) > 3 {
				t.Fatalf("%s reason quotes the answer", name)
			}
		}
	})
}
