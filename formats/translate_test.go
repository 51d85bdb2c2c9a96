package formats_test

import (
	"slices"

	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
)

// dropKind drops every record of one kind (record_decision), keeps others.
type dropKind string

func (d dropKind) RecordDecision(_, _, kind, _ string) masking.Decision {
	if kind == string(d) {
		return masking.Decision{Action: masking.ActionDrop, Rule: "test.drop"}
	}
	return masking.Decision{Action: masking.ActionKeep}
}

func TestTranslateIDs(t *testing.T) {
	carriers := segment.IDCarriers(segment.FormatSegment)
	f := func(name string, env *formats.Env, id string, want int) [][]byte {
		t.Helper()
		ids, err := env.TranslateIDs(nil, carriers, []byte(id))
		if err != nil || len(ids) != want {
			t.Errorf("%s: %q %v, want %d values", name, ids, err, want)
		}
		for _, v := range ids {
			if string(v) == `"`+id+`"` {
				t.Errorf("%s: the identifier was not pseudonymised", name)
			}
		}
		return ids
	}
	env := formatstest.NewEnv(t, nil)
	ids := f("default policy: both shapes hash alike, one value", env, "user-42", 1)
	if len(ids) == 1 && len(ids[0]) != 66 {
		t.Errorf("not a hex HMAC-SHA-256: %s", ids[0])
	}
	env.Records = dropKind("identify")
	if got := f("identify records dropped: the track shape still carries it", env, "user-42", 1); len(got) == 1 && string(got[0]) != string(ids[0]) {
		t.Errorf("the track shape gives %s, identify gave %s", got[0], ids[0])
	}
	env.Records = formatstest.KeepAll{}
	// Escapes are decoded before hashing: the identifier a"b\c hashes like
	// the same string written with other escapes in traffic, and like the
	// policy's hash of its text.
	esc := f(`escapes are decoded before hashing`, env, `a"b\c`, 1)
	other, ok, err := env.TranslateID(nil, &carriers[0], []byte(`"a\u0022b\u005cc"`))
	if err != nil || !ok {
		t.Fatalf("escaped traffic: %v %v", ok, err)
	}
	d := masking.Decision{Action: masking.ActionHash}
	want, _, _, err := formatstest.Applier(t).Apply(nil, &d, []byte(`"a\"b\\c"`), masking.TypeString)
	if err != nil {
		t.Fatal(err)
	}
	if len(esc) != 1 || string(esc[0]) != string(other) || string(esc[0]) != string(want) {
		t.Errorf("escapes: %q, traffic writing \\u escapes holds %s, the hash of the text is %s", esc, other, want)
	}
	f("every field dropped: nothing", formatstest.DropEnv(t), "user-42", 0)
}

// tokenizeIDs tokenizes what the default classes hash: tokenize seals a
// JSON number and the string of the same digits differently.
type tokenizeIDs struct{}

func (tokenizeIDs) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p, _ := formatstest.ClassPlanner{}.Plan(q)
	for i := range p.Decisions {
		if p.Decisions[i].Action == masking.ActionHash {
			p.Decisions[i].Action = masking.ActionTokenize
		}
	}
	return p, nil
}

// An identifier that is a JSON number literal may have reached the vendor
// as a number (an SDK sending "userId":42): it is translated both ways.
// Before, only the string was, and the vendor held another token.
func TestTranslateIDsNumbers(t *testing.T) {
	env := formatstest.FuzzEnv(t)
	env.Planner = tokenizeIDs{}
	carriers := segment.IDCarriers(segment.FormatSegment)
	for _, c := range []struct {
		id   string
		toks []string
	}{
		{"42", []string{`"42"`, `42`}},
		{"-0.5e+3", []string{`"-0.5e+3"`, `-0.5e+3`}},
		{"042", []string{`"042"`}},     // not a JSON number
		{"1e999", []string{`"1e999"`}}, // no record may carry it as a number
		{"user-42", []string{`"user-42"`}},
	} {
		ids, err := env.TranslateIDs(nil, carriers, []byte(c.id))
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		var want []string
		for _, tok := range c.toks {
			v, ok, err := env.TranslateID(nil, &carriers[0], []byte(tok))
			if err != nil || !ok {
				t.Fatalf("%s: %v %v", tok, ok, err)
			}
			want = append(want, string(v))
		}
		var got []string
		for _, v := range ids {
			got = append(got, string(v))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", c.id, got, want)
		}
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "42": true, "-1": true, "1.5": true, "1e9": true, "-0.5E-3": true,
		"": false, "-": false, "042": false, "1.": false, ".5": false, "1e": false, "+1": false, "0x1": false, "42 ": false, "NaN": false,
	} {
		if got := formats.IsJSONNumber([]byte(s)); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}
