package policy

import (
	"errors"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/consentry/consentry/masking"
)

// TestDefaultPolicyDecisions checks the shipped policy through Plan, one
// field per class, as the proxy uses it.
func TestDefaultPolicyDecisions(t *testing.T) {
	type want struct {
		action masking.Action
		rule   string
		check  func(*masking.Params) bool // nil: any params
	}
	to := func(s string) func(*masking.Params) bool {
		return func(p *masking.Params) bool { return p != nil && p.To == s }
	}
	tests := []struct {
		class string
		typ   masking.ValueType
		want  want
	}{
		{"id.user", masking.TypeString, want{masking.ActionHash, "gdpr.id.user", nil}},
		{"id.device", masking.TypeString, want{masking.ActionHash, "gdpr.id.device", func(p *masking.Params) bool {
			return p != nil && p.HexLen == 32 && p.IfPrefix["__g"] == "__" && p.IfPrefix["-g"] == "-" && p.IfPrefix["__h"] == "__h" && p.IfPrefix["-v"] == "-v" && len(p.IfPrefix) == 6
		}}},
		{"contact.email", masking.TypeString, want{masking.ActionTokenize, "gdpr.contact.email", nil}},
		{"contact.phone", masking.TypeString, want{masking.ActionTokenize, "gdpr.contact.phone", nil}},
		{"person.name", masking.TypeString, want{masking.ActionDrop, "gdpr.person.name", nil}},
		{"person.photo", masking.TypeString, want{masking.ActionDrop, "gdpr.person.photo", nil}},
		{"person.birthdate", masking.TypeString, want{masking.ActionGeneralize, "gdpr.person.birthdate", to("year")}},
		{"person.gender", masking.TypeString, want{masking.ActionKeep, "gdpr.person.gender", nil}},
		{"person.age", masking.TypeNumber, want{masking.ActionKeep, "gdpr.person.age", nil}},
		{"person.attribute", masking.TypeBool, want{masking.ActionKeep, "gdpr.person.attribute", nil}},
		{"device.ad_id", masking.TypeString, want{masking.ActionDrop, "gdpr.device.ad_id", nil}},
		{"device.vendor_id", masking.TypeString, want{masking.ActionDrop, "gdpr.device.vendor_id", nil}},
		{"device.ad_tracking", masking.TypeBool, want{masking.ActionDrop, "gdpr.device.ad_tracking", nil}},
		{"device.info", masking.TypeString, want{masking.ActionScan, "gdpr.device.info.text", nil}},
		{"device.info", masking.TypeNumber, want{masking.ActionKeep, "gdpr.device.info", nil}},
		{"network.wifi", masking.TypeBool, want{masking.ActionDrop, "gdpr.network.wifi", nil}},
		{"network.bluetooth", masking.TypeString, want{masking.ActionDrop, "gdpr.network.bluetooth", nil}},
		{"network.radio", masking.TypeString, want{masking.ActionDrop, "gdpr.network.radio", nil}},
		{"network.type", masking.TypeString, want{masking.ActionDrop, "gdpr.network.type", nil}},
		{"network.carrier", masking.TypeString, want{masking.ActionDrop, "gdpr.network.carrier", nil}},
		{"network.country", masking.TypeString, want{masking.ActionDrop, "gdpr.network.country", nil}},
		{"network.cell", masking.TypeNumber, want{masking.ActionDrop, "gdpr.network", nil}},
		{"net.ip", masking.TypeString, want{masking.ActionGeneralize, "gdpr.net.ip", to("prefix")}},
		{"net.use_ip", masking.TypeBool, want{masking.ActionRedact, "gdpr.net.use_ip", nil}},
		{"geo.lat", masking.TypeNumber, want{masking.ActionGeneralize, "gdpr.geo.lat", func(p *masking.Params) bool {
			return p != nil && p.To == "decimals" && p.Decimals == 2
		}}},
		{"geo.lng", masking.TypeNumber, want{masking.ActionGeneralize, "gdpr.geo.lng", func(p *masking.Params) bool {
			return p != nil && p.To == "decimals" && p.Decimals == 2
		}}},
		{"geo.location", masking.TypeString, want{masking.ActionKeep, "gdpr.geo.location", nil}},
		{"record.meta", masking.TypeString, want{masking.ActionScan, "gdpr.record.meta.text", nil}},
		{"record.meta", masking.TypeNumber, want{masking.ActionKeep, "gdpr.record.meta", nil}},
		{"auth.account", masking.TypeString, want{masking.ActionKeep, "gdpr.auth.account", nil}},
		{"consent.optout", masking.TypeBool, want{masking.ActionKeep, "gdpr.consent.optout", nil}},
		{"consent.marketing", masking.TypeBool, want{masking.ActionKeep, "gdpr.consent.marketing", nil}},
		{"app.info", masking.TypeString, want{masking.ActionKeep, "gdpr.app.info", nil}},
		{"free_text", masking.TypeString, want{masking.ActionScan, "gdpr.free_text", func(p *masking.Params) bool {
			return p != nil && p.Findings["contact.email"] == masking.ActionRedact
		}}},
		{"", masking.TypeString, want{masking.ActionScan, "gdpr.unclassified.scan", nil}},
		{"", masking.TypeNumber, want{masking.ActionScan, "gdpr.unclassified.scan", nil}},
		{"", masking.TypeBool, want{masking.ActionKeep, "gdpr.unclassified.keep", nil}},
		{"", masking.TypeNull, want{masking.ActionKeep, "gdpr.unclassified.keep", nil}},
		{"", masking.TypeObject, want{masking.ActionDrop, RuleError, nil}}, // undefined: fails closed
	}
	e := newEngine(t)
	cl := pathClassifier{}
	var fields []field
	for i, tt := range tests {
		p := "evtData.f" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		cl[p] = tt.class
		fields = append(fields, field{p, tt.typ})
	}
	plan, err := e.Plan(newQuery("acme-eu", "clevertap.sdk", "event", "Charged", cl, fields...))
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		d := plan.Decisions[i]
		if d.Action != tt.want.action || d.Rule != tt.want.rule {
			t.Errorf("class %q (%s): got %s/%s, want %s/%s", tt.class, tt.typ, d.Action, d.Rule, tt.want.action, tt.want.rule)
		}
		if tt.want.check != nil && !tt.want.check(d.Params) {
			t.Errorf("class %q: unexpected params %+v", tt.class, d.Params)
		}
		if plan.Classes[i] != tt.class || plan.Paths[i] != fields[i].path {
			t.Errorf("field %d: class %q path %q, want %q %q", i, plan.Classes[i], plan.Paths[i], tt.class, fields[i].path)
		}
	}
	if got := e.Stats().Errors; got != 1 {
		t.Errorf("Errors = %d, want 1 (the object-typed field)", got)
	}
}

// brokenPolicy defines a decision per failure mode, selected by class.
const brokenPolicy = `package consentry

record_decision := {"action": "keep", "rule": "r.keep"} if input.record.name == "ok"

record_decision := {"action": "hash", "rule": "r.hash"} if input.record.name == "hash"

record_decision := {"action": "drop"} if input.record.name == "no_rule"

decision := {"action": "keep", "rule": "ok"} if input.field.class == "ok"

decision := {"action": "obliterate", "rule": "x"} if input.field.class == "unknown_action"

decision := {"action": "keep"} if input.field.class == "no_rule"

decision := {"action": "keep", "rule": ""} if input.field.class == "empty_rule"

decision := {"action": "generalize", "params": {"to": "century"}, "rule": "x"} if input.field.class == "bad_params"

decision := {"action": "mask", "params": {"keep_first": "one"}, "rule": "x"} if input.field.class == "bad_param_type"

decision := {"action": "keep", "params": [], "rule": "x"} if input.field.class == "params_not_object"

decision := {"action": "keep", "rule": "x", "parms": {}} if input.field.class == "unknown_key"

decision := "keep" if input.field.class == "not_object"

decision := {"action": "keep", "rule": "x"} if {
	input.field.class == "runtime_error"
	to_number(input.field.key) > 0
}

decision := {"action": "keep", "rule": "a"} if input.field.class == "conflict"

decision := {"action": "drop", "rule": "b"} if startswith(input.field.class, "conflict")
`

func TestFailClosed(t *testing.T) {
	e := newEngine(t, WithFS(policyFS(map[string]string{"broken.rego": brokenPolicy})), withoutValidation())
	classes := []string{
		"ok", "unknown_action", "no_rule", "empty_rule", "bad_params", "bad_param_type",
		"params_not_object", "unknown_key", "not_object", "runtime_error", "conflict", "undefined",
	}
	cl := pathClassifier{}
	var fields []field
	for _, c := range classes {
		cl["evtData."+c] = c
		fields = append(fields, field{"evtData." + c, masking.TypeString})
	}
	plan, err := e.Plan(newQuery("t", "clevertap.sdk", "event", "E", cl, fields...))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range classes {
		d := plan.Decisions[i]
		want := masking.Decision{Action: masking.ActionDrop, Rule: RuleError}
		if c == "ok" {
			want = masking.Decision{Action: masking.ActionKeep, Rule: "ok"}
		}
		if d.Action != want.Action || d.Rule != want.Rule {
			t.Errorf("%s: got %s/%s, want %s/%s", c, d.Action, d.Rule, want.Action, want.Rule)
		}
	}
	if got, want := e.Stats().Errors, uint64(len(classes)-1); got != want {
		t.Errorf("Errors = %d, want %d", got, want)
	}

	for _, tt := range []struct {
		name string
		want masking.Decision
	}{
		{"ok", masking.Decision{Action: masking.ActionKeep, Rule: "r.keep"}},
		{"hash", failClosed},
		{"no_rule", failClosed},
		{"undefined", failClosed},
	} {
		if got := e.RecordDecision("t", "clevertap.sdk", "event", tt.name); got != tt.want {
			t.Errorf("RecordDecision(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	good := shippedFiles(t)
	tests := []struct {
		name    string
		files   map[string]string
		data    map[string]any
		wantErr string
	}{
		{"syntax error names file and line", with(good, "extra.rego", "package consentry\n\nx ::= 1\n\ny := 2\n"), nil, "extra.rego:3"},
		{"strict: unused variable", with(good, "extra.rego", "package consentry\n\nx if {\n\ty := 1\n}\n"), nil, "extra.rego:4"},
		{"non-deterministic built-in", with(good, "extra.rego", "package consentry\n\nnow := time.now_ns()\n"), nil, "time.now_ns"},
		{"no decision", map[string]string{"p.rego": "package consentry\n\nrecord_decision := {\"action\": \"keep\", \"rule\": \"r\"}\n"}, nil, "data.consentry.decision"},
		{"no record decision", map[string]string{"p.rego": "package consentry\n\ndecision := {\"action\": \"keep\", \"rule\": \"r\"}\n"}, nil, "data.consentry.record_decision"},
		{"smoke evaluation error", map[string]string{"p.rego": `package consentry

record_decision := {"action": "keep", "rule": "r"}

decision := {"action": "keep", "rule": "r"} if to_number(input.field.key) > 0
`}, nil, "smoke evaluation"},
		{"bad tenant override", good, map[string]any{"tenants": map[string]any{"acme": map[string]any{
			"classes": map[string]any{"contact.email": map[string]any{"action": "obliterate"}},
		}}}, `tenants.acme.classes["contact.email"]`},
		{"bad client_ip", good, map[string]any{"tenants": map[string]any{"acme": map[string]any{"client_ip": "maybe"}}}, "client_ip"},
		{"bad drop_events", good, map[string]any{"tenants": map[string]any{"acme": map[string]any{"drop_events": "Debug"}}}, "drop_events"},
		{"bad data type", good, map[string]any{"x": make(chan int)}, "WithData"},
		{"no files", map[string]string{"README.md": "x"}, nil, "no .rego files"},
		{"bad data.json", with(good, "data.json", "[1]"), nil, "data.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(WithFS(policyFS(tt.files)), WithData(tt.data))
			if err == nil {
				e.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTenantOverrides(t *testing.T) {
	data := map[string]any{"tenants": map[string]any{
		"acme": map[string]any{
			"classes": map[string]any{
				"contact.email": map[string]any{"action": "hash", "params": map[string]any{"normalize": "email"}, "rule": "acme.email"},
				"person.name":   map[string]any{"action": "mask", "params": map[string]any{"keep_first": 1}},
			},
			"fields": map[string]any{
				"profile.Email": map[string]any{"action": "keep", "rule": "acme.profile_email"},
			},
			"drop_events": []any{"Debug"},
			"client_ip":   "keep",
		},
	}}
	files := shippedFiles(t)
	// data.json in the files merges under WithData.
	files["data.json"] = `{"tenants": {"acme": {"client_ip": "drop", "region": "eu"}, "globex": {"client_ip": "drop"}}}`
	e := newEngine(t, WithFS(policyFS(files)), WithData(data))

	cl := pathClassifier{"Email": "contact.email", "Name": "person.name", "Phone": "contact.phone"}
	fields := []field{
		{"evtData.Email", masking.TypeString},
		{"profile.Email", masking.TypeString},
		{"profile.Name", masking.TypeString},
		{"profile.Phone", masking.TypeString},
	}
	tests := []struct {
		tenant string
		want   []string // action/rule per field
	}{
		{"acme", []string{"hash/acme.email", "keep/acme.profile_email", "mask/tenant.class", "tokenize/gdpr.contact.phone"}},
		{"globex", []string{"tokenize/gdpr.contact.email", "tokenize/gdpr.contact.email", "drop/gdpr.person.name", "tokenize/gdpr.contact.phone"}},
	}
	for _, tt := range tests {
		plan, err := e.Plan(newQuery(tt.tenant, "clevertap.sdk", "profile", "", cl, fields...))
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range plan.Decisions {
			if got := d.Action.String() + "/" + d.Rule; got != tt.want[i] {
				t.Errorf("%s %s: got %s, want %s", tt.tenant, fields[i].path, got, tt.want[i])
			}
		}
	}
	if p := func() *masking.Params {
		plan, _ := e.Plan(newQuery("acme", "clevertap.sdk", "profile", "", cl, fields...))
		return plan.Decisions[0].Params
	}(); p == nil || p.Normalize != "email" {
		t.Errorf("acme email params = %+v, want normalize email", p)
	}

	if d := e.RecordDecision("acme", "clevertap.sdk", "event", "Debug"); d.Action != masking.ActionDrop || d.Rule != "tenant.drop_events" {
		t.Errorf("acme Debug: %+v", d)
	}
	if d := e.RecordDecision("globex", "clevertap.sdk", "event", "Debug"); d.Action != masking.ActionKeep || d.Rule != "gdpr.record.keep" {
		t.Errorf("globex Debug: %+v", d)
	}

	for _, tt := range []struct {
		tenant, name string
		want         any
		ok           bool
	}{
		{"acme", "client_ip", "keep", true}, // WithData wins over data.json
		{"acme", "region", "eu", true},      // data.json keys survive the merge
		{"globex", "client_ip", "drop", true},
		{"initech", "client_ip", nil, false},
		{"acme", "nothing", nil, false},
	} {
		got, ok := e.TenantOption(tt.tenant, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("TenantOption(%q, %q) = %v, %v; want %v, %v", tt.tenant, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPlanCaching(t *testing.T) {
	e := newEngine(t)
	cl := pathClassifier{"Email": "contact.email", "g": "id.device"}
	base := []field{{"evtData.Email", masking.TypeString}, {"g", masking.TypeString}}
	q := newQuery("acme", "clevertap.sdk", "event", "Charged", cl, base...)

	p1, err := e.Plan(q)
	if err != nil {
		t.Fatal(err)
	}
	evals := e.Stats().Evaluations
	if evals != 2 {
		t.Fatalf("first plan: %d evaluations, want 2", evals)
	}
	for range 100 {
		p, err := e.Plan(q)
		if err != nil {
			t.Fatal(err)
		}
		if p != p1 {
			t.Fatal("repeated Plan returned a different plan")
		}
	}
	st := e.Stats()
	if st.Evaluations != evals || st.PlanHits != 100 || st.PlanMisses != 1 {
		t.Fatalf("after 100 hits: %+v", st)
	}

	// A new shape sharing two fields evaluates only the new one.
	q2 := newQuery("acme", "clevertap.sdk", "event", "Charged", cl, append(base, field{"evtData.Amount", masking.TypeNumber})...)
	if _, err := e.Plan(q2); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Evaluations; got != evals+1 {
		t.Fatalf("shape with one new field: %d evaluations, want %d", got, evals+1)
	}

	// The default field policy does not read the event name: another name
	// shares the plan and costs no evaluation.
	before := e.Stats().Evaluations
	q3 := newQuery("acme", "clevertap.sdk", "event", "Other", cl, base...)
	if p, _ := e.Plan(q3); p != p1 || e.Stats().Evaluations != before {
		t.Fatal("a new event name was planned again although the policy ignores names")
	}

	// A forged Sig collision must not hand out another shape's plan.
	q4 := newQuery("acme", "clevertap.sdk", "event", "Charged", cl, base[0], field{"g", masking.TypeNumber})
	q4.Sig = q.Sig
	p4, err := e.Plan(q4)
	if err != nil {
		t.Fatal(err)
	}
	if p4 == p1 || !p4.Matches(q4.Fields) {
		t.Fatal("Sig collision returned the wrong plan")
	}

	// Strings kept by the engine are copies: mutating the caller's bytes
	// must not change cached keys.
	name := []byte("Mutable")
	q5 := newQuery("acme", "clevertap.sdk", "event", string(name), cl, base...)
	if _, err := e.Plan(q5); err != nil {
		t.Fatal(err)
	}
	before = e.Stats().PlanHits
	if _, err := e.Plan(newQuery("acme", "clevertap.sdk", "event", "Mutable", cl, base...)); err != nil {
		t.Fatal(err)
	}
	if e.Stats().PlanHits != before+1 {
		t.Fatal("equal query did not hit")
	}

	// Record decisions are cached too.
	e.RecordDecision("acme", "clevertap.sdk", "event", "Charged")
	evals = e.Stats().Evaluations
	for range 10 {
		e.RecordDecision("acme", "clevertap.sdk", "event", "Charged")
	}
	if st := e.Stats(); st.Evaluations != evals || st.RecordHits != 10 {
		t.Fatalf("record decisions not cached: %+v", st)
	}
}

func TestPlanQueryErrors(t *testing.T) {
	e := newEngine(t)
	q := newQuery("acme", "clevertap.sdk", "event", "E", nil, field{"a", masking.TypeString})
	q.Classifier = nil
	if _, err := e.Plan(q); err == nil {
		t.Fatal("Plan without classifier succeeded")
	}
	q = newQuery("acme", "clevertap.sdk", "event", "E", pathClassifier{}, field{"a", masking.TypeString})
	q.SetDescriber(func(int) (string, string) { panic("broken adapter") })
	if _, err := e.Plan(q); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Plan with a panicking describer: %v", err)
	}
	e.Close()
	if _, err := e.Plan(q); !errors.Is(err, errClosed) {
		t.Fatalf("Plan after Close: %v", err)
	}
	if d := e.RecordDecision("acme", "f", "event", "E"); d != failClosed {
		t.Fatalf("RecordDecision after Close: %+v", d)
	}
	if e.Ready() {
		t.Fatal("Ready after Close")
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(WithFS(policyFS(shippedFiles(t))), WithDir(t.TempDir())); err == nil {
		t.Fatal("WithFS and WithDir together succeeded")
	}
	// Tiny caches still work (evictions only cost evaluations).
	e := newEngine(t, WithCacheBytes(4096))
	cl := pathClassifier{}
	for _, name := range []string{"a", "b", "c", "a"} {
		if _, err := e.Plan(newQuery("t", "f", "event", name, cl, field{"x", masking.TypeString})); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentPlanAndReload runs Plan and RecordDecision while the policy
// swaps back and forth, so retired caches must not be closed under readers
// (run with -race).
func TestConcurrentPlanAndReload(t *testing.T) {
	dir := t.TempDir()
	files := shippedFiles(t)
	writeFiles(t, dir, files)
	e := newEngine(t, WithDir(dir), WithCacheBytes(256<<10))
	alt := maps.Clone(files)
	alt["extra.rego"] = "package consentry\n\nextra := 1\n"

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			cl := pathClassifier{"Email": "contact.email"}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := newQuery("acme", "clevertap.sdk", "event", string(rune('a'+(i+w)%8)), cl,
					field{"evtData.Email", masking.TypeString}, field{"evtData.X", masking.TypeNumber})
				p, err := e.Plan(q)
				if err != nil {
					t.Error(err)
					return
				}
				if p.Decisions[0].Rule != "gdpr.contact.email" {
					t.Errorf("unexpected decision %+v", p.Decisions[0])
					return
				}
				e.RecordDecision("acme", "clevertap.sdk", "event", q.Name)
			}
		})
	}
	for i := range 20 {
		if i%2 == 0 {
			writeFiles(t, dir, alt)
		} else {
			writeFiles(t, dir, map[string]string{"extra.rego": "package consentry\n\nextra := 2\n"})
		}
		if err := e.Reload(); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}

// A policy whose field decisions read the event name keeps plans per name.
func TestPlansPerEventNameWhenThePolicyReadsIt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/p.rego", []byte(`package consentry
decision := {"action": "drop", "rule": "n"} if input.record.name == "Secret"
decision := {"action": "keep", "rule": "k"} if input.record.name != "Secret"
record_decision := {"action": "keep", "rule": "r"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cl := pathClassifier{}
	f := field{"evtData.x", masking.TypeString}
	p1, err1 := e.Plan(newQuery("acme", "clevertap.sdk", "event", "Public", cl, f))
	p2, err2 := e.Plan(newQuery("acme", "clevertap.sdk", "event", "Secret", cl, f))
	if err1 != nil || err2 != nil || p1.Decisions[0].Action != masking.ActionKeep || p2.Decisions[0].Action != masking.ActionDrop {
		t.Fatalf("per-name decisions lost: %v %v %+v %+v", err1, err2, p1, p2)
	}
}

// A field decision that reads record_decision (which reads the name) keeps
// plans per event name too.
func TestPlansPerEventNameThroughRecordDecision(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/p.rego", []byte(`package consentry
record_decision := {"action": "keep", "rule": "secret"} if input.record.name == "Secret"
record_decision := {"action": "keep", "rule": "public"} if input.record.name != "Secret"
decision := {"action": "drop", "rule": "d"} if record_decision.rule == "secret"
decision := {"action": "keep", "rule": "k"} if record_decision.rule != "secret"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := field{"evtData.x", masking.TypeString}
	p1, _ := e.Plan(newQuery("acme", "clevertap.sdk", "event", "Public", pathClassifier{}, f))
	p2, _ := e.Plan(newQuery("acme", "clevertap.sdk", "event", "Secret", pathClassifier{}, f))
	if p1 == nil || p2 == nil || p1.Decisions[0].Action != masking.ActionKeep || p2.Decisions[0].Action != masking.ActionDrop {
		t.Fatalf("decisions through record_decision lost the name: %+v %+v", p1, p2)
	}
}

func TestReservedRuleIDIsRefused(t *testing.T) {
	if _, err := parseDecision(map[string]any{"action": "drop", "rule": masking.FailClosedRule}, false, ""); err == nil {
		t.Fatal("a policy may not use the reserved rule id")
	}
}

// TestHotEntries: the array in front of the caches serves every shape and
// record identity its own entry, however many share a slot, across
// tenants, formats and names.
func TestHotEntries(t *testing.T) {
	e := newEngine(t)
	cl := pathClassifier{"Email": "contact.email", "g": "id.device", "Amount": ""}
	type shape struct {
		q    *masking.PlanQuery
		plan *masking.Plan
	}
	var shapes []shape
	for i := range 3 * hotSize {
		tenant := []string{"acme", "beta"}[i%2]
		format := []string{"clevertap.sdk", "segment"}[i/2%2]
		fields := []field{{"evtData.Email", masking.TypeString}, {"g", masking.TypeString}, {"evtData.p" + strconv.Itoa(i%97), masking.TypeNumber}}
		q := newQuery(tenant, format, "event", "E"+strconv.Itoa(i%131), cl, fields...)
		p, err := e.Plan(q)
		if err != nil {
			t.Fatal(err)
		}
		shapes = append(shapes, shape{q, p})
	}
	for round := range 3 {
		for i, s := range shapes {
			p, err := e.Plan(s.q)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Matches(s.q.Fields) || len(p.Decisions) != len(s.plan.Decisions) {
				t.Fatalf("round %d shape %d: a plan for another shape", round, i)
			}
			for j := range p.Decisions {
				if p.Decisions[j].Action != s.plan.Decisions[j].Action || p.Decisions[j].Rule != s.plan.Decisions[j].Rule {
					t.Fatalf("round %d shape %d field %d: %v, want %v", round, i, j, p.Decisions[j], s.plan.Decisions[j])
				}
			}
			if p.Paths[2] != s.plan.Paths[2] {
				t.Fatalf("round %d shape %d: path %s, want %s", round, i, p.Paths[2], s.plan.Paths[2])
			}
		}
	}
	// Record decisions: same identity, same decision; two identities that
	// share a slot do not trade theirs.
	want := map[string]masking.Decision{}
	for i := range 4 * hotSize { // each identity twice
		i := i % (2 * hotSize)
		kind := []string{"event", "profile", "ping"}[i%3]
		name := "E" + strconv.Itoa(i)
		if kind != "event" {
			name = ""
		}
		tenant := []string{"acme", "beta"}[i%2]
		d := e.RecordDecision(tenant, "clevertap.sdk", kind, name)
		k := tenant + "|" + kind + "|" + name
		if w, ok := want[k]; ok && (w.Action != d.Action || w.Rule != d.Rule) {
			t.Fatalf("%s: %v, then %v", k, w, d)
		}
		want[k] = d
	}
	if ev := e.Stats().Evaluations; ev == 0 {
		t.Fatal("no evaluations")
	}
}
