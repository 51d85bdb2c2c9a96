package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSingleTenantFormats(t *testing.T) {
	ct := []string{"clevertap.sdk", "clevertap.rest", "clevertap.web"}
	for _, tc := range []struct {
		name, flag, upstream string
		cfg                  []string
		want                 []string // nil: all
		err                  string
	}{
		{name: "clevertap region", upstream: "https://eu1.clevertap-prod.com", want: ct},
		{name: "clevertap api", upstream: "https://in1.api.clevertap.com", want: ct},
		{name: "legacy wzrkt", upstream: "https://wzrkt.com", want: ct},
		{name: "unknown host is clevertap", upstream: "http://127.0.0.1:8081", want: ct},
		{name: "lookalike host is not segment", upstream: "https://notsegment.io", want: ct},
		{name: "segment", upstream: "https://api.segment.io", want: []string{"segment"}},
		{name: "segment eu", upstream: "https://events.eu1.segmentapis.com", want: []string{"segment"}},
		{name: "rudderstack", upstream: "https://acmeqtz.dataplane.rudderstack.com", want: []string{"rudderstack"}},
		{name: "amplitude", upstream: "https://api2.amplitude.com", want: []string{"amplitude"}},
		{name: "mixpanel eu", upstream: "https://api-eu.mixpanel.com", want: []string{"mixpanel"}},
		{name: "posthog", upstream: "https://eu.i.posthog.com", want: []string{"posthog"}},
		{name: "flag wins", flag: "segment, clevertap.sdk", cfg: []string{"posthog"}, upstream: "https://eu1.clevertap-prod.com", want: []string{"segment", "clevertap.sdk"}},
		{name: "config", cfg: []string{"posthog"}, upstream: "https://eu1.clevertap-prod.com", want: []string{"posthog"}},
		{name: "all", flag: "all", upstream: "https://eu1.clevertap-prod.com", want: nil},
		{name: "unknown", flag: "segmnt", upstream: "http://x", err: `--formats: unknown format "segmnt"`},
		{name: "unknown in config", cfg: []string{"segmnt"}, upstream: "http://x", err: `formats: unknown format "segmnt"`},
		{name: "all with names", flag: "all,segment", upstream: "http://x", err: `"all" cannot be combined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := singleTenantFormats(tc.flag, tc.cfg, tc.upstream)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}
