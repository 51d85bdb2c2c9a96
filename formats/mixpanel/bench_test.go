package mixpanel

import (
	"os"
	"testing"
)

// BenchmarkCleanForm cleans the node client's track_batch form body (2
// events, raw base64) under the default policy with warm plan caches:
// decode, clean, re-encode.
func BenchmarkCleanForm(b *testing.B) {
	raw, err := os.ReadFile("testdata/node_track_batch_post.http")
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
		if dst, _, err = Clean(dst[:0], body, env, KindEvent); err != nil {
			b.Fatal(err)
		}
	}
}
