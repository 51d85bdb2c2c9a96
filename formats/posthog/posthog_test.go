package posthog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
)

func loadCase(t *testing.T, name string) *request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	return parseRequest(t, b)
}

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
	files, err := filepath.Glob("testdata/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	routes := Routes()
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".http")
		t.Run(name, func(t *testing.T) {
			o := serve(t, routes, loadCase(t, name), newEnv(t, nil))
			text := o.text()
			if o.err == nil && strings.HasPrefix(string(o.body), "data=") {
				text += "decoded body data:\n" + string(jsonOf(t, o.body)) + "\n"
			}
			checkGolden(t, name, text)
			if strings.HasPrefix(name, "bad_") {
				if o.err == nil || o.err.Status != 400 {
					t.Fatalf("malformed request: got %v, want a 400", o.err)
				}
				return
			}
			if o.err != nil {
				t.Fatalf("cleaning failed: %v", o.err)
			}
			js := jsonOf(t, o.body)
			if !json.Valid(js) {
				t.Fatalf("output is not valid JSON: %s", js)
			}
			assertNoSeeds(t, o.body)
			assertNoSeeds(t, js)
			for _, k := range []string{`"$idfa"`, `"$network_carrier"`, `"$network_wifi"`} {
				if strings.Contains(string(js), k) {
					t.Errorf("device or network key %s survived", k)
				}
			}
		})
	}
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent.
func TestKeptFields(t *testing.T) {
	cases := []struct {
		name  string
		paths []string
	}{
		{"node_batch", []string{"api_key", "sent_at", "batch.0.event", "batch.0.uuid", "batch.0.timestamp",
			"batch.0.properties.$set.plan", "batch.0.properties.$lib", "batch.0.properties.$geoip_disable",
			"batch.1.properties.total"}},
		{"go_batch", []string{"api_key", "batch.0.type", "batch.0.library", "batch.0.library_version", "batch.0.properties",
			"batch.2.event", "batch.3.properties.$group_type", "batch.3.properties.$group_key",
			"batch.3.properties.$group_set.name", "batch.3.properties.$group_set.employees"}},
		{"js_e_array", []string{"0.event", "0.uuid", "0.properties.$os", "0.properties.$host", "0.properties.$pathname",
			"0.properties.$session_id", "0.properties.$window_id", "0.properties.$pageview_id", "0.properties.$insert_id",
			"0.properties.$time", "0.properties.token"}},
		{"js_base64_form", []string{"0.properties.$session_id", "0.properties.token"}},
		{"capture_single", []string{"api_key", "event", "timestamp", "properties.plan", "properties.$lib"}},
	}
	routes := Routes()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := loadCase(t, c.name)
			o := serve(t, routes, req, newEnv(t, nil))
			if o.err != nil {
				t.Fatal(o.err)
			}
			in, out := jsonOf(t, req.body), jsonOf(t, o.body)
			for _, p := range c.paths {
				p = strings.ReplaceAll(p, "$", `\$`)
				a, b := gjson.GetBytes(in, p), gjson.GetBytes(out, p)
				if !a.Exists() {
					t.Fatalf("test path %s is not in the input", p)
				}
				if a.Raw != b.Raw {
					t.Errorf("%s: got %s, want %s", p, b.Raw, a.Raw)
				}
			}
		})
	}
}

// TestGoTopLevelSet checks the Go client's $set beside properties.
func TestGoTopLevelSet(t *testing.T) {
	o := serve(t, Routes(), loadCase(t, "go_batch"), newEnv(t, nil))
	if o.err != nil {
		t.Fatal(o.err)
	}
	set := gjson.GetBytes(o.body, `batch.0.\$set`)
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
		if got := serve(t, routes, loadCase(t, name), newEnv(t, nil)).accounts; !slices.Equal(got, want) {
			t.Errorf("%s: accounts %q, want %q", name, got, want)
		}
	}
}

// TestSuppressed drops a suppressed subject's events and answers with
// PostHog's reply when nothing is left; partial drops keep the shape.
func TestSuppressed(t *testing.T) {
	routes := Routes()
	sub := func() *subjects { return &subjects{suppressed: map[string]bool{"user-42": true}} }
	for _, name := range []string{"node_batch", "capture_single", "batch_noslash"} {
		o := serve(t, routes, loadCase(t, name), newEnv(t, sub()))
		if o.err != nil || !o.res.AllDropped || o.reply != `{"status":1}` {
			t.Errorf("%s: %+v %q %v", name, o.res, o.reply, o.err)
		}
	}
	// The anonymous pageview stays; the identify of the suppressed user goes.
	for _, name := range []string{"js_e_array", "js_base64_form"} {
		o := serve(t, routes, loadCase(t, name), newEnv(t, sub()))
		if o.err != nil || o.res.AllDropped || o.res.RecordsOut != 1 {
			t.Fatalf("%s: %+v %v", name, o.res, o.err)
		}
		js := jsonOf(t, o.body)
		if gjson.GetBytes(js, "#").Int() != 1 || gjson.GetBytes(js, "0.event").Str != "$pageview" {
			t.Errorf("%s: got %s", name, js)
		}
	}
	// A suppressed device (properties.$device_id).
	o := serve(t, routes, loadCase(t, "js_e_array"), newEnv(t, &subjects{suppressed: map[string]bool{"019e1a2b-0000-7000-8000-000000000001": true}}))
	if !o.res.AllDropped {
		t.Errorf("suppressed device: %+v", o.res)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// PostHog's decoder does.
func TestDuplicateKeys(t *testing.T) {
	o := serve(t, Routes(), loadCase(t, "duplicate_distinct_id"), newEnv(t, &subjects{suppressed: map[string]bool{"user-42": true}}))
	if o.err != nil || !o.res.AllDropped {
		t.Errorf("the last distinct_id was not checked: %+v %v", o.res, o.err)
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
	for _, b := range bodies {
		_, _, err := Clean(nil, []byte(b), newEnv(t, nil))
		if err == nil {
			t.Errorf("%s: accepted", b)
			continue
		}
		if fe := formats.AsError(err); strings.Contains(fe.Msg, "jane") || fe.Status != 400 {
			t.Errorf("%s: error %q", b, fe.Msg)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct{ kind, path, key, want string }{
		{"event", "properties.$ip", "$ip", "net.ip"},
		{"event", "properties.$initial_referrer", "$initial_referrer", ""},
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
