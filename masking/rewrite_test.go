package masking

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// pathPlanner decides by path (and "*" for anything else); it counts calls
// that miss its own tiny cache so tests can see plan reuse.
type pathPlanner struct {
	byPath map[string]Action
	def    Action
	calls  int
}

func (p *pathPlanner) Plan(q *PlanQuery) (*Plan, error) {
	p.calls++
	pl := &Plan{Fields: append([]FieldShape(nil), q.Fields...)}
	for i := range q.Fields {
		path, key := q.Describe(i)
		a, ok := p.byPath[path]
		if !ok {
			a = p.def
		}
		pl.Decisions = append(pl.Decisions, Decision{Action: a, Rule: "test." + a.String()})
		pl.Classes = append(pl.Classes, q.Classifier.Classify(q.Kind, path, key))
		pl.Paths = append(pl.Paths, path)
	}
	return pl, nil
}

type keyClassifier struct{}

func (keyClassifier) Classify(kind, path, key string) string { return "k." + key }

// fakeApplier redacts every string to "X" and every number to 0.
type fakeApplier struct{}

func (fakeApplier) Apply(dst []byte, d *Decision, raw []byte, t ValueType) ([]byte, bool, int, error) {
	switch d.Action {
	case ActionDrop:
		return dst, true, 0, nil
	case ActionKeep:
		return append(dst, raw...), false, 0, nil
	}
	switch t {
	case TypeString:
		return append(dst, `"X"`...), false, 0, nil
	case TypeNumber:
		return append(dst, '0'), false, 0, nil
	}
	return append(dst, raw...), false, 0, nil
}

func rewrite(t testing.TB, in string, pl Planner) (string, Stats, error) {
	t.Helper()
	rw := NewRewriter()
	var st Stats
	out, err := rw.Rewrite(nil, []byte(in), &Record{Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: fakeApplier{}}, &st)
	return string(out), st, err
}

func TestRewrite(t *testing.T) {
	cases := []struct {
		name string
		in   string
		plan map[string]Action
		def  Action
		want string
	}{
		{"keep all is byte exact", `{ "a" : 1 ,"b":[1, 2],"c":{"d":"x"} }`, nil, ActionKeep, `{ "a" : 1 ,"b":[1, 2],"c":{"d":"x"} }`},
		{"drop first", `{"a":1,"b":2,"c":3}`, map[string]Action{"a": ActionDrop}, ActionKeep, `{"b":2,"c":3}`},
		{"drop middle", `{"a":1,"b":2,"c":3}`, map[string]Action{"b": ActionDrop}, ActionKeep, `{"a":1,"c":3}`},
		{"drop last", `{"a":1,"b":2,"c":3}`, map[string]Action{"c": ActionDrop}, ActionKeep, `{"a":1,"b":2}`},
		{"drop all", `{"a":1,"b":2}`, nil, ActionDrop, `{}`},
		{"drop first two", `{"a":1, "b":2, "c":3}`, map[string]Action{"a": ActionDrop, "b": ActionDrop}, ActionKeep, `{"c":3}`},
		{"drop last two", `{"a":1, "b":2, "c":3}`, map[string]Action{"c": ActionDrop, "b": ActionDrop}, ActionKeep, `{"a":1}`},
		{"drop after container", `{"o":{"x":1},"b":2}`, map[string]Action{"b": ActionDrop}, ActionKeep, `{"o":{"x":1}}`},
		{"drop before container", `{"b":2,"o":{"x":1}}`, map[string]Action{"b": ActionDrop}, ActionKeep, `{"o":{"x":1}}`},
		{"drop inside nested", `{"evtData":{"Email":"a@b.co","Price":5}}`, map[string]Action{"evtData.Email": ActionDrop}, ActionKeep, `{"evtData":{"Price":5}}`},
		{"array elements", `{"l":["a","b","c"]}`, map[string]Action{"l[]": ActionDrop}, ActionKeep, `{"l":[]}`},
		{"array of objects", `{"Items":[{"n":"a","e":"x"},{"n":"b","e":"y"}]}`, map[string]Action{"Items[].e": ActionDrop}, ActionKeep, `{"Items":[{"n":"a"},{"n":"b"}]}`},
		{"redact type aware", `{"s":"secret","n":123,"b":true}`, nil, ActionRedact, `{"s":"X","n":0,"b":true}`},
		{"duplicate keys both masked", `{"Email":"a@b.co","Email":"c@d.co"}`, map[string]Action{"Email": ActionRedact}, ActionKeep, `{"Email":"X","Email":"X"}`},
		{"escaped key counts as decoded", `{"\u0045mail":"a@b.co","x":1}`, map[string]Action{"Email": ActionDrop}, ActionKeep, `{"x":1}`},
		{"whitespace kept", "{\n  \"a\": 1,\n  \"b\": \"s\"\n}", map[string]Action{"b": ActionRedact}, ActionKeep, "{\n  \"a\": 1,\n  \"b\": \"X\"\n}"},
		{"empty object", `{}`, nil, ActionDrop, `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := rewrite(t, tc.in, &pathPlanner{byPath: tc.plan, def: tc.def})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestRewriteRejectsMalformed(t *testing.T) {
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1} x`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":[1,]}`, strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70)} {
		if out, _, err := rewrite(t, in, &pathPlanner{def: ActionKeep}); err == nil {
			t.Errorf("%q: accepted, output %q", in, out)
		}
	}
}

func TestRewriteStatsAndPlanReuse(t *testing.T) {
	pl := &pathPlanner{byPath: map[string]Action{"a": ActionDrop}, def: ActionKeep}
	_, st, err := rewrite(t, `{"a":1,"b":[1,2,3],"c":"x"}`, pl)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fields != 5 || st.Actions[ActionDrop] != 1 || st.Actions[ActionKeep] != 4 {
		t.Errorf("stats = %+v", st)
	}
	// Arrays of different lengths share one shape.
	rw := NewRewriter()
	q1 := shapeOf(t, rw, `{"l":[1,2]}`)
	q2 := shapeOf(t, rw, `{"l":[3,4,5,6]}`)
	if q1 != q2 {
		t.Errorf("signatures differ for the same shape: %x vs %x", q1, q2)
	}
	if q3 := shapeOf(t, rw, `{"l":["s"]}`); q3 == q1 {
		t.Errorf("string and number elements share a signature")
	}
}

type sigPlanner struct{ sig uint64 }

func (s *sigPlanner) Plan(q *PlanQuery) (*Plan, error) {
	s.sig = q.Sig
	return (&pathPlanner{def: ActionKeep}).Plan(q)
}

func shapeOf(t *testing.T, rw *Rewriter, in string) uint64 {
	sp := &sigPlanner{}
	var st Stats
	if _, err := rw.Rewrite(nil, []byte(in), &Record{Classifier: keyClassifier{}, Planner: sp, Transformer: fakeApplier{}}, &st); err != nil {
		t.Fatal(err)
	}
	return sp.sig
}

type errPlanner struct{}

func (errPlanner) Plan(*PlanQuery) (*Plan, error) { return nil, errTest }

var errTest = &SyntaxError{Reason: "planner down"}

func TestRewritePlannerErrorDropsEverything(t *testing.T) {
	got, st, err := rewrite(t, `{"a":"secret","b":{"c":"secret2"}}`, errPlanner{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "secret") || got != `{"b":{}}` {
		t.Errorf("got %s", got)
	}
	if st.Actions[ActionDrop] != 2 {
		t.Errorf("stats %+v", st)
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,{"b":"c"}],"d":null,"e":true}`, `{"\u0041":"x","A":"y"}`, `{"Items":[{"n":"a"},{"n":"b"}],"x":1.5e3}`} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in string, mode uint8) {
		def := []Action{ActionKeep, ActionDrop, ActionRedact}[int(mode)%3]
		out, st, err := rewrite(t, in, &pathPlanner{def: def, byPath: map[string]Action{"a": ActionDrop}})
		if err != nil {
			return
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("invalid output %q from %q", out, in)
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("accepted invalid input %q", in)
		}
		// Keep-all is byte exact unless a budget (a key or path too long, a
		// nesting too deep) dropped a member: budgets fail closed.
		if def == ActionKeep && !strings.Contains(in, `"a"`) && !strings.Contains(in, `\u`) && !anyKeyMayHoldPII(in) && !st.Budget.Any() && out != in {
			t.Fatalf("keep-all changed the record: %q -> %q", in, out)
		}
		if def == ActionDrop {
			var v any
			_ = json.Unmarshal([]byte(out), &v)
			if hasLeaf(v) {
				t.Fatalf("drop-all left a leaf: %q -> %q", in, out)
			}
		}
	})
}

func hasLeaf(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			if hasLeaf(c) {
				return true
			}
		}
		return false
	case []any:
		for _, c := range x {
			if hasLeaf(c) {
				return true
			}
		}
		return false
	}
	return true
}

// A path built so that its steps cancel out under a linear hash must not
// share the hash of a shorter path (and so borrow its decision).
func TestCraftedNestingDoesNotCollide(t *testing.T) {
	x := func(inner string) string { return `{"a":[[[[[[[{"b":{"c":` + inner + `}}]]]]]]]}` }
	pl := &pathPlanner{byPath: map[string]Action{"Make": ActionKeep}, def: ActionDrop}
	got, _, err := rewrite(t, `{"Make":"Google","Make":`+x(x(`"jane.doe@example.com"`))+`}`, pl)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "jane.doe") {
		t.Fatalf("a crafted path borrowed a kept field's decision: %s", got)
	}
	rw := NewRewriter()
	if shapeOf(t, rw, `{"Make":1}`) == shapeOf(t, rw, `{"Make":`+x(x(`1`))+`}`) {
		t.Fatal("crafted nesting reproduces the signature")
	}
}

// Personal data in keys is dropped with its member, leaf or container.
func TestPIIInKeysDropsTheMember(t *testing.T) {
	pl := &pathPlanner{def: ActionKeep}
	for _, tc := range []struct{ in, want string }{
		{`{"jane.doe@example.com":true,"ok":1}`, `{"ok":1}`},
		{`{"ok":1,"+14155550123":null}`, `{"ok":1}`},
		{`{"a":1,"4111111111111111":{"x":false,"y":[1,2]},"b":2}`, `{"a":1,"b":2}`},
		{`{"4111111111111111":{"x":false}}`, `{}`},
		{`{"Plan 2024":1,"1234":2}`, `{"Plan 2024":1,"1234":2}`},
		{`{"1.2.3.4":1,"ok":2}`, `{"ok":2}`},
		{`{"6ba7b810-9dad-41d1-80b4-00c04fd430c8":{"a":1},"ok":2}`, `{"ok":2}`},
	} {
		got, _, err := rewrite(t, tc.in, pl)
		if err != nil || got != tc.want {
			t.Errorf("%s -> %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

// anyKeyMayHoldPII reports whether a key of the JSON document in could be
// dropped for holding personal data.
func anyKeyMayHoldPII(in string) bool {
	var v any
	if json.Unmarshal([]byte(in), &v) != nil {
		return true
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if mayHoldFinding([]byte(k)) || walk(c) {
					return true
				}
			}
		case []any:
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// TestRewriteNestedErrors: an error deep inside an object member reports
// its own offset and reason, not a generic error at byte 0.
func TestRewriteNestedErrors(t *testing.T) {
	deep := `{"a":` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 71)
	many := `{"a":{"b":[` + strings.Repeat("1,", maxNodes) + "1]}}"
	for _, tc := range []struct {
		name, in string
		want     string
	}{
		{"depth in object", deep, "malformed JSON at byte 320: nesting too deep"},
		{"depth in array", `{"a":[` + strings.Repeat("[", 70) + strings.Repeat("]", 71) + "}", "malformed JSON at byte 68: nesting too deep"},
		{"bad value in nested object", `{"a":{"b":{"c":tru}}}`, "malformed JSON at byte 15: invalid literal"},
		{"too many fields in nested object", many, ErrTooManyFields.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := rewrite(t, tc.in, &pathPlanner{def: ActionKeep})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestFindingCounts checks that findings are counted by detector class and
// rule, and that OnFinding sees each with its field's path and action.
func TestFindingCounts(t *testing.T) {
	rw := NewRewriter()
	var st Stats
	type seen struct{ path, class, rule, cue string }
	var got []seen
	st.OnFinding = func(kind, name, path string, f Finding, a Action) {
		if kind != "event" || a != ActionRedact {
			t.Errorf("finding %v: kind %q action %s", f, kind, a)
		}
		got = append(got, seen{path, f.Class, f.Rule, f.Cue})
	}
	in := `{"a":{"note":"write to jane.doe@example.com or bob@example.org"},"b":"my phone is 030 1234567","c":"nothing","n":14155550123}`
	rec := &Record{Kind: "event", Classifier: keyClassifier{}, Planner: &pathPlanner{def: ActionScan}, Transformer: newTestTransformer(t)}
	out, err := rw.Rewrite(nil, []byte(in), rec, &st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "example") || strings.Contains(string(out), "1234567") {
		t.Fatalf("findings survived: %s", out)
	}
	counts := map[string]int{}
	st.FindingClasses.Each(func(n string, c int) { counts[n] = c })
	if counts[ClassEmail] != 2 || counts[ClassPhone] != 2 || len(counts) != 2 || st.Findings != 4 {
		t.Errorf("classes %v, total %d; want 2 emails, 2 phones", counts, st.Findings)
	}
	rules := map[string]int{}
	st.FindingRules.Each(func(n string, c int) { rules[n] = c })
	if rules["email"] != 2 {
		t.Errorf("rules %v: want email 2", rules)
	}
	if len(got) != 4 || got[0].path != "a.note" || got[2].path != "b" || got[2].cue == "" || got[3].path != "n" {
		t.Errorf("OnFinding saw %+v", got)
	}
	st.Reset()
	if n := 0; func() int { st.FindingClasses.Each(func(string, int) { n++ }); return n }() != 0 {
		t.Error("Reset kept finding counts")
	}
}

// TestScanStringWords checks the word-at-a-time string scan against
// encoding/json on strings with one special byte at every position.
func TestScanStringWords(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				body := bytes.Repeat([]byte{'a'}, n)
				body[pos] = byte(c)
				doc := append(append([]byte(`"`), body...), `"  `...)
				end, _, err := scanString(doc, 0)
				valid := json.Valid(doc[:n+2]) && utf8.Valid(doc[:n+2]) // the scanner also refuses invalid UTF-8
				if valid != (err == nil && end == n+2) {
					t.Fatalf("scanString(%q) = %d, %v; json.Valid %v", doc, end, err, valid)
				}
			}
		}
	}
}

// hiddenApplier is a Transformer seen only as a FieldApplier: the rewriter
// cannot take its quick scan, so every scanned value goes through it.
type hiddenApplier struct{ t *Transformer }

func (h hiddenApplier) Apply(dst []byte, d *Decision, raw []byte, typ ValueType) ([]byte, bool, int, error) {
	return h.t.Apply(dst, d, raw, typ)
}

func (h hiddenApplier) ApplyField(dst []byte, d *Decision, raw []byte, typ ValueType, f *Field) ([]byte, bool, error) {
	return h.t.ApplyField(dst, d, raw, typ, f)
}

// TestQuickScanSameOutput: keeping clean words in place gives the bytes,
// actions and findings that scanning each of them gives, whatever sits
// around them (dropped neighbours, escapes, findings, numbers).
func TestQuickScanSameOutput(t *testing.T) {
	tr := newTestTransformer(t)
	in := `{"type":"event","evtName":"App Launched","drop1":"x","evtData":{"Make":"Google","Model":"Pixel 7","drop2":1,` +
		`"Note":"mail jane@example.com","Esc":"caf\u00e9","Pct":"jane%40example.com","Num":14155550123,"L":["en_US","x y z w v",""],"drop3":true},"drop4":null}`
	pl := &pathPlanner{def: ActionScan, byPath: map[string]Action{"drop1": ActionDrop, "evtData.drop2": ActionDrop, "evtData.drop3": ActionDrop, "drop4": ActionDrop}}
	run := func(a Applier) (string, Stats) {
		rw := NewRewriter()
		var st Stats
		out, err := rw.Rewrite(nil, []byte(in), &Record{Tenant: "t", Format: "f", Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: a}, &st)
		if err != nil {
			t.Fatal(err)
		}
		return string(out), st
	}
	got, gs := run(tr)
	want, ws := run(hiddenApplier{tr})
	if got != want || gs.Actions != ws.Actions || gs.Findings != ws.Findings || gs.Fields != ws.Fields {
		t.Fatalf("quick scan:\n%s %+v\nfull scan:\n%s %+v", got, gs.Actions, want, ws.Actions)
	}
	if !strings.Contains(got, `"Make":"Google"`) || strings.Contains(got, "jane@") || !json.Valid([]byte(got)) {
		t.Fatalf("output %s", got)
	}
}

// TestStatsByClassAndRule: fields are counted per class and rule, runs of
// one class added at once, names in first-seen order.
func TestStatsByClassAndRule(t *testing.T) {
	in := `{"a":1,"b":"x","l":[{"a":1},{"a":2}],"c":3,"d":"y"}`
	pl := &pathPlanner{def: ActionKeep, byPath: map[string]Action{"d": ActionRedact, "c": ActionRedact}}
	_, st, err := rewrite(t, in, pl)
	if err != nil {
		t.Fatal(err)
	}
	var classes, rules []string
	st.Classes.Each(func(name string, n int) { classes = append(classes, name+"="+strconv.Itoa(n)) })
	st.Rules.Each(func(name string, n int) { rules = append(rules, name+"="+strconv.Itoa(n)) })
	if got, want := strings.Join(classes, " "), "k.a=3 k.b=1 k.c=1 k.d=1"; got != want {
		t.Errorf("classes %s, want %s", got, want)
	}
	if got, want := strings.Join(rules, " "), "test.keep=4 test.redact=2"; got != want {
		t.Errorf("rules %s, want %s", got, want)
	}
}

// TestDropEverySubset drops every subset of a record's leaves, with one
// leaf per shape (the pass that visits only the leaves not kept) and with
// an array of two (the pass over every node), and checks the output is
// the record without those members, valid JSON, and the same when the
// parse is emitted twice.
func TestDropEverySubset(t *testing.T) {
	for _, tc := range []struct {
		rec   string
		paths []string
	}{
		{`{"a":1,"b":"x","c":{"h":3},"d":{"e":true,"f":null},"g":2}`, []string{"a", "b", "c.h", "d.e", "d.f", "g"}},
		{`{"a":1,"b":"x","c":[1,2],"d":{"e":true,"f":null},"g":2}`, []string{"a", "b", "c[]", "d.e", "d.f", "g"}},
	} {
		for mask := 0; mask < 1<<len(tc.paths); mask++ {
			pl := &pathPlanner{byPath: map[string]Action{}, def: ActionKeep}
			for i, p := range tc.paths {
				if mask&(1<<i) != 0 {
					pl.byPath[p] = ActionDrop
				}
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.rec), &want); err != nil {
				t.Fatal(err)
			}
			for i, p := range tc.paths {
				if mask&(1<<i) == 0 {
					continue
				}
				parts := strings.Split(strings.TrimSuffix(p, "[]"), ".")
				m := want
				for _, k := range parts[:len(parts)-1] {
					m = m[k].(map[string]any)
				}
				if strings.HasSuffix(p, "[]") {
					m[parts[len(parts)-1]] = []any{}
				} else {
					delete(m, parts[len(parts)-1])
				}
			}
			wantJSON, _ := json.Marshal(want)
			rw := NewRewriter()
			rec := &Record{Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: fakeApplier{}}
			if _, err := rw.Parse([]byte(tc.rec), 0); err != nil {
				t.Fatal(err)
			}
			var st Stats
			out := rw.Emit(nil, rec, &st)
			again := rw.Emit(nil, rec, &st)
			var got any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s drop %v: invalid JSON %s", tc.rec, mask, out)
			}
			if gotJSON, _ := json.Marshal(got); string(gotJSON) != string(wantJSON) {
				t.Errorf("%s drop mask %b: got %s, want %s", tc.rec, mask, out, wantJSON)
			}
			if string(again) != string(out) {
				t.Errorf("%s drop mask %b: second Emit %s, first %s", tc.rec, mask, again, out)
			}
			if st.Fields != 2*(len(tc.paths)+strings.Count(tc.rec, "[1,2]")) {
				t.Errorf("%s: %d fields counted over two emits", tc.rec, st.Fields)
			}
		}
	}
}

// TestScannedValuesRemembered: a Rewriter that cleans records repeating
// their values (kept by scan, or with findings) gives the output and
// stats of a full scan every time, memo or not.
func TestScannedValuesRemembered(t *testing.T) {
	tr := newTestTransformer(t)
	in := `{"type":"event","evtData":{"Version":"3.1.4","Build":"12","Price":59.99,"Qty":1,"Phone":14155550123,` +
		`"Note":"call +1 415 555 0123","Mail":"jane@example.com","Lat":37.42,"Same":"3.1.4","Big":1e3}}`
	pl := &pathPlanner{def: ActionScan}
	rec := func(a Applier) *Record {
		return &Record{Tenant: "t", Format: "f", Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: a}
	}
	want, ws := func() (string, Stats) {
		var st Stats
		out, err := NewRewriter().Rewrite(nil, []byte(in), rec(hiddenApplier{tr}), &st)
		if err != nil {
			t.Fatal(err)
		}
		return string(out), st
	}()
	rw := NewRewriter()
	for i := range 3 {
		var st Stats
		out, err := rw.Rewrite(nil, []byte(in), rec(tr), &st)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want || st.Actions != ws.Actions || st.Findings != ws.Findings || st.Fields != ws.Fields {
			t.Fatalf("round %d:\n%s %+v %d\nfull scan:\n%s %+v %d", i, out, st.Actions, st.Findings, want, ws.Actions, ws.Findings)
		}
	}
	if strings.Contains(want, "jane@") || strings.Contains(want, "14155550123") || !strings.Contains(want, `"Version":"3.1.4"`) {
		t.Fatalf("output %s", want)
	}
}

// paramsPlanner scans every field, with the params of its path when set.
type paramsPlanner map[string]*Params

func (pp paramsPlanner) Plan(q *PlanQuery) (*Plan, error) {
	pl := &Plan{Fields: append([]FieldShape(nil), q.Fields...)}
	for i := range q.Fields {
		path, key := q.Describe(i)
		pl.Decisions = append(pl.Decisions, Decision{Action: ActionScan, Params: pp[path], Rule: "test.scan"})
		pl.Classes = append(pl.Classes, q.Classifier.Classify(q.Kind, path, key))
		pl.Paths = append(pl.Paths, path)
	}
	return pl, nil
}

// TestScannedValueKeptFindingsNotRemembered: a value a scan gave back
// unchanged because its params keep what was found is not remembered as
// holding nothing: the same value under default params is still redacted.
func TestScannedValueKeptFindingsNotRemembered(t *testing.T) {
	tr := newTestTransformer(t)
	rw := NewRewriter()
	pp := paramsPlanner{"a": {Findings: map[string]Action{ClassPhone: ActionKeep, ClassEmail: ActionKeep}}}
	for _, in := range []string{`{"a":"+1 415 555 0123","b":"+1 415 555 0123"}`, `{"a":"+1 415 555 0123"}`, `{"b":"+1 415 555 0123"}`} {
		var st Stats
		out, err := rw.Rewrite(nil, []byte(in), &Record{Tenant: "t", Format: "f", Kind: "event", Classifier: keyClassifier{}, Planner: pp, Transformer: tr}, &st)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(in, `"a"`) && !strings.Contains(string(out), `"a":"+1 415 555 0123"`) {
			t.Errorf("%s -> %s: a's phone not kept", in, out)
		}
		if strings.Contains(in, `"b"`) && strings.Contains(string(out), `"b":"+1 415 555 0123"`) {
			t.Errorf("%s -> %s: b's phone kept", in, out)
		}
	}
}
