package amplitude

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/formatstest"
)

func init() { now = func() time.Time { return time.UnixMilli(1777630800999) } }

// TestGolden runs every testdata/*.http request through its route under the
// default policy and compares with the .golden file next to it.
// Regenerate with: go test ./formats/amplitude -run Golden -update
func TestGolden(t *testing.T) {
	formatstest.Golden(t, Routes(), nil, func(t *testing.T, _ *formatstest.Request, o *formatstest.Outcome) {
		if !json.Valid(o.Body) {
			t.Fatalf("output is not valid JSON: %s", o.Body)
		}
		formatstest.AssertNoSeeds(t, o.Body)
		for _, k := range []string{`"idfa"`, `"adid"`, `"idfv"`, `"android_id"`, `"carrier"`} {
			if strings.Contains(string(o.Body), k) {
				t.Errorf("device or network key %s survived", k)
			}
		}
	})
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent.
func TestKeptFields(t *testing.T) {
	formatstest.AssertKept(t, Routes(), []formatstest.Kept{
		{Name: "amplitude_node", Paths: []string{
			"api_key", "options", "client_upload_time",
			"events.0.time", "events.0.insert_id", "events.0.event_type", "events.0.event_id",
			"events.0.library", "events.0.user_properties.$set.plan",
			"events.1.event_type", "events.1.city", "events.1.country", "events.1.session_id", "events.1.platform",
			"events.1.os_name", "events.1.language", "events.1.price", "events.1.quantity", "events.1.revenue",
			"events.1.event_properties.total",
		}},
		{Name: "amplitude_go", Paths: []string{"api_key", "events.0.insert_id", "events.0.library", "events.1.event_properties.total"}},
		{Name: "amplitude_batch_group", Paths: []string{"options", "events.0.event_type", "events.0.plan", "events.0.ingestion_metadata", "events.0.group_properties.$set.employees"}},
	}, nil)
}

func TestMaskedFields(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "amplitude_node"), formatstest.NewEnv(t, nil))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	checks := map[string]func(gjson.Result) bool{
		"events.0.user_id":                     func(v gjson.Result) bool { return len(v.Str) == 64 },
		`events.0.user_properties.\$set.email`: func(v gjson.Result) bool { return strings.HasPrefix(v.Str, "tok:t1:") },
		`events.0.user_properties.\$set.name`:  func(v gjson.Result) bool { return !v.Exists() },
		"events.0.ip":                          func(v gjson.Result) bool { return v.Str == "203.0.113.0" },
		"events.1.location_lat":                func(v gjson.Result) bool { return v.Raw == "37.77" },
		"events.1.location_lng":                func(v gjson.Result) bool { return v.Raw == "-122.42" },
		"events.1.event_properties.comment":    func(v gjson.Result) bool { return v.Str == "mail me: [email]" },
	}
	for p, ok := range checks {
		if v := gjson.GetBytes(o.Body, p); !ok(v) {
			t.Errorf("%s = %s", p, v.Raw)
		}
	}
}

func TestDetect(t *testing.T) {
	cases := map[string]bool{
		`{"api_key":"k","events":[]}`:     true,
		`{"events":[{"event_type":"x"}]}`: true,
		`{"api_key":"k","batch":[]}`:      false,
		`[{"event":"x"}]`:                 false,
		`not json`:                        false,
	}
	for body, want := range cases {
		if got := Detect(nil, []byte(body)); got != want {
			t.Errorf("Detect(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestAccounts(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{"api_key":"AMP_API_KEY","events":[]}`, []string{"AMP_API_KEY"}},
		{`{"events":[],"api_key":"K\u0031"}`, []string{"K1"}},
		{`{"events":[]}`, nil},
		{`{"api_key":42,"events":[]}`, []string{"42"}},
	}
	for _, c := range cases {
		var got []string
		for _, a := range Accounts(nil, nil, []byte(c.body)) {
			got = append(got, string(a))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Accounts(%s) = %q, want %q", c.body, got, c.want)
		}
	}
}

// TestSuppressed drops a suppressed subject's events and answers with
// Amplitude's own success body when nothing is left.
func TestSuppressed(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "amplitude_node"), formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	want := `{"code":200,"events_ingested":2,"payload_size_bytes":1234,"server_upload_time":1777630800999}`
	if !o.Res.AllDropped || o.Res.Suppressed != 2 || o.Reply != want || !strings.HasPrefix(o.ReplyType, "application/json") {
		t.Errorf("got %+v reply %s, want all dropped and %s", o.Res, o.Reply, want)
	}

	body := `{"api_key":"K","events":[{"event_type":"a","device_id":"dev-1"},{"event_type":"b","device_id":"dev-2"}]}`
	out, res, err := Clean(nil, []byte(body), formatstest.NewEnv(t, formatstest.Suppress("dev-1")))
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsOut != 1 || !json.Valid(out) || gjson.GetBytes(out, "events.#").Int() != 1 || gjson.GetBytes(out, "events.0.event_type").Str != "b" {
		t.Errorf("got %s %+v", out, res)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// Amplitude's decoder does.
func TestDuplicateKeys(t *testing.T) {
	body := `{"api_key":"K","events":[{"event_type":"x","user_id":"user-1","user_id":"user-42"}]}`
	_, res, err := Clean(nil, []byte(body), formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if err != nil || !res.AllDropped {
		t.Errorf("the last user_id was not checked: %+v %v", res, err)
	}
}

func TestErrorsCarryNoValues(t *testing.T) {
	bodies := []string{
		`{"api_key":"k","events":[{"event_type":"x","user_id":["jane.doe@example.com"]}]}`,
		`{"api_key":"jane.doe@example.com","api_key":"x","events":[]}`,
		`{"api_key":"k","events":["jane.doe@example.com"]}`,
		`{"api_key":"k","events":[{"event_type":"x","user_id":"jane.doe@example.com"`,
	}
	formatstest.AssertRefusals(t, bodies, func(b []byte) error {
		_, _, err := Clean(nil, b, formatstest.NewEnv(t, nil))
		return err
	})
}

func TestClassify(t *testing.T) {
	cases := []struct{ path, key, want string }{
		{"idfa", "idfa", "device.ad_id"},
		{"android_id", "android_id", "device.vendor_id"},
		{"location_lat", "location_lat", "geo.lat"},
		{"user_properties.$set.name", "name", "person.name"},
		{"user_properties.name", "name", "person.name"},
		{"event_properties.name", "name", ""},
		{"group_properties.$set.name", "name", ""},
		{"event_properties.e-mail", "e-mail", "contact.email"},
		{"event_properties.library", "library", ""},
		{"plan.branch", "branch", "app.info"},
		{"plan.branch.x", "x", ""},
		{"api_key", "api_key", "auth.account"},
	}
	for _, c := range cases {
		if got := (Classifier{}).Classify("event", c.path, c.key); got != c.want {
			t.Errorf("Classify(%q, %q) = %q, want %q", c.path, c.key, got, c.want)
		}
	}
}
