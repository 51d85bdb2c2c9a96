package clevertap

import (
	"testing"

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
