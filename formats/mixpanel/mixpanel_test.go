package mixpanel

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
)

// payloads decodes the data parameters of a query string or form body (or
// returns a JSON body as is).
func payloads(t testing.TB, src []byte) [][]byte {
	t.Helper()
	if isJSON(src) {
		return [][]byte{src}
	}
	ps, err := splitParams(nil, src)
	if err != nil {
		t.Fatalf("output parameters do not parse: %v", err)
	}
	var out [][]byte
	for _, p := range ps {
		if p.data {
			plain, _, err := decodeData(nil, p.value)
			if err != nil {
				t.Fatalf("output data does not decode: %v", err)
			}
			out = append(out, plain)
		}
	}
	return out
}

// goldenText is the outcome plus the decoded cleaned payloads.
func goldenText(t testing.TB, o outcome) string {
	s := o.text()
	if o.err != nil || o.res.AllDropped {
		return s
	}
	for _, p := range payloads(t, []byte(o.query)) {
		s += "decoded query data:\n" + string(p) + "\n"
	}
	if len(o.body) > 0 && !isJSON(o.body) {
		for _, p := range payloads(t, o.body) {
			s += "decoded body data:\n" + string(p) + "\n"
		}
	}
	return s
}

func loadCase(t *testing.T, name string) *request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	return parseRequest(t, b)
}

// TestGolden runs every testdata/*.http request through its route under the
// default policy and compares with the .golden file next to it.
// Regenerate with: go test ./formats/mixpanel -run Golden -update
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	routes := Routes()
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".http")
		t.Run(name, func(t *testing.T) {
			req := loadCase(t, name)
			o := serve(t, routes, req, newEnv(t, nil))
			checkGolden(t, name, goldenText(t, o))
			if strings.HasPrefix(name, "bad_") {
				if o.err == nil || o.err.Status != 400 {
					t.Fatalf("malformed request: got %v, want a 400", o.err)
				}
				return
			}
			if o.err != nil {
				t.Fatalf("cleaning failed: %v", o.err)
			}
			for _, src := range [][]byte{[]byte(o.query), o.body} {
				assertNoSeeds(t, src)
				for _, p := range payloads(t, src) {
					if !validPayload(p) {
						t.Fatalf("cleaned payload is not JSON: %s", p)
					}
					assertNoSeeds(t, p)
					for _, k := range []string{`"idfa"`, `"$carrier"`, `"$wifi"`, `"$radio"`, `"$bluetooth_enabled"`} {
						if bytes.Contains(p, []byte(k)) {
							t.Errorf("device or network key %s survived", k)
						}
					}
				}
			}
		})
	}
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
		check     func(o outcome) bool
		wantQuery string
	}{
		{"node_track_batch_post", func(o outcome) bool {
			d := strings.TrimPrefix(string(o.body), "data=")
			_, err := base64.StdEncoding.DecodeString(d)
			return strings.HasPrefix(string(o.body), "data=") && !strings.Contains(d, "%") && err == nil && strings.ContainsAny(d, "+/")
		}, "ip=0&verbose=0"},
		{"node_track_get", func(o outcome) bool { return strings.Contains(o.query, "&data=") && strings.Contains(o.query, "%3D") }, ""},
		{"js_track_post", func(o outcome) bool { return strings.Contains(string(o.body), "%") }, "verbose=1&ip=0&_=1777630800123"},
		{"json_data_get", func(o outcome) bool { return strings.HasPrefix(o.query, "data=%7B%22event%22") }, ""},
		{"json_import", func(o outcome) bool { return json.Valid(o.body) && o.body[0] == '[' }, "strict=1&project_id=12345"},
		{"ndjson_import", func(o outcome) bool { return bytes.Count(o.body, []byte("\n")) == 2 && validPayload(o.body) }, "strict=1&project_id=12345"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := serve(t, routes, loadCase(t, c.name), newEnv(t, nil))
			if o.err != nil {
				t.Fatal(o.err)
			}
			if !c.check(o) {
				t.Errorf("wrong encoding: query %q body %q", o.query, o.body)
			}
			if c.wantQuery != "" && o.query != c.wantQuery {
				t.Errorf("query %q, want %q", o.query, c.wantQuery)
			}
		})
	}
}

// TestKeptFields checks that fields the default policy keeps arrive byte for
// byte as sent (inside the decoded payload).
func TestKeptFields(t *testing.T) {
	cases := []struct {
		name  string
		paths []string
	}{
		{"node_track_get", []string{"event", "properties.token", "properties.total", "properties.time", "properties.$insert_id", "properties.mp_lib", "properties.$lib_version"}},
		{"node_engage_get", []string{"$token", "$set.plan", "$set.$city"}},
		{"node_track_batch_post", []string{"0.event", "1.event", "1.properties.total", "1.properties.token"}},
		{"js_track_post", []string{"0.properties.$os", "0.properties.$browser", "0.properties.$browser_version", "0.properties.$screen_height", "0.properties.time", "0.properties.$initial_referrer"}},
		{"groups_get", []string{"$token", "$group_key", "$group_id", "$set.$name", "$set.employees"}},
	}
	routes := Routes()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := loadCase(t, c.name)
			o := serve(t, routes, req, newEnv(t, nil))
			if o.err != nil {
				t.Fatal(o.err)
			}
			src, out := []byte(req.query), []byte(o.query)
			if req.method == "POST" {
				src, out = req.body, o.body
			}
			in, got := payloads(t, src)[0], payloads(t, out)[0]
			for _, p := range c.paths {
				p = strings.ReplaceAll(p, "$", `\$`)
				a, b := gjson.GetBytes(in, p), gjson.GetBytes(got, p)
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
		o := serve(t, routes, loadCase(t, name), newEnv(t, nil))
		if !slices.Equal(o.accounts, want) {
			t.Errorf("%s: accounts %q, want %q", name, o.accounts, want)
		}
	}
	// Tokens in query and body are both reported, so that the proxy sees a
	// disagreement.
	req := &request{method: "POST", path: "/track", query: "data=" + base64.StdEncoding.EncodeToString([]byte(`{"event":"a","properties":{"token":"A"}}`)),
		body: []byte(`[{"event":"b","properties":{"token":"B"}}]`)}
	if got := serve(t, routes, req, newEnv(t, nil)).accounts; !slices.Equal(got, []string{"A", "B"}) {
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
		req := &request{method: c.method, path: c.path, query: c.query, body: []byte(c.body), headers: map[string]string{}}
		o := serve(t, routes, req, newEnv(t, &subjects{suppressed: map[string]bool{"user-42": true}}))
		if o.err != nil {
			t.Errorf("%s %s?%s: %v", c.method, c.path, c.query, o.err)
			continue
		}
		if !o.res.AllDropped || o.reply != c.want || !strings.HasPrefix(o.replyType, c.ctype) {
			t.Errorf("%s %s?%s: reply %q (%s), want %q (%s); %+v", c.method, c.path, c.query, o.reply, o.replyType, c.want, c.ctype, o.res)
		}
	}
}

// TestPartialDrop keeps the other records and re-encodes.
func TestPartialDrop(t *testing.T) {
	req := loadCase(t, "node_track_batch_post")
	o := serve(t, Routes(), req, newEnv(t, &subjects{suppressed: map[string]bool{"user-42": true}}))
	if o.err != nil {
		t.Fatal(o.err)
	}
	p := payloads(t, o.body)
	if o.res.RecordsOut != 1 || o.res.Suppressed != 1 || len(p) != 1 || gjson.GetBytes(p[0], "#").Int() != 1 ||
		gjson.GetBytes(p[0], "0.properties.note").Str != "a>>b??~~" {
		t.Errorf("got %+v %s", o.res, p)
	}
}

// TestDuplicateKeys reads the subject from the last of duplicate keys, as
// Mixpanel's decoder does.
func TestDuplicateKeys(t *testing.T) {
	o := serve(t, Routes(), loadCase(t, "duplicate_distinct_id"), newEnv(t, &subjects{suppressed: map[string]bool{"user-42": true}}))
	if o.err != nil || !o.res.AllDropped {
		t.Errorf("the last $distinct_id was not checked: %+v %v", o.res, o.err)
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
	for _, b := range bodies {
		_, _, err := Clean(nil, []byte(b), newEnv(t, nil), KindEvent)
		if err == nil {
			t.Errorf("%s: accepted", b)
			continue
		}
		if fe := formats.AsError(err); strings.Contains(fe.Msg, "jane") || fe.Status != 400 {
			t.Errorf("%s: error %q", b, fe.Msg)
		}
	}
}

func TestDecodeData(t *testing.T) {
	plain := []byte(`{"a":"a>>b??~~"}`) // forces '+' and '/' into base64
	cases := []struct {
		name string
		raw  string
	}{
		{"std raw", base64.StdEncoding.EncodeToString(plain)},
		{"std escaped", strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(plain))},
		{"plus decoded to space", strings.ReplaceAll(base64.StdEncoding.EncodeToString(plain), "+", "%20")},
		{"unpadded", base64.RawStdEncoding.EncodeToString(plain)},
		{"url alphabet", base64.URLEncoding.EncodeToString(plain)},
		{"json", "%7B%22a%22%3A%22a%3E%3Eb%3F%3F~~%22%7D"},
	}
	for _, c := range cases {
		got, enc, err := decodeData(nil, []byte(c.raw))
		if err != nil || string(got) != string(plain) {
			t.Errorf("%s: got %q, %v", c.name, got, err)
			continue
		}
		back, _, err := decodeData(nil, encodeData(nil, plain, enc))
		if err != nil || string(back) != string(plain) {
			t.Errorf("%s: round trip gave %q, %v", c.name, back, err)
		}
	}
}
