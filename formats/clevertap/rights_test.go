package clevertap

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// fakeRights is a registry stand-in: it records erasures and refuses
// campaign targets whose identifier is in deny (or everyone unknown when
// optIn is set, like a tenant that requires marketing opt-in).
type fakeRights struct {
	erased []string
	deny   map[string]bool
	optIn  bool
	fail   bool
}

func (f *fakeRights) Admit(string, formats.Subject, formats.Signals) (bool, error) { return true, nil }

func (f *fakeRights) Erase(_ string, s formats.Subject, actor string, forwarded bool) error {
	if f.fail {
		return errors.New("store down")
	}
	if actor != ActorDeleteAPI {
		return errors.New("wrong actor " + actor)
	}
	mark := ""
	if !forwarded {
		mark = " (not forwarded)"
	}
	if len(s.Identity) > 0 {
		f.erased = append(f.erased, "i:"+string(s.Identity)+mark)
	}
	if len(s.Device) > 0 {
		f.erased = append(f.erased, "d:"+string(s.Device)+mark)
	}
	return nil
}

func (f *fakeRights) CampaignAllowed(_ string, t formats.CampaignTarget, channel string) (bool, error) {
	if f.fail {
		return false, errors.New("store down")
	}
	id := string(t.Identity) + string(t.Device)
	if id == "" {
		return !f.optIn, nil
	}
	return !f.deny[channel+":"+id], nil
}

var _ formats.Rights = (*fakeRights)(nil)

// rightsEnv is the default policy with fixed keys and three tenants whose
// policy data rewrites user ids differently: "acme" (default: hash),
// "keeper" (keep), "dropper" (drop), "redactor" (redact).
func rightsEnv(t testing.TB, tenant string, r formats.Rights) *formats.Env {
	t.Helper()
	eng, err := policy.New(policy.WithFS(rules.FS), policy.WithData(map[string]any{"tenants": map[string]any{
		"keeper":   map[string]any{"classes": map[string]any{"id.user": map[string]any{"action": "keep"}, "contact.email": map[string]any{"action": "keep"}}},
		"dropper":  map[string]any{"classes": map[string]any{"id.user": map[string]any{"action": "drop"}, "id.device": map[string]any{"action": "drop"}}},
		"redactor": map[string]any{"classes": map[string]any{"id.user": map[string]any{"action": "redact"}}},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{7}, 32), TokenKey: bytes.Repeat([]byte{9}, 64), TokenKeyID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	env := &formats.Env{Tenant: tenant, Planner: eng, Applier: tr, Records: eng, Rewriter: masking.NewRewriter(), Stats: &masking.Stats{}}
	if r != nil {
		env.Rights, env.Subjects = r, r
	}
	return env
}

// uploadedAs is what the vendor receives for an identifier in a REST
// upload under env: the contract the rights routes must match.
func uploadedAs(t *testing.T, env *formats.Env, key, value string) string {
	t.Helper()
	saved := env.Subjects
	env.Subjects = nil
	defer func() { env.Subjects = saved }()
	rec := `{"type":"profile",` + `"` + key + `":` + value + `,"profileData":{"Email":"u@example.com"}}`
	out, _, err := CleanREST(nil, []byte(`{"d":[`+rec+`]}`), env)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ D []map[string]json.RawMessage }
	if err := json.Unmarshal(out, &got); err != nil || len(got.D) != 1 {
		t.Fatalf("upload output %s: %v", out, err)
	}
	return string(got.D[0][key])
}

func TestDeleteTranslatesLikeUploads(t *testing.T) {
	for _, tc := range []struct {
		tenant, body string
		want         func(env *formats.Env) string // expected body upstream; "" = answered locally
		erased       []string
	}{
		{"acme", `{"identity":"user-42"}`, func(env *formats.Env) string {
			return `{"identity":` + uploadedAs(t, env, "identity", `"user-42"`) + `}`
		}, []string{"i:user-42"}},
		{"acme", `{"identity":["a","b\u0041"]}`, func(env *formats.Env) string {
			return `{"identity":[` + uploadedAs(t, env, "identity", `"a"`) + `,` + uploadedAs(t, env, "identity", `"bA"`) + `]}`
		}, []string{"i:a", "i:bA"}},
		{"acme", `{"identity":555}`, func(env *formats.Env) string {
			return `{"identity":` + uploadedAs(t, env, "identity", `555`) + `}`
		}, []string{"i:555"}},
		{"acme", `{"guid":["__g0123456789abcdef0123456789abcdef","df2e224d90874887b4d61153ef3a2508"]}`, func(env *formats.Env) string {
			return `{"guid":[` + uploadedAs(t, env, "objectId", `"__g0123456789abcdef0123456789abcdef"`) + `,"df2e224d90874887b4d61153ef3a2508"]}`
		}, []string{"d:__g0123456789abcdef0123456789abcdef", "d:df2e224d90874887b4d61153ef3a2508"}},
		{"keeper", `{"identity":["user-42"]}`, func(*formats.Env) string { return `{"identity":["user-42"]}` }, []string{"i:user-42"}},
		{"dropper", `{"identity":["user-42","x"]}`, func(*formats.Env) string { return "" }, []string{"i:user-42 (not forwarded)", "i:x (not forwarded)"}},
		{"redactor", `{"identity":"user-42"}`, func(*formats.Env) string { return "" }, []string{"i:user-42 (not forwarded)"}},
	} {
		t.Run(tc.tenant+" "+tc.body, func(t *testing.T) {
			fr := &fakeRights{}
			env := rightsEnv(t, tc.tenant, fr)
			out, res, err := CleanDelete(nil, []byte(tc.body), env)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(fr.erased, " ") != strings.Join(tc.erased, " ") {
				t.Errorf("erased %v, want %v", fr.erased, tc.erased)
			}
			want := tc.want(env)
			if want == "" {
				if !res.AllDropped || res.RecordsOut != 0 {
					t.Errorf("want answered locally, got %+v %s", res, out)
				}
				return
			}
			if string(out) != want || res.AllDropped {
				t.Errorf("got %s (%+v)\nwant %s", out, res, want)
			}
			if strings.Contains(string(out), "user-42") && tc.tenant != "keeper" {
				t.Error("raw identity forwarded")
			}
		})
	}
}

func TestDeleteRefusesBadInput(t *testing.T) {
	many := `{"identity":[` + strings.Repeat(`"x",`, MaxDeleteValues) + `"x"]}`
	for _, tc := range []struct{ body, code string }{
		{`{"identity":"a","guid":"b"}`, "invalid_payload"},
		{`{"identity":"a","identity":"b"}`, "invalid_payload"},
		{`{"email":"a@b.c"}`, "invalid_payload"},
		{`{}`, "invalid_payload"},
		{`{"identity":[]}`, "invalid_payload"},
		{`{"identity":""}`, "invalid_identifier"},
		{`{"identity":"a\u0000b"}`, "invalid_identifier"},
		{`{"identity":true}`, "invalid_identifier"},
		{`{"identity":[["a"]]}`, "invalid_identifier"},
		{`{"identity":"` + strings.Repeat("x", 1025) + `"}`, "invalid_identifier"},
		{many, "too_many_identifiers"},
		{`{"identity":"a"`, "malformed_json"},
		{`["a"]`, "malformed_json"},
	} {
		fr := &fakeRights{}
		_, _, err := CleanDelete(nil, []byte(tc.body), rightsEnv(t, "acme", fr))
		if fe := formats.AsError(err); err == nil || fe.Code != tc.code || fe.Status != 400 {
			t.Errorf("%.60s: got %v, want %s", tc.body, err, tc.code)
		}
		if len(fr.erased) > 0 {
			t.Errorf("%.60s: erased before the body was validated", tc.body)
		}
		if err != nil && strings.Contains(err.Error(), "a@b.c") {
			t.Error("error quotes a value")
		}
	}
}

func TestDeleteFailsClosed(t *testing.T) {
	_, _, err := CleanDelete(nil, []byte(`{"identity":"a"}`), rightsEnv(t, "acme", &fakeRights{fail: true}))
	if fe := formats.AsError(err); fe.Status != 503 {
		t.Errorf("registry down: %v", err)
	}
	_, _, err = CleanDelete(nil, []byte(`{"identity":"a"}`), rightsEnv(t, "acme", nil))
	if fe := formats.AsError(err); fe.Code != "rights_disabled" {
		t.Errorf("no registry: %v", err)
	}
}

func TestAppendDeleteBody(t *testing.T) {
	env := rightsEnv(t, "acme", nil)
	out, ok, err := AppendDeleteBody(nil, env, false, []byte("user-42"))
	if err != nil || !ok || string(out) != `{"identity":`+uploadedAs(t, env, "identity", `"user-42"`)+`}` {
		t.Errorf("identity: %s %v %v", out, ok, err)
	}
	out, ok, err = AppendDeleteBody([]byte("x"), env, true, []byte("df2e224d90874887b4d61153ef3a2508"))
	if err != nil || !ok || string(out) != `x{"guid":"df2e224d90874887b4d61153ef3a2508"}` {
		t.Errorf("guid: %s %v %v", out, ok, err)
	}
	out, ok, err = AppendDeleteBody([]byte("x"), rightsEnv(t, "dropper", nil), false, []byte("user-42"))
	if err != nil || ok || string(out) != "x" {
		t.Errorf("dropped: %s %v %v", out, ok, err)
	}
	if _, _, err := AppendDeleteBody(nil, env, false, nil); err == nil {
		t.Error("empty id accepted")
	}
}

func TestCampaignTargets(t *testing.T) {
	push := `{"to":{"Identity":["A","B"],"objectId":["df2e224d90874887b4d61153ef3a2508","g2"],"Email":["a@example.com"],"FBID":["fb1"],"GPID":["gp1"]},"tag_group":"t","content":{"title":"Hi","body":"x"},"respect_frequency_caps":false}`
	for _, tc := range []struct {
		name, tenant, path, body string
		deny                     []string
		optIn                    bool
		want                     func(env *formats.Env) string // "" = answered locally
		suppressed, dropped      int
	}{
		{"push filters opted-out", "acme", "/1/send/push.json", push, []string{"push:A", "push:g2", "push:fb1"}, false, func(env *formats.Env) string {
			return `{"to":{"Identity":[` + uploadedAs(t, env, "identity", `"B"`) + `],"objectId":["df2e224d90874887b4d61153ef3a2508"],"Email":[` +
				tokenOf(t, env, `"a@example.com"`) + `],"GPID":[` + uploadedAs(t, env, "GPID", `"gp1"`) + `]},"tag_group":"t","content":{"title":"Hi","body":"x"},"respect_frequency_caps":false}`
		}, 3, 0},
		{"email channel only", "acme", "/1/send/email.json", `{"to":{"Identity":["A"]},"content":{}}`, []string{"push:A"}, false, func(env *formats.Env) string {
			return `{"to":{"Identity":[` + uploadedAs(t, env, "identity", `"A"`) + `]},"content":{}}`
		}, 0, 0},
		{"everyone opted out", "acme", "/1/send/sms.json", `{"to":{"Identity":["A"]}}`, []string{"sms:A"}, false, func(*formats.Env) string { return "" }, 1, 0},
		{"keeper forwards as is", "keeper", "/1/send/push.json", `{ "to" : { "Identity" : "A" } , "x":1}`, nil, false, func(*formats.Env) string {
			return `{ "to" : {"Identity":["A"]} , "x":1}`
		}, 0, 0},
		{"dropper: vendor never had them", "dropper", "/1/send/push.json", `{"to":{"Identity":["A"],"objectId":["g"]}}`, nil, false, func(*formats.Env) string { return "" }, 0, 2},
		{"targets: mode email", "acme", "/1/targets/create.json", `{"name":"n","target_mode":"email","to":{"Identity":["A","B"]}}`, []string{"email:B"}, false, func(env *formats.Env) string {
			return `{"name":"n","target_mode":"email","to":{"Identity":[` + uploadedAs(t, env, "identity", `"A"`) + `]}}`
		}, 1, 0},
		{"targets: no mode is push", "acme", "/1/targets/create.json", `{"to":{"Identity":["A","B"]}}`, []string{"push:B"}, false, func(env *formats.Env) string {
			return `{"to":{"Identity":[` + uploadedAs(t, env, "identity", `"A"`) + `]}}`
		}, 1, 0},
		{"segment forwarded", "acme", "/1/targets/create.json", `{"name":"n","where":{"event_name":"Charged"}}`, nil, false, func(*formats.Env) string {
			return `{"name":"n","where":{"event_name":"Charged"}}`
		}, 0, 0},
		{"segment estimate with opt-in", "acme", "/1/targets/estimate.json", `{"where":{}}`, nil, true, func(*formats.Env) string { return `{"where":{}}` }, 0, 0},
		{"segment estimate_only with opt-in", "acme", "/1/targets/create.json", `{"where":{},"estimate_only":true}`, nil, true, func(*formats.Env) string {
			return `{"where":{},"estimate_only":true}`
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := &fakeRights{deny: map[string]bool{}, optIn: tc.optIn}
			for _, d := range tc.deny {
				fr.deny[d] = true
			}
			env := rightsEnv(t, tc.tenant, fr)
			rt := routeFor(t, tc.path)
			out, res, err := rt.Clean(nil, []byte(tc.body), env)
			if err != nil {
				t.Fatal(err)
			}
			if res.Suppressed != tc.suppressed || res.PolicyDropped != tc.dropped {
				t.Errorf("result %+v", res)
			}
			want := tc.want(env)
			if want == "" {
				if !res.AllDropped {
					t.Errorf("want answered locally, got %s", out)
				}
				reply, _ := rt.Reply(nil, nil, res)
				if !json.Valid(reply) || !strings.Contains(string(reply), `"status":"success"`) {
					t.Errorf("reply %s", reply)
				}
				return
			}
			if string(out) != want || res.AllDropped {
				t.Errorf("got  %s\nwant %s", out, want)
			}
			if !json.Valid(out) {
				t.Error("invalid JSON")
			}
		})
	}
}

func tokenOf(t *testing.T, env *formats.Env, email string) string {
	t.Helper()
	out, _, err := CleanREST(nil, []byte(`{"d":[{"type":"profile","identity":"x","profileData":{"Email":`+email+`}}]}`), env)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		D []struct{ ProfileData map[string]json.RawMessage }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return string(got.D[0].ProfileData["Email"])
}

func routeFor(t testing.TB, path string) formats.Route {
	t.Helper()
	for _, r := range Routes() {
		if r.Path == path && r.Method == "POST" {
			return r
		}
	}
	t.Fatalf("no route %s", path)
	return formats.Route{}
}

func TestCampaignRefuses(t *testing.T) {
	for _, tc := range []struct {
		path, body string
		optIn      bool
		status     int
		code       string
	}{
		{"/1/send/push.json", `{"content":{}}`, false, 400, "invalid_payload"},
		{"/1/send/push.json", `{"to":{"Phone":["+1415"]}}`, false, 400, "unsupported_target_key"},
		{"/1/send/push.json", `{"to":{}}`, false, 400, "invalid_payload"},
		{"/1/send/push.json", `{"to":["A"]}`, false, 400, "invalid_payload"},
		{"/1/send/push.json", `{"to":{"Identity":["A"],"Identity":["B"]}}`, false, 400, "invalid_payload"},
		{"/1/send/push.json", `{"to":{"Identity":["A"]},"to":{"Identity":["B"]}}`, false, 400, "invalid_payload"},
		{"/1/send/push.json", `{"to":{"Identity":[{"x":1}]}}`, false, 400, "invalid_identifier"},
		{"/1/send/push.json", `{"to":{"Identity":["` + strings.Repeat(`x","`, MaxCampaignTargets) + `x"]}}`, false, 400, "too_many_identifiers"},
		{"/1/targets/create.json", `{"target_mode":"in-app","to":{"Identity":["A"]}}`, false, 400, "unsupported_target_mode"},
		{"/1/targets/create.json", `{"target_mode":1}`, false, 400, "invalid_payload"},
		{"/1/targets/create.json", `{"where":{}}`, true, 403, "segment_campaign_refused"},
		{"/1/targets/create.json", `{"where":{}`, false, 400, "malformed_json"},
	} {
		_, _, err := routeFor(t, tc.path).Clean(nil, []byte(tc.body), rightsEnv(t, "acme", &fakeRights{optIn: tc.optIn}))
		if fe := formats.AsError(err); err == nil || fe.Code != tc.code || fe.Status != tc.status {
			t.Errorf("%s %.60s: got %v, want %d %s", tc.path, tc.body, err, tc.status, tc.code)
		}
	}
	_, _, err := routeFor(t, "/1/send/push.json").Clean(nil, []byte(`{"to":{"Identity":["A"]}}`), rightsEnv(t, "acme", &fakeRights{fail: true}))
	if fe := formats.AsError(err); fe.Status != 503 {
		t.Errorf("registry down: %v", err)
	}
	_, _, err = routeFor(t, "/1/send/push.json").Clean(nil, []byte(`{"to":{"Identity":["A"]}}`), rightsEnv(t, "acme", nil))
	if fe := formats.AsError(err); fe.Code != "rights_disabled" {
		t.Errorf("no registry: %v", err)
	}
}

func TestTargetModeChannel(t *testing.T) {
	for mode, want := range map[string]string{"": "push", "push": "push", "webpush": "push", "email": "email", "sms": "sms", "whatsapp": "whatsapp", "in-app": ""} {
		if got, ok := TargetModeChannel(mode); got != want || ok != (want != "") {
			t.Errorf("%q: %q %v", mode, got, ok)
		}
	}
}

// TestRightsGolden pins the exact upstream bodies under the default policy:
// testdata/rights/<case>.json holds the route, the request body and the
// expected output (regenerate with -update).
func TestRightsGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "rights", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var gc struct {
				Path   string          `json:"path"`
				Deny   []string        `json:"deny,omitempty"`
				Body   json.RawMessage `json:"body"`
				Out    json.RawMessage `json:"out"`
				Result formats.Result  `json:"result"`
			}
			if err := json.Unmarshal(raw, &gc); err != nil {
				t.Fatal(err)
			}
			fr := &fakeRights{deny: map[string]bool{}}
			for _, d := range gc.Deny {
				fr.deny[d] = true
			}
			out, res, err := routeFor(t, gc.Path).Clean(nil, gc.Body, rightsEnv(t, "acme", fr))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				gc.Out, gc.Result = out, res
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(gc); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Outside "to" the body is copied byte for byte, so the
			// output has the golden body's layout: compare compacted.
			var got, want bytes.Buffer
			if err := json.Compact(&got, out); err != nil {
				t.Fatalf("invalid output %s: %v", out, err)
			}
			if err := json.Compact(&want, gc.Out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) || res != gc.Result {
				t.Errorf("got %s %+v\nwant %s %+v", got.Bytes(), res, want.Bytes(), gc.Result)
			}
		})
	}
}

func FuzzCleanDelete(f *testing.F) {
	for _, s := range []string{`{"identity":"a"}`, `{"guid":["x","y"]}`, `{"identity":[1,2]}`, `{"identity":"\u00e9"}`, `{}`} {
		f.Add([]byte(s))
	}
	env := rightsEnv(f, "acme", &fakeRights{})
	f.Fuzz(func(t *testing.T, body []byte) {
		out, res, err := CleanDelete(nil, body, env)
		if err != nil {
			if fe := formats.AsError(err); fe.Status < 400 || fe.Status > 599 {
				t.Fatalf("status %d", fe.Status)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
		if res.RecordsOut+res.PolicyDropped != res.RecordsIn {
			t.Fatalf("counts %+v", res)
		}
	})
}

func FuzzCleanCampaign(f *testing.F) {
	for _, s := range []string{
		`{"to":{"Identity":["A","B"],"objectId":"g"},"content":{}}`,
		`{"target_mode":"email","to":{"Email":["a@b.co"]}}`,
		`{"where":{"event_name":"x"}}`,
		`{"to":{"FBID":[1]},"estimate_only":true}`,
	} {
		f.Add([]byte(s), true)
	}
	env := rightsEnv(f, "acme", &fakeRights{deny: map[string]bool{"push:A": true}})
	f.Fuzz(func(t *testing.T, body []byte, targets bool) {
		ch := "push"
		if targets {
			ch = ""
		}
		out, res, err := CleanCampaign(nil, body, env, ch, false)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, body)
		}
		if res.RecordsOut+res.PolicyDropped+res.Suppressed != res.RecordsIn {
			t.Fatalf("counts %+v", res)
		}
	})
}

func BenchmarkCleanCampaign(b *testing.B) {
	body := []byte(`{"to":{"Identity":["A","B","C","D","E","F","G","H"],"objectId":["df2e224d90874887b4d61153ef3a2508"]},"content":{"title":"Hi","body":"x"}}`)
	env := rightsEnv(b, "acme", &fakeRights{deny: map[string]bool{"push:C": true}})
	var dst []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, _, err = CleanCampaign(dst[:0], body, env, "push", false); err != nil {
			b.Fatal(err)
		}
	}
}
