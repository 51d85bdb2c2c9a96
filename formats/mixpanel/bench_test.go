package mixpanel

import (
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
)

// BenchmarkCleanForm cleans the node client's track_batch form body (2
// events, raw base64) under the default policy with warm plan caches:
// decode, clean, re-encode.
func BenchmarkCleanForm(b *testing.B) {
	formatstest.BenchClean(b, "node_track_batch_post", func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
		return Clean(dst, body, env, KindEvent)
	})
}
