package masking

import (
	"fmt"
	"strings"
	"testing"

	"github.com/consentry/consentry/budget"
)

// TestKeyAndPathBudgets: members over the key and path budgets are dropped
// whole under rule consentry.budget, counted by budget, and never reach
// the planner (no path, no slot).
func TestKeyAndPathBudgets(t *testing.T) {
	lim := budget.Defaults()
	lim.MaxKeyBytes, lim.MaxPathDepth, lim.MaxPathBytes = 8, 3, 16
	long := strings.Repeat("k", 9)
	cases := []struct {
		name, in, want string
		kind           budget.Kind
		n              int
	}{
		{"key at the limit", `{"kkkkkkkk":1,"a":2}`, `{"kkkkkkkk":1,"a":2}`, 0, 0},
		{"long key", `{"` + long + `":"x","a":2}`, `{"a":2}`, budget.KeyBytes, 1},
		{"long key over a subtree", `{"a":1,"` + long + `":{"b":1,"c":[1,2]}}`, `{"a":1}`, budget.KeyBytes, 1},
		{"depth at the limit", `{"a":{"b":{"c":1}}}`, `{"a":{"b":{"c":1}}}`, 0, 0},
		{"too deep", `{"a":{"b":{"c":{"d":1}},"e":2}}`, `{"a":{"b":{"c":{}},"e":2}}`, budget.PathDepth, 1},
		{"too deep in arrays", `{"a":[[[1]]],"b":1}`, `{"a":[[[]]],"b":1}`, budget.PathDepth, 1},
		{"path too long", `{"abcdefgh":{"ijklmnop":1,"q":2}}`, `{"abcdefgh":{"q":2}}`, budget.PathBytes, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rw := NewRewriter()
			rw.SetLimits(&lim)
			pl := &pathPlanner{def: ActionKeep}
			var st Stats
			out, err := rw.Rewrite(nil, []byte(tc.in), &Record{Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: fakeApplier{}}, &st)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("got %s, want %s", out, tc.want)
			}
			if got := st.Budget.Exceeded[tc.kind]; got != tc.n {
				t.Errorf("budget %s: %d, want %d (%+v)", tc.kind, got, tc.n, st.Budget.Exceeded)
			}
			rules := map[string]int{}
			st.Rules.Each(func(name string, n int) { rules[name] = n })
			if rules[budget.Rule] != tc.n {
				t.Errorf("rule %s counted %d, want %d", budget.Rule, rules[budget.Rule], tc.n)
			}
		})
	}
}

// budgetPlanner refuses every plan with a budget error.
type budgetPlanner struct{ kind budget.Kind }

func (p budgetPlanner) Plan(*PlanQuery) (*Plan, error) { return nil, budget.Err(p.kind) }

// usagePlanner records the Usage of the query it was given.
type usagePlanner struct {
	pathPlanner
	got *budget.Usage
}

func (p *usagePlanner) Plan(q *PlanQuery) (*Plan, error) {
	p.got = q.Usage
	return p.pathPlanner.Plan(q)
}

func TestUsageIsChargedOnlyWhenActive(t *testing.T) {
	for _, active := range []bool{false, true} {
		rw := NewRewriter()
		pl := &usagePlanner{pathPlanner: pathPlanner{def: ActionKeep}}
		var st Stats
		st.Budget.Active = active
		if _, err := rw.Rewrite(nil, []byte(`{"a":1}`), &Record{Kind: "event", Classifier: keyClassifier{}, Planner: pl, Transformer: fakeApplier{}}, &st); err != nil {
			t.Fatal(err)
		}
		if (pl.got == &st.Budget) != active || (pl.got == nil) == active {
			t.Errorf("active %v: planner got usage %p, stats usage %p", active, pl.got, &st.Budget)
		}
	}
}

func TestPlannerBudgetErrorDropsUnderBudgetRule(t *testing.T) {
	out, st, err := rewrite(t, `{"a":"secret","b":{"c":1,"d":[2,3]}}`, budgetPlanner{budget.RequestShapes})
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"b":{"d":[]}}` {
		t.Errorf("got %s", out)
	}
	if st.Budget.Exceeded[budget.RequestShapes] != 4 {
		t.Errorf("counted %+v, want 4 leaves", st.Budget.Exceeded)
	}
	rules := map[string]int{}
	st.Rules.Each(func(name string, n int) { rules[name] = n })
	if rules[budget.Rule] != 4 || rules[FailClosedRule] != 0 {
		t.Errorf("rules %v", rules)
	}
}

// TestDescribeIsLinear: a record with many distinct keys is described
// field by field without rescanning the record for each one.
func TestDescribeIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	const n = 30_000
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteString("}")
	pl := &pathPlanner{def: ActionKeep}
	out, st, err := rewrite(t, b.String(), pl)
	if err != nil || len(out) != b.Len() || st.Fields != n {
		t.Fatalf("err %v, %d fields", err, st.Fields)
	}
}

func TestReleaseRewriterDropsLargeScratch(t *testing.T) {
	lim := budget.Defaults()
	lim.MaxPooledBufferBytes = 1024
	rw := NewRewriter()
	rw.SetLimits(&lim)
	rw.nodes = make([]node, 0, 1000)
	if rw.footprint() <= lim.MaxPooledBufferBytes {
		t.Fatal("footprint does not count nodes")
	}
	ReleaseRewriter(rw) // must not panic; the pool may or may not hold it
	if rw.lim != nil {
		t.Fatal("limits kept after release")
	}
}
