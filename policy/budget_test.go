package policy

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
)

// wideQuery is a record of n fields named prefix0..prefixN-1.
func wideQuery(tenant, prefix string, n int) *masking.PlanQuery {
	fields := make([]field, n)
	for i := range fields {
		fields[i] = field{fmt.Sprintf("evtData.%s%d", prefix, i), masking.TypeString}
	}
	return newQuery(tenant, "clevertap.sdk", "event", "E", pathClassifier{}, fields...)
}

func countRule(p *masking.Plan, rule string) int {
	n := 0
	for _, d := range p.Decisions {
		if d.Rule == rule {
			n++
		}
	}
	return n
}

func TestPlanBudgets(t *testing.T) {
	cases := []struct {
		name    string
		limits  budget.Limits
		queries int // each a new shape of 10 fields, in one request
		wantErr []bool
		kind    budget.Kind
		dropped int // fields dropped by consentry.budget in the last plan
		refused bool
	}{
		{"within every budget", budget.Limits{}, 2, []bool{false, false}, 0, 0, false},
		{"new shapes per request", budget.Limits{MaxNewShapesPerRequest: 1}, 2, []bool{false, true}, budget.RequestShapes, 0, false},
		{"new shapes per tenant and minute", budget.Limits{MaxNewShapesPerTenantMinute: 1}, 2, []bool{false, true}, budget.TenantShapes, 0, true},
		{"evaluations per request", budget.Limits{MaxEvalsPerRequest: 14}, 2, []bool{false, false}, budget.Evaluations, 6, false},
		{"evaluation deadline", budget.Limits{EvalTimeout: time.Nanosecond}, 1, []bool{false}, budget.EvalDeadline, 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, WithLimits(tc.limits))
			var u budget.Usage
			var last *masking.Plan
			for i := range tc.queries {
				q := wideQuery("acme", fmt.Sprintf("f%d_", i), 10)
				q.Usage = &u
				p, err := e.Plan(q)
				if (err != nil) != tc.wantErr[i] {
					t.Fatalf("query %d: err %v, want error %v", i, err, tc.wantErr[i])
				}
				if err != nil {
					if k, ok := budget.KindOf(err); !ok || k != tc.kind {
						t.Fatalf("error %v, want budget %s", err, tc.kind)
					}
					continue
				}
				last = p
			}
			if got := countRule(last, budget.Rule); got != tc.dropped {
				t.Errorf("%d fields dropped by %s, want %d", got, budget.Rule, tc.dropped)
			}
			if u.Refused != tc.refused {
				t.Errorf("refused %v, want %v", u.Refused, tc.refused)
			}
			if tc.dropped > 0 && u.Exceeded[tc.kind] != tc.dropped {
				t.Errorf("usage %+v, want %d of %s", u.Exceeded, tc.dropped, tc.kind)
			}
		})
	}
}

// TestPartialPlanIsNotCached: a plan with fields left undecided by a budget
// is rebuilt by the next request, which decides more of them.
func TestPartialPlanIsNotCached(t *testing.T) {
	e := newEngine(t, WithLimits(budget.Limits{MaxEvalsPerRequest: 6}))
	for i, want := range []int{4, 0} {
		var u budget.Usage
		q := wideQuery("acme", "x", 10)
		q.Usage = &u
		p, err := e.Plan(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := countRule(p, budget.Rule); got != want {
			t.Fatalf("request %d: %d fields dropped, want %d", i, got, want)
		}
	}
	if s := e.Stats(); s.Evaluations != 10 || s.PlanMisses != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestPlanCacheIsBoundedByBytes: plans of wide records with long paths
// fill a small cache by their size, not their number.
func TestPlanCacheIsBoundedByBytes(t *testing.T) {
	const cacheBytes = 1 << 20
	e := newEngine(t, WithLimits(budget.Limits{PlanCacheBytes: cacheBytes, MaxEvalsPerRequest: 1 << 20}))
	const n = 200
	var size int64
	for i := range n {
		p, err := e.Plan(sigQuery(i))
		if err != nil {
			t.Fatal(err)
		}
		size = p.Size()
	}
	hitsBefore := e.Stats().PlanHits
	for i := range n {
		if _, err := e.Plan(sigQuery(i)); err != nil {
			t.Fatal(err)
		}
	}
	hits := int64(e.Stats().PlanHits - hitsBefore)
	if hits == 0 || hits*size > cacheBytes {
		t.Fatalf("%d of %d plans of %d bytes cached, budget %d bytes", hits, n, size, cacheBytes)
	}
}

// sigQuery is shape i of records with the same 50 long-named fields (its
// decisions are cached after the first; its plan is new).
func sigQuery(i int) *masking.PlanQuery {
	q := wideQuery("acme", "some_rather_long_property_name_", 50)
	q.Sig += uint64(i)
	return q
}

func TestShapeLimiterWindows(t *testing.T) {
	l := shapeLimiter{limit: 2}
	t0 := time.Unix(6000, 0)
	steps := []struct {
		tenant string
		at     time.Time
		want   bool
	}{
		{"a", t0, true},
		{"a", t0.Add(time.Second), true},
		{"a", t0.Add(2 * time.Second), false},
		{"b", t0.Add(2 * time.Second), true},
		{"a", t0.Add(time.Minute), true},
	}
	for i, s := range steps {
		if got := l.allow(s.tenant, s.at); got != s.want {
			t.Errorf("step %d: allow(%s) = %v, want %v", i, s.tenant, got, s.want)
		}
	}
}

// TestPlanningSlotsBoundConcurrency: with one slot taken, a plan that
// needs an evaluation waits at most the request's policy time, then drops
// its undecided fields.
func TestPlanningSlotsBoundConcurrency(t *testing.T) {
	e := newEngine(t, WithLimits(budget.Limits{MaxConcurrentPlanning: 1, PolicyTimePerRequest: 20 * time.Millisecond}))
	e.planSlots <- struct{}{}
	defer func() { <-e.planSlots }()
	var u budget.Usage
	q := wideQuery("acme", "slot", 3)
	q.Usage = &u
	start := time.Now()
	p, err := e.Plan(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second { // a slot never freed would wait for the test's end
		t.Fatalf("waited %v", d)
	}
	if countRule(p, budget.Rule) != 3 || u.Exceeded[budget.EvalDeadline] != 3 {
		t.Fatalf("plan %+v usage %+v", p.Decisions, u.Exceeded)
	}
	if cap(e.planSlots) != 1 || runtime.GOMAXPROCS(0) < 1 {
		t.Fatal("slots")
	}
}

func TestBudgetRuleIsReserved(t *testing.T) {
	for _, rule := range []string{masking.FailClosedRule, budget.Rule} {
		if _, err := parseDecision(map[string]any{"action": "keep", "rule": rule}, false, ""); err == nil {
			t.Errorf("a policy may use the reserved rule id %s", rule)
		}
	}
}

// Record decisions are charged too: distinct event names cost one
// evaluation each, within the request's cap; past it, or when an
// evaluation runs out of time, the request is refused and nothing is cached
// (review finding: record decisions were free, and a timeout was cached as
// a lasting policy error).
func TestRecordDecisionsCharged(t *testing.T) {
	t.Run("evaluation cap", func(t *testing.T) {
		e := newEngine(t, WithLimits(budget.Limits{MaxEvalsPerRequest: 5}))
		u := budget.Usage{Active: true}
		for i := range 5 {
			if d := e.RecordDecisionCharged("acme", "clevertap.sdk", "event", fmt.Sprintf("E%d", i), &u); d.Rule == budget.Rule {
				t.Fatalf("record %d refused within the cap", i)
			}
		}
		if d := e.RecordDecisionCharged("acme", "clevertap.sdk", "event", "E5", &u); d.Rule != budget.Rule || !u.Refused {
			t.Fatalf("past the cap: %+v, refused %v", d, u.Refused)
		}
		// Cached names stay free; the next request decides the rest.
		next := budget.Usage{Active: true}
		if d := e.RecordDecisionCharged("acme", "clevertap.sdk", "event", "E0", &next); d.Rule == budget.Rule || next.Evaluations != 0 {
			t.Fatalf("a cached decision was charged: %+v %+v", d, next)
		}
		if d := e.RecordDecisionCharged("acme", "clevertap.sdk", "event", "E5", &next); d.Rule == budget.Rule {
			t.Fatal("the next request could not decide the refused name")
		}
	})
	t.Run("timeout is not cached", func(t *testing.T) {
		e := newEngine(t, WithLimits(budget.Limits{EvalTimeout: time.Nanosecond}))
		u := budget.Usage{Active: true}
		if d := e.RecordDecisionCharged("acme", "clevertap.sdk", "event", "Slow", &u); d.Rule != budget.Rule || !u.Refused {
			t.Fatalf("timed out: %+v, refused %v", d, u.Refused)
		}
		if st := e.Stats(); st.RecordHits != 0 {
			t.Fatalf("stats %+v", st)
		}
		if d := e.RecordDecision("acme", "clevertap.sdk", "event", "Slow"); d.Rule == masking.FailClosedRule {
			t.Fatal("a timed-out evaluation was cached as a policy error")
		}
	})
}
