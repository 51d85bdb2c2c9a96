package e2e

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// A single-tenant instance (--upstream, no tenants) forwards only the
// formats its upstream's vendor serves: a Segment batch, write key and all,
// sent to an instance in front of CleverTap is refused and never forwarded.
func TestSingleTenantAcceptsOnlyItsUpstreamsFormats(t *testing.T) {
	segmentBatch := []byte(`{"batch":[{"type":"track","event":"Order Completed","userId":"u-1","messageId":"m-1","properties":{"email":"jane.doe@example.com"}}]}`)
	auth := map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("SEGMENT-WRITE-KEY:")),
	}
	for _, tc := range []struct {
		name      string
		args      []string
		segment   int // status of the Segment batch
		forwarded bool
	}{
		{"CleverTap by default", nil, 403, false},
		{"--formats names segment", []string{"--formats", "clevertap.sdk,segment"}, 200, true},
		{"--formats all", []string{"--formats", "all"}, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t)
			cs := start(t, append([]string{"--upstream", up.url}, tc.args...)...)
			resp, body := post(t, cs.url+"/v1/batch", segmentBatch, auth)
			if resp.StatusCode != tc.segment {
				t.Fatalf("segment batch: %d %s", resp.StatusCode, body)
			}
			if got := len(up.requests()); (got > 0) != tc.forwarded {
				t.Fatalf("forwarded %d requests, want forwarded=%v", got, tc.forwarded)
			}
			if tc.segment == 403 {
				if code := gjson.GetBytes(body, "error.code").Str; code != "format_not_allowed" {
					t.Errorf("error code %q: %s", code, body)
				}
				if msg := gjson.GetBytes(body, "error.message").Str; !strings.Contains(msg, "segment") || !strings.Contains(msg, "clevertap.sdk") {
					t.Errorf("message does not say what is accepted: %s", msg)
				}
			}
			// CleverTap traffic always flows.
			if resp, body := post(t, cs.url+"/a1?z="+account, readTestdata(t, "android_batch.json"), nil); resp.StatusCode != 200 {
				t.Errorf("clevertap batch: %d %s", resp.StatusCode, body)
			}
		})
	}
	if _, errs, code := runCLI(t, "serve", "--upstream", "http://127.0.0.1:1", "--formats", "segmnt"); code == 0 || !strings.Contains(errs, `--formats: unknown format "segmnt"`) {
		t.Errorf("unknown format accepted: %d %s", code, errs)
	}
}
