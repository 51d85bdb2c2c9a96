package segment

import (
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
)

// BenchmarkCleanBatch cleans the Segment node batch (2 messages) under the
// default policy with warm plan caches.
func BenchmarkCleanBatch(b *testing.B) {
	formatstest.BenchClean(b, "segment_node_batch", func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
		return CleanBatch(dst, body, env, FormatSegment)
	})
}
