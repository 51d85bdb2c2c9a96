package posthog

import (
	"os"
	"testing"
)

// BenchmarkClean cleans the posthog-node batch (2 events, gunzipped) under
// the default policy with warm plan caches.
func BenchmarkClean(b *testing.B) {
	raw, err := os.ReadFile("testdata/node_batch.http")
	if err != nil {
		b.Fatal(err)
	}
	body := parseRequest(b, raw).body
	env := newEnv(b, nil)
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		env.Stats.Reset()
		var err error
		if dst, _, err = Clean(dst[:0], body, env); err != nil {
			b.Fatal(err)
		}
	}
}
