//go:build !race

package policy

import (
	"testing"

	"github.com/consentry/consentry/masking"
)

// TestHotPathAllocs proves that a plan hit and a record-decision hit
// allocate nothing. (ristretto's access buffer allocates one 512-byte
// batch per 64 Gets, which AllocsPerRun's integer average reports as 0.)
func TestHotPathAllocs(t *testing.T) {
	e := newEngine(t)
	q := benchQuery(15)
	if _, err := e.Plan(q); err != nil {
		t.Fatal(err)
	}
	e.RecordDecision("acme-eu", "clevertap.sdk", "event", "Charged")

	var plan *masking.Plan
	if n := testing.AllocsPerRun(1000, func() { plan, _ = e.Plan(q) }); n != 0 {
		t.Errorf("Plan hit: %v allocs, want 0", n)
	}
	if plan == nil || e.Stats().PlanMisses != 1 {
		t.Fatalf("plan not served from cache: %+v", e.Stats())
	}
	var d masking.Decision
	if n := testing.AllocsPerRun(1000, func() { d = e.RecordDecision("acme-eu", "clevertap.sdk", "event", "Charged") }); n != 0 {
		t.Errorf("RecordDecision hit: %v allocs, want 0", n)
	}
	if d.Action != masking.ActionKeep {
		t.Fatalf("record decision %+v", d)
	}
}
