package formats_test

import (
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
	f(`escapes are decoded before hashing`, env, `a"b\c`, 1)
	f("every field dropped: nothing", formatstest.DropEnv(t), "user-42", 0)
}
