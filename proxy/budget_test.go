package proxy

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// TestBudgetRefusals: server-wide and tenant budgets refuse at once with a
// JSON 503, count the budget, and forward nothing.
func TestBudgetRefusals(t *testing.T) {
	batch := []byte(`[{"type":"meta","id":"ACC"},{"type":"event","evtName":"E","evtData":{"Email":"a@b.co","NewKey":1}}]`)
	cases := []struct {
		name   string
		setup  func(p *Proxy)
		code   string
		kind   budget.Kind
		status int
	}{
		{"within budgets", func(*Proxy) {}, "", 0, 200},
		{"in-flight requests", func(p *Proxy) { p.inFlight.Store(int64(p.cfg.Limits.MaxInFlightRequests)) }, "overloaded", budget.InFlightRequests, 503},
		{"in-flight bytes", func(p *Proxy) { p.inFlightBytes.Store(p.cfg.Limits.MaxInFlightBodyBytes) }, "overloaded", budget.InFlightBytes, 503},
		{"new shapes per tenant and minute", func(p *Proxy) {
			eng, err := policy.New(policy.WithFS(rules.FS), policy.WithLimits(budget.Limits{MaxNewShapesPerTenantMinute: 1}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(eng.Close)
			p.policy = eng
		}, "shape_budget_exceeded", budget.TenantShapes, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testProxy(t)
			tc.setup(p)
			var ctx fasthttp.RequestCtx
			request(&ctx, "POST", "/a1?z=ACC", batch)
			p.Handle(&ctx)
			body := string(ctx.Response.Body())
			if ctx.Response.StatusCode() != tc.status || (tc.code != "" && !strings.Contains(body, `{"error":{"code":"`+tc.code+`"`)) {
				t.Fatalf("got %d %s", ctx.Response.StatusCode(), body)
			}
			if tc.code == "" {
				return
			}
			if len(ctx.Response.Header.Peek("Retry-After")) == 0 {
				t.Error("no Retry-After")
			}
			if strings.Contains(body, "a@b.co") {
				t.Error("a value in the error body")
			}
			if got := counterValue(t, p, `consentry_budget_exceeded_total`, tc.kind.String()); got < 1 {
				t.Errorf("consentry_budget_exceeded_total{budget=%q} = %v", tc.kind, got)
			}
		})
	}
}

func counterValue(t *testing.T, p *Proxy, name, label string) float64 {
	t.Helper()
	mfs, err := p.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestReleaseStateDropsLargeBuffers(t *testing.T) {
	st := &reqState{body: make([]byte, 0, 2048), out: make([]byte, 0, 16), zipped: make([]byte, 0, 4096)}
	releaseState(st, 1024)
	if st.body != nil || st.zipped != nil || st.out == nil {
		t.Fatalf("body %d out %d zipped %d", cap(st.body), cap(st.out), cap(st.zipped))
	}
}
