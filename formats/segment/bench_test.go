package segment

import (
	"os"
	"testing"
)

// BenchmarkCleanBatch cleans the Segment node batch (2 messages) under the
// default policy with warm plan caches.
func BenchmarkCleanBatch(b *testing.B) {
	raw, err := os.ReadFile("testdata/segment_node_batch.http")
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
		if dst, _, err = CleanBatch(dst[:0], body, env, FormatSegment); err != nil {
			b.Fatal(err)
		}
	}
}
