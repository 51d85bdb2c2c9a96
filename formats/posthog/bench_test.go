package posthog

import (
	"testing"

	"github.com/consentry/consentry/formats/formatstest"
)

// BenchmarkClean cleans the posthog-node batch (2 events, gunzipped) under
// the default policy with warm plan caches.
func BenchmarkClean(b *testing.B) {
	formatstest.BenchClean(b, "node_batch", Clean)
}
