package segment

import (
	"testing"

	"github.com/consentry/consentry/formats/formatstest"
)

// TestURLCases: page URLs with an e-mail address in the query (plain and
// percent-encoded), the fragment and the path, secrets and ad click ids,
// reach the vendor with every part decided (goldens: testdata/*url_*).
func TestURLCases(t *testing.T) {
	formatstest.URLCases(t, Routes(), "segment_", nil)
	formatstest.URLCases(t, Routes(), "rudder_", nil)
}
