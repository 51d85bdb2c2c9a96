package policy

import (
	"strconv"
	"testing"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
)

// benchFields is a CleverTap event with typical keys.
var benchFields = []struct {
	path, class string
	typ         masking.ValueType
}{
	{"type", "record.meta", masking.TypeString},
	{"evtName", "record.meta", masking.TypeString},
	{"ep", "record.meta", masking.TypeNumber},
	{"s", "record.meta", masking.TypeNumber},
	{"pg", "record.meta", masking.TypeNumber},
	{"g", "id.device", masking.TypeString},
	{"evtData.Email", "contact.email", masking.TypeString},
	{"evtData.Phone", "contact.phone", masking.TypeString},
	{"evtData.Identity", "id.user", masking.TypeString},
	{"evtData.Amount", "", masking.TypeNumber},
	{"evtData.Currency", "", masking.TypeString},
	{"evtData.Note", "free_text", masking.TypeString},
	{"evtData.Items[].Name", "", masking.TypeString},
	{"af.GoogleAdID", "device.ad_id", masking.TypeString},
	{"af.Carrier", "network.carrier", masking.TypeString},
	{"af.Lat", "geo.lat", masking.TypeNumber},
	{"af.Lng", "geo.lng", masking.TypeNumber},
	{"af.useIP", "net.use_ip", masking.TypeBool},
	{"af.Make", "device.info", masking.TypeString},
	{"af.wifi", "network.wifi", masking.TypeBool},
}

// benchQuery returns an event query with the first n bench fields.
func benchQuery(n int) *masking.PlanQuery {
	cl := pathClassifier{}
	fields := make([]field, n)
	for i := range n {
		f := benchFields[i%len(benchFields)]
		cl[f.path] = f.class
		fields[i] = field{f.path, f.typ}
	}
	return newQuery("acme-eu", "clevertap.sdk", "event", "Charged", cl, fields...)
}

var sinkPlan *masking.Plan

// BenchmarkPlanHit is the hot path: a cached plan for a 15-field event.
func BenchmarkPlanHit(b *testing.B) {
	e := newEngine(b)
	q := benchQuery(15)
	if _, err := e.Plan(q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkPlan, _ = e.Plan(q)
	}
}

func BenchmarkPlanHitParallel(b *testing.B) {
	e := newEngine(b)
	q := benchQuery(15)
	if _, err := e.Plan(q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, _ := e.Plan(q)
			if p == nil {
				b.Error("nil plan")
			}
		}
	})
}

// BenchmarkPlanMissCachedDecisions is a new shape whose field decisions are
// all cached (a new combination of known fields).
func BenchmarkPlanMissCachedDecisions(b *testing.B) {
	e := newEngine(b)
	q := benchQuery(15)
	if _, err := e.Plan(q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Sig++
		sinkPlan, _ = e.Plan(q)
	}
}

// BenchmarkPlanMissEval is a new shape with new decisions: 15 Rego
// evaluations (a new event name).
func BenchmarkPlanMissEval(b *testing.B) {
	e := newEngine(b, WithCacheBytes(8<<20))
	q := benchQuery(15)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		q.Name = "Event" + strconv.Itoa(i)
		sinkPlan, _ = e.Plan(q)
	}
	b.ReportMetric(float64(e.Stats().Evaluations)/float64(b.N), "evals/op")
}

var sinkDecision masking.Decision

func BenchmarkRecordDecisionHit(b *testing.B) {
	e := newEngine(b)
	e.RecordDecision("acme-eu", "clevertap.sdk", "event", "Charged")
	b.ReportAllocs()
	for b.Loop() {
		sinkDecision = e.RecordDecision("acme-eu", "clevertap.sdk", "event", "Charged")
	}
}

func BenchmarkRecordDecisionMiss(b *testing.B) {
	e := newEngine(b, WithCacheBytes(8<<20))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		sinkDecision = e.RecordDecision("acme-eu", "clevertap.sdk", "event", "Event"+strconv.Itoa(i))
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, err := New()
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}

// newKeysQuery is a 15-field event whose keys no earlier call used: the
// cold path of a shape flood (15 Rego evaluations).
func newKeysQuery(i int) *masking.PlanQuery {
	fields := make([]field, 15)
	for k := range fields {
		fields[k] = field{"evtData.p" + strconv.Itoa(i) + "_" + strconv.Itoa(k), masking.TypeString}
	}
	return newQuery("acme-eu", "clevertap.sdk", "event", "Charged", pathClassifier{}, fields...)
}

// BenchmarkPlanColdNewKeys is a new shape of 15 never-seen keys per
// request, charged to the request's budgets.
func BenchmarkPlanColdNewKeys(b *testing.B) {
	e := newEngine(b, WithLimits(budget.Limits{MaxNewShapesPerTenantMinute: 1 << 30}))
	var u budget.Usage
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		q := newKeysQuery(i)
		u.Reset()
		q.Usage = &u
		sinkPlan, _ = e.Plan(q)
	}
	b.ReportMetric(float64(e.Stats().Evaluations)/float64(b.N), "evals/op")
}

// BenchmarkPlanColdWideRecord is one record with 60,000 never-seen keys
// under the default budgets: MaxEvalsPerRequest evaluations, the rest
// dropped (consentry.budget), the plan not cached.
func BenchmarkPlanColdWideRecord(b *testing.B) {
	e := newEngine(b, WithLimits(budget.Limits{MaxNewShapesPerTenantMinute: 1 << 30}))
	const n = 60_000
	var u budget.Usage
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		fields := make([]field, n)
		for k := range fields {
			fields[k] = field{"evtData.w" + strconv.Itoa(i) + "_" + strconv.Itoa(k), masking.TypeString}
		}
		q := newQuery("acme-eu", "clevertap.sdk", "event", "Wide", pathClassifier{}, fields...)
		u.Reset()
		q.Usage = &u
		sinkPlan, _ = e.Plan(q)
	}
	b.ReportMetric(float64(e.Stats().Evaluations)/float64(b.N), "evals/op")
}
