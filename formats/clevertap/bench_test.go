package clevertap

import (
	"strconv"
	"testing"

	"github.com/consentry/consentry/budget"

	"github.com/consentry/consentry/formats"
)

// BenchmarkCleanSDK measures the masking engine on the Android sample batch
// (header + 4 records) with the default policy: decode, plan lookup,
// one-pass rewrite, encode. ns/record is the engine's cost per record.
func BenchmarkCleanSDK(b *testing.B) {
	benchClean(b, "android_batch.json", CleanSDK)
}

func BenchmarkCleanREST(b *testing.B) {
	benchClean(b, "rest_upload.json", CleanREST)
}

func benchClean(b *testing.B, sample string, clean func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error)) {
	in, err := Samples.ReadFile("samples/" + sample)
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv(b)
	out, res, err := clean(nil, in, env) // warm the plan cache
	if err != nil {
		b.Fatal(err)
	}
	records := res.RecordsIn
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		env.Stats.Reset()
		out, _, err = clean(out[:0], in, env)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}

// BenchmarkCleanSDKNewShapes is the cold path: a batch of 10 events whose
// 5 custom properties no earlier batch used, so every record is a new
// shape with 5 Rego evaluations (within the default per-request budgets).
func BenchmarkCleanSDKNewShapes(b *testing.B) {
	env := testEnvLimits(b, budget.Limits{MaxNewShapesPerTenantMinute: 1 << 30})
	var body, out []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body = append(body[:0], `[{"type":"meta","g":"__g0123","af":{"Make":"Google"}}`...)
		for r := range 10 {
			body = append(body, `,{"type":"event","evtName":"Charged","ep":1700000000,"evtData":{`...)
			for k := range 5 {
				if k > 0 {
					body = append(body, ',')
				}
				body = append(body, `"p`...)
				body = strconv.AppendInt(body, int64(i), 10)
				body = append(body, '_')
				body = strconv.AppendInt(body, int64(r*5+k), 10)
				body = append(body, `":"v"`...)
			}
			body = append(body, "}}"...)
		}
		body = append(body, ']')
		env.Stats.Reset()
		env.Stats.Budget.Active = true // charged as the proxy charges a request
		var err error
		out, _, err = CleanSDK(out[:0], body, env)
		if err != nil {
			b.Fatal(err)
		}
	}
}
