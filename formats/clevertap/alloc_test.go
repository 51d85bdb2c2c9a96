//go:build !race

package clevertap

import (
	"os"
	"testing"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/policy"
)

// TestSteadyStateNoEvaluations: once a batch's shapes are planned, cleaning
// it again runs no Rego (plans and record decisions come from the caches)
// and allocates nothing; the keyed results come from the transform cache.
func TestSteadyStateNoEvaluations(t *testing.T) {
	dense, err := os.ReadFile("testdata/bench/dense.json")
	if err != nil {
		t.Fatal(err)
	}
	android, err := Samples.ReadFile("samples/android_batch.json")
	if err != nil {
		t.Fatal(err)
	}
	env, memo := testEnvMemo(t, budget.Limits{})
	eng := env.Planner.(*policy.Engine)
	var out []byte
	for _, in := range [][]byte{android, dense} {
		// Plan the shapes and remember the keyed results; the transform
		// cache takes results asynchronously and may drop some under
		// load, so warm it until a batch finds them all.
		for range 10 {
			if out, _, err = CleanSDK(out[:0], in, env); err != nil {
				t.Fatal(err)
			}
			memo.Wait()
			if testing.AllocsPerRun(1, func() { out, _, _ = CleanSDK(out[:0], in, env) }) == 0 {
				break
			}
		}
		before := eng.Stats()
		allocs := testing.AllocsPerRun(20, func() {
			env.Stats.Reset()
			out, _, err = CleanSDK(out[:0], in, env)
		})
		if err != nil {
			t.Fatal(err)
		}
		after := eng.Stats()
		if n := after.Evaluations - before.Evaluations; n != 0 {
			t.Errorf("%d Rego evaluations in steady state", n)
		}
		if after.PlanMisses != before.PlanMisses || after.RecordMisses != before.RecordMisses {
			t.Errorf("cache misses in steady state: %+v -> %+v", before, after)
		}
		if allocs > 0 {
			t.Errorf("%v allocations per batch", allocs)
		}
	}
}
