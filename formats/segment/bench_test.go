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

// BenchmarkCleanURLHeavy cleans a page call whose eight URL fields
// (context.page and properties: url, referrer, path, search) carry an
// e-mail, secrets, ad click ids and text, percent-encoded: every URL is
// split and its parts decided as a record of kind "url".
func BenchmarkCleanURLHeavy(b *testing.B) {
	formatstest.BenchClean(b, "segment_url_query_encoded", func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
		return CleanBatch(dst, body, env, FormatSegment)
	})
}
