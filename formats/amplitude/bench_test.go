package amplitude

import (
	"testing"

	"github.com/consentry/consentry/formats/formatstest"
)

// BenchmarkClean cleans the Amplitude node upload (2 events) under the
// default policy with warm plan caches.
func BenchmarkClean(b *testing.B) {
	formatstest.BenchClean(b, "amplitude_node", Clean)
}
