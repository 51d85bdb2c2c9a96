package posthog

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/formatstest"
)

// jsonOf is the JSON of a body: itself, or the decoded form payload.
func jsonOf(t testing.TB, body []byte) []byte {
	t.Helper()
	if Detect(nil, body) && !strings.HasPrefix(string(body), "data=") {
		return body
	}
	plain, _, err := formPayload(nil, body)
	if err != nil {
		t.Fatalf("body does not decode: %v", err)
	}
	return plain
}

// TestGolden runs every testdata/*.http request through its route under the
// default policy and compares with the .golden file next to it.
// Regenerate with: go test ./formats/posthog -run Golden -update
func TestGolden(t *testing.T) {
	text := func(t *testing.T, o *formatstest.Outcome) string {
		s := o.Text()
		if o.Err == nil && strings.HasPrefix(string(o.Body), "data=") {
			s += "decoded body data:\n" + string(jsonOf(t, o.Body)) + "\n"
		}
		return s
	}
	formatstest.Golden(t, Routes(), text, func(t *testing.T, _ *formatstest.Request, o *formatstest.Outcome) {
		js := jsonOf(t, o.Body)
		if !json.Valid(js) {
			t.Fatalf("output is not valid JSON: %s", js)
		}
		formatstest.AssertNoSeeds(t, o.Body)
		formatstest.AssertNoSeeds(t, js)
		for _, k := range []string{`"$idfa"`, `"$network_carrier"`, `"$network_wifi"`} {
			if strings.Contains(string(js), k) {
				t.Errorf("device or network key %s survived", k)
			}
		}
	})
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent.
func TestKeptFields(t *testing.T) {
	formatstest.AssertKept(t, Routes(), []formatstest.Kept{
		{Name: "node_batch", Paths: []string{"api_key", "sent_at", "batch.0.event", "batch.0.uuid", "batch.0.timestamp",
			"batch.0.properties.$set.plan", "batch.0.properties.$lib", "batch.0.properties.$geoip_disable",
			"batch.1.properties.total"}},
		{Name: "go_batch", Paths: []string{"api_key", "batch.0.type", "batch.0.library", "batch.0.library_version", "batch.0.properties",
			"batch.2.event", "batch.3.properties.$group_type", "batch.3.properties.$group_key",
			"batch.3.properties.$group_set.name", "batch.3.properties.$group_set.employees"}},
		{Name: "js_e_array", Paths: []string{"0.event", "0.uuid", "0.properties.$os", "0.properties.$host", "0.properties.$pathname",
			"0.properties.$session_id", "0.properties.$window_id", "0.properties.$pageview_id", "0.properties.$insert_id",
			"0.properties.$time", "0.properties.token"}},
		{Name: "js_base64_form", Paths: []string{"0.properties.$session_id", "0.properties.token"}},
		{Name: "capture_single", Paths: []string{"api_key", "event", "timestamp", "properties.plan", "properties.$lib"}},
	}, func(t testing.TB, req *formatstest.Request, o *formatstest.Outcome) ([]byte, []byte) {
		return jsonOf(t, req.Body), jsonOf(t, o.Body)
	})
}

// TestGoTopLevelSet checks the Go client's $set beside properties.
func TestGoTopLevelSet(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "go_batch"), formatstest.NewEnv(t, nil))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	set := gjson.GetBytes(o.Body, `batch.0.\$set`)
	if !strings.HasPrefix(set.Get("email").Str, "tok:t1:") || set.Get(`\$ip`).Str != "203.0.113.0" || set.Get("first_name").Exists() {
		t.Errorf("top-level $set not cleaned: %s", set.Raw)
	}
}

func TestDetect(t *testing.T) {
	cases := map[string]bool{
		`{"api_key":"k","batch":[]}`:  true,
		`[{"event":"x"}]`:             true,
		`{"event":"x","api_key":"k"}`: true,
		`data=W10%3D`:                 true,
		`{"api_key":"k","events":[]}`: false,
		`{"distinct_id":"x"}`:         false,
		``:                            false,
	}
	for body, want := range cases {
		if got := Detect(nil, []byte(body)); got != want {
			t.Errorf("Detect(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestAccounts(t *testing.T) {
	routes := Routes()
	cases := map[string][]string{
		"node_batch":     {"phc_PROJECT_KEY"},
		"go_batch":       {"phc_GO_KEY"},
		"js_e_array":     {"phc_PROJECT_KEY", "phc_PROJECT_KEY"},
		"js_base64_form": {"phc_PROJECT_KEY", "phc_PROJECT_KEY"},
		"capture_single": {"phc_PROJECT_KEY"},
		"batch_noslash":  {"phc_PROJECT_KEY", "phc_PROJECT_KEY"},
	}
	for name, want := range cases {
		if got := formatstest.Serve(t, routes, formatstest.Load(t, name), formatstest.NewEnv(t, nil)).Accounts; !slices.Equal(got, want) {
			t.Errorf("%s: accounts %q, want %q", name, got, want)
		}
	}
}

// TestSuppressed drops a suppressed subject's events and answers with
// PostHog's reply when nothing is left; partial drops keep the shape.
func TestSuppressed(t *testing.T) {
	routes := Routes()
	sub := func() *formatstest.Subjects { return formatstest.Suppress("user-42") }
	for _, name := range []string{"node_batch", "capture_single", "batch_noslash"} {
		o := formatstest.Serve(t, routes, formatstest.Load(t, name), formatstest.NewEnv(t, sub()))
		if o.Err != nil || !o.Res.AllDropped || o.Reply != `{"status":1}` {
			t.Errorf("%s: %+v %q %v", name, o.Res, o.Reply, o.Err)
		}
	}
	// The anonymous pageview stays; the identify of the suppressed user goes.
	for _, name := range []string{"js_e_array", "js_base64_form"} {
		o := formatstest.Serve(t, routes, formatstest.Load(t, name), formatstest.NewEnv(t, sub()))
		if o.Err != nil || o.Res.AllDropped || o.Res.RecordsOut != 1 {
			t.Fatalf("%s: %+v %v", name, o.Res, o.Err)
		}
		js := jsonOf(t, o.Body)
		if gjson.GetBytes(js, "#").Int() != 1 || gjson.GetBytes(js, "0.event").Str != "$pageview" {
			t.Errorf("%s: got %s", name, js)
		}
	}
	// A suppressed device (properties.$device_id).
	o := formatstest.Serve(t, routes, formatstest.Load(t, "js_e_array"), formatstest.NewEnv(t, formatstest.Suppress("019e1a2b-0000-7000-8000-000000000001")))
	if !o.Res.AllDropped {
		t.Errorf("suppressed device: %+v", o.Res)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// PostHog's decoder does.
func TestDuplicateKeys(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "duplicate_distinct_id"), formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil || !o.Res.AllDropped {
		t.Errorf("the last distinct_id was not checked: %+v %v", o.Res, o.Err)
	}
}

func TestErrorsCarryNoValues(t *testing.T) {
	bodies := []string{
		`{"api_key":"k","batch":[{"event":"x","distinct_id":["jane.doe@example.com"]}]}`,
		`{"api_key":"k","batch":[{"event":"x","properties":{"token":"jane.doe@example.com","token":"y"}}]}`,
		`{"api_key":"jane.doe@example.com","api_key":"x","batch":[]}`,
		`["jane.doe@example.com"]`,
		`{"event":"x","properties":{"$device_id":{"a":"jane.doe@example.com"}}}`,
		`data=jane.doe@example.com`,
		`x=jane.doe`,
	}
	formatstest.AssertRefusals(t, bodies, func(b []byte) error {
		_, _, err := Clean(nil, b, formatstest.NewEnv(t, nil))
		return err
	})
}

func TestClassify(t *testing.T) {
	cases := []struct{ kind, path, key, want string }{
		{"event", "properties.$ip", "$ip", "net.ip"},
		{"event", "properties.$initial_referrer", "$initial_referrer", "web.url"},
		{"event", "properties.$initial_os", "$initial_os", "device.info"},
		{"event", "properties.$geoip_city_name", "$geoip_city_name", "geo.location"},
		{"event", "properties.$geoip_latitude", "$geoip_latitude", "geo.lat"},
		{"identify", "$set.name", "name", "person.name"},
		{"identify", "properties.$set.name", "name", "person.name"},
		{"group", "properties.$group_set.name", "name", ""},
		{"event", "properties.name", "name", ""},
		{"event", "properties.$lib.x", "x", ""},
		{"event", "uuid", "uuid", "record.meta"},
		{"identify", "properties.$anon_distinct_id", "$anon_distinct_id", "id.user"},
		{"meta", "api_key", "api_key", "auth.account"},
		{"event", "properties.$device_name", "$device_name", "person.name"},
	}
	for _, c := range cases {
		if got := (Classifier{}).Classify(c.kind, c.path, c.key); got != c.want {
			t.Errorf("Classify(%q, %q, %q) = %q, want %q", c.kind, c.path, c.key, got, c.want)
		}
	}
}
