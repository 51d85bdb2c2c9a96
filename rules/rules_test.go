package rules_test

import (
	"testing"

	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// TestRego runs every Rego unit test of the shipped policy, one subtest each,
// with the engine's compiler settings (strict, Rego v1).
func TestRego(t *testing.T) {
	results, err := policy.RunTests(t.Context(), rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests found in rules.FS")
	}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			switch {
			case r.Skip:
				t.Skipf("%s: skipped (todo_test_)", r.Location)
			case !r.Pass:
				t.Errorf("%s: %s.%s: %s", r.Location, r.Package, r.Name, r.Fail)
			}
			for _, c := range r.Cases {
				if !c.Pass {
					t.Errorf("case %q failed", c.Name)
				}
			}
		})
	}
}

// TestRegoFormat is `opa fmt --fail` over every shipped .rego file.
func TestRegoFormat(t *testing.T) {
	bad, err := policy.CheckFormat(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range bad {
		t.Errorf("%s is not opa fmt-formatted (run: opa fmt -w rules/%s)", f, f)
	}
}

// TestShippedPolicyLoads checks that the embedded policy loads without its
// tests, as the proxy loads it.
func TestShippedPolicyLoads(t *testing.T) {
	e, err := policy.New(policy.WithFS(rules.FS))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if !e.Ready() || e.Revision() == "" {
		t.Fatalf("Ready() = %v, Revision() = %q", e.Ready(), e.Revision())
	}
}
