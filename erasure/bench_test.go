package erasure

import (
	"testing"

	"github.com/consentry/consentry/formats/formatstest"
)

// BenchmarkSubjectIDs is the cost of translating one identifier for one
// vendor under the default policy (two record shapes through the policy and
// the keyed hash), which an erasure pays once per configured vendor.
func BenchmarkSubjectIDs(b *testing.B) {
	for _, name := range []string{CleverTap, Segment, Mixpanel} {
		b.Run(name, func(b *testing.B) {
			v, err := New(name, testConfigs[name])
			if err != nil {
				b.Fatal(err)
			}
			env := formatstest.NewEnv(b, nil)
			id := []byte("user-42@example.com")
			b.ReportAllocs()
			for b.Loop() {
				if ids, err := v.SubjectIDs(nil, env, false, id); err != nil || len(ids) != 1 {
					b.Fatal(ids, err)
				}
			}
		})
	}
}
