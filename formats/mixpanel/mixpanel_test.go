package mixpanel

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/formats/vendorkit"
)

// payloads decodes the data parameters of a query string or form body (or
// returns a JSON body as is).
func payloads(t testing.TB, src []byte) [][]byte {
	t.Helper()
	if isJSON(src) {
		return [][]byte{src}
	}
	ps, err := vendorkit.SplitParams(nil, src)
	if err != nil {
		t.Fatalf("output parameters do not parse: %v", err)
	}
	var out [][]byte
	for _, p := range ps {
		if p.Data {
			plain, _, err := vendorkit.DecodeData(nil, p.Value)
			if err != nil {
				t.Fatalf("output data does not decode: %v", err)
			}
			out = append(out, plain)
		}
	}
	return out
}

// goldenText is the outcome plus the decoded cleaned payloads.
func goldenText(t *testing.T, o *formatstest.Outcome) string {
	s := o.Text()
	if o.Err != nil || o.Res.AllDropped {
		return s
	}
	for _, p := range payloads(t, []byte(o.Query)) {
		s += "decoded query data:\n" + string(p) + "\n"
	}
	if len(o.Body) > 0 && !isJSON(o.Body) {
		for _, p := range payloads(t, o.Body) {
			s += "decoded body data:\n" + string(p) + "\n"
		}
	}
	return s
}

// TestGolden runs every testdata/*.http request through its route under the
// default policy and compares with the .golden file next to it.
// Regenerate with: go test ./formats/mixpanel -run Golden -update
func TestGolden(t *testing.T) {
	formatstest.Golden(t, Routes(), goldenText, func(t *testing.T, _ *formatstest.Request, o *formatstest.Outcome) {
		for _, src := range [][]byte{[]byte(o.Query), o.Body} {
			formatstest.AssertNoSeeds(t, src)
			for _, p := range payloads(t, src) {
				if !validPayload(p) {
					t.Fatalf("cleaned payload is not JSON: %s", p)
				}
				formatstest.AssertNoSeeds(t, p)
				for _, k := range []string{`"idfa"`, `"$carrier"`, `"$wifi"`, `"$radio"`, `"$bluetooth_enabled"`} {
					if bytes.Contains(p, []byte(k)) {
						t.Errorf("device or network key %s survived", k)
					}
				}
			}
		}
	})
}

// validPayload accepts JSON or NDJSON.
func validPayload(p []byte) bool {
	if json.Valid(p) {
		return true
	}
	for _, l := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		if !json.Valid(l) {
			return false
		}
	}
	return true
}

// TestReencoding checks that the payload goes back in the encoding it came
// in: raw base64 with literal '+' for the node client's form bodies,
// percent-encoded base64 for queries and mixpanel-js, percent-encoded JSON
// for plain JSON, and the other parameters as sent unless cleaned.
func TestReencoding(t *testing.T) {
	routes := Routes()
	cases := []struct {
		name      string
		check     func(o formatstest.Outcome) bool
		wantQuery string
	}{
		{"node_track_batch_post", func(o formatstest.Outcome) bool {
			d := strings.TrimPrefix(string(o.Body), "data=")
			_, err := base64.StdEncoding.DecodeString(d)
			return strings.HasPrefix(string(o.Body), "data=") && !strings.Contains(d, "%") && err == nil && strings.ContainsAny(d, "+/")
		}, "ip=0&verbose=0"},
		{"node_track_get", func(o formatstest.Outcome) bool {
			return strings.Contains(o.Query, "&data=") && strings.Contains(o.Query, "%3D")
		}, ""},
		{"js_track_post", func(o formatstest.Outcome) bool { return strings.Contains(string(o.Body), "%") }, "verbose=1&ip=0&_=1777630800123"},
		{"json_data_get", func(o formatstest.Outcome) bool { return strings.HasPrefix(o.Query, "data=%7B%22event%22") }, ""},
		{"json_import", func(o formatstest.Outcome) bool { return json.Valid(o.Body) && o.Body[0] == '[' }, "strict=1&project_id=12345"},
		{"ndjson_import", func(o formatstest.Outcome) bool {
			return bytes.Count(o.Body, []byte("\n")) == 2 && validPayload(o.Body)
		}, "strict=1&project_id=12345"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := formatstest.Serve(t, routes, formatstest.Load(t, c.name), formatstest.NewEnv(t, nil))
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if !c.check(o) {
				t.Errorf("wrong encoding: query %q body %q", o.Query, o.Body)
			}
			if c.wantQuery != "" && o.Query != c.wantQuery {
				t.Errorf("query %q, want %q", o.Query, c.wantQuery)
			}
		})
	}
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent (inside the decoded payload).
func TestKeptFields(t *testing.T) {
	formatstest.AssertKept(t, Routes(), []formatstest.Kept{
		{Name: "node_track_get", Paths: []string{"event", "properties.token", "properties.total", "properties.time", "properties.$insert_id", "properties.mp_lib", "properties.$lib_version"}},
		{Name: "node_engage_get", Paths: []string{"$token", "$set.plan", "$set.$city"}},
		{Name: "node_track_batch_post", Paths: []string{"0.event", "1.event", "1.properties.total", "1.properties.token"}},
		{Name: "js_track_post", Paths: []string{"0.properties.$os", "0.properties.$browser", "0.properties.$browser_version", "0.properties.$screen_height", "0.properties.time", "0.properties.$initial_referrer"}},
		{Name: "groups_get", Paths: []string{"$token", "$group_key", "$group_id", "$set.$name", "$set.employees"}},
	}, func(t testing.TB, req *formatstest.Request, o *formatstest.Outcome) ([]byte, []byte) {
		src, out := []byte(req.RawQuery), []byte(o.Query)
		if req.Method == "POST" {
			src, out = req.Body, o.Body
		}
		return payloads(t, src)[0], payloads(t, out)[0]
	})
}

// TestDeviceIDFollowsPolicy checks that $device_id is an id.device, so the
// policy decides: the default policy turns other vendors' device ids into
// keyed pseudonyms, since callers may put an advertising id there (as the
// node capture in sdk-formats.md §3.5 does).
func TestDeviceIDFollowsPolicy(t *testing.T) {
	for _, kind := range []string{KindEvent, KindProfile} {
		path := "properties.$device_id"
		if kind == KindProfile {
			path = "$device_id"
		}
		if c := (Classifier{}).Classify(kind, path, "$device_id"); c != "id.device" {
			t.Errorf("%s %s classified %q", kind, path, c)
		}
	}
}

func TestAccounts(t *testing.T) {
	routes := Routes()
	cases := map[string][]string{
		"node_engage_get":       {"MP_TOKEN"},
		"node_track_get":        {"MP_TOKEN"},
		"node_track_batch_post": {"MP_TOKEN", "MP_TOKEN"},
		"js_track_post":         {"MP_TOKEN"},
		"json_import":           nil,
		"groups_get":            {"MP_TOKEN"},
		"json_data_get":         {"MP_TOKEN"},
	}
	for name, want := range cases {
		o := formatstest.Serve(t, routes, formatstest.Load(t, name), formatstest.NewEnv(t, nil))
		if !slices.Equal(o.Accounts, want) {
			t.Errorf("%s: accounts %q, want %q", name, o.Accounts, want)
		}
	}
	// Tokens in query and body are both reported, so that the proxy sees a
	// disagreement.
	req := &formatstest.Request{Method: "POST", Path: "/track", RawQuery: "data=" + base64.StdEncoding.EncodeToString([]byte(`{"event":"a","properties":{"token":"A"}}`)),
		Body: []byte(`[{"event":"b","properties":{"token":"B"}}]`)}
	if got := formatstest.Serve(t, routes, req, formatstest.NewEnv(t, nil)).Accounts; !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("accounts %q, want A and B", got)
	}
}

// TestReply checks Mixpanel's success replies for requests whose records
// were all dropped.
func TestReply(t *testing.T) {
	routes := Routes()
	data := base64.StdEncoding.EncodeToString([]byte(`{"event":"x","properties":{"distinct_id":"user-42","token":"T"}}`))
	cases := []struct {
		method, path, query, body string
		want, ctype               string
	}{
		{"GET", "/track", "ip=0&verbose=0&data=" + data, "", "1", "application/json"},
		{"GET", "/track/", "verbose=1&data=" + data, "", `{"status":1,"error":null}`, "application/json"},
		{"GET", "/track/", "callback=mixpanel._jsc.a1&data=" + data, "", "mixpanel._jsc.a1(1)", "application/javascript"},
		{"GET", "/track/", "callback=alert(1)&data=" + data, "", "1", "application/json"},
		{"POST", "/import", "strict=1", `[{"event":"x","properties":{"distinct_id":"user-42"}},{"event":"y","properties":{"distinct_id":"user-42"}}]`,
			`{"code":200,"num_records_imported":2,"status":"OK"}`, "application/json"},
		{"POST", "/track", "ip=0", "data=" + data, "1", "application/json"},
	}
	for _, c := range cases {
		req := &formatstest.Request{Method: c.method, Path: c.path, RawQuery: c.query, Body: []byte(c.body), Headers: map[string]string{}}
		o := formatstest.Serve(t, routes, req, formatstest.NewEnv(t, formatstest.Suppress("user-42")))
		if o.Err != nil {
			t.Errorf("%s %s?%s: %v", c.method, c.path, c.query, o.Err)
			continue
		}
		if !o.Res.AllDropped || o.Reply != c.want || !strings.HasPrefix(o.ReplyType, c.ctype) {
			t.Errorf("%s %s?%s: reply %q (%s), want %q (%s); %+v", c.method, c.path, c.query, o.Reply, o.ReplyType, c.want, c.ctype, o.Res)
		}
	}
}

// TestPartialDrop keeps the other records and re-encodes.
func TestPartialDrop(t *testing.T) {
	req := formatstest.Load(t, "node_track_batch_post")
	o := formatstest.Serve(t, Routes(), req, formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	p := payloads(t, o.Body)
	if o.Res.RecordsOut != 1 || o.Res.Suppressed != 1 || len(p) != 1 || gjson.GetBytes(p[0], "#").Int() != 1 ||
		gjson.GetBytes(p[0], "0.properties.note").Str != "a>>b??~~" {
		t.Errorf("got %+v %s", o.Res, p)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// Mixpanel's decoder does.
func TestDuplicateKeys(t *testing.T) {
	o := formatstest.Serve(t, Routes(), formatstest.Load(t, "duplicate_distinct_id"), formatstest.NewEnv(t, formatstest.Suppress("user-42")))
	if o.Err != nil || !o.Res.AllDropped {
		t.Errorf("the last $distinct_id was not checked: %+v %v", o.Res, o.Err)
	}
}

func TestErrorsCarryNoValues(t *testing.T) {
	enc := func(s string) string { return "data=" + base64.StdEncoding.EncodeToString([]byte(s)) }
	bodies := []string{
		enc(`{"event":"x","properties":{"distinct_id":{"jane.doe@example.com":1}}}`),
		enc(`{"event":"x","properties":{"token":"jane.doe@example.com","token":"y"}}`),
		enc(`["jane.doe@example.com"]`),
		enc(`{"properties":{"email":"jane.doe@example.com"}}`),
		enc(`{"event":"x","properties":"jane.doe@example.com"}`),
		"data=jane.doe@example.com",
		"data=%zzjane",
		"x=jane.doe%ff&" + enc(`{"event":"x"}`),
	}
	formatstest.AssertRefusals(t, bodies, func(b []byte) error {
		_, _, err := Clean(nil, b, formatstest.NewEnv(t, nil), KindEvent)
		return err
	})
}
