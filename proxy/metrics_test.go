package proxy

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type fakeBundle struct {
	mu       sync.Mutex
	revision string
	at       time.Time
	failures map[string]uint64
}

func (f *fakeBundle) BundleRevision() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revision
}

func (f *fakeBundle) BundleActivatedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at
}

func (f *fakeBundle) BundleFailures() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]uint64{"download": f.failures["download"], "verify": f.failures["verify"]}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestBundleMetrics(t *testing.T) {
	fb := &fakeBundle{failures: map[string]uint64{"download": 2}}
	m := NewMetrics(fb)
	tests := []struct {
		name    string
		change  func()
		want    []string
		notWant []string
	}{
		{
			name:    "before the first bundle",
			change:  func() {},
			want:    []string{"consentry_policy_bundle_last_activation_timestamp_seconds 0", `consentry_policy_bundle_failures_total{reason="download"} 2`, `consentry_policy_bundle_failures_total{reason="verify"} 0`},
			notWant: []string{"consentry_policy_bundle_info{"},
		},
		{
			name:   "r1 active",
			change: func() { fb.mu.Lock(); fb.revision, fb.at = "r1", time.Unix(1700000000, 0); fb.mu.Unlock() },
			want:   []string{`consentry_policy_bundle_info{revision="r1"} 1`, "consentry_policy_bundle_last_activation_timestamp_seconds 1.7e+09"},
		},
		{
			name: "r2 active, a refused r3",
			change: func() {
				fb.mu.Lock()
				fb.revision = "r2"
				fb.failures["verify"] = 1
				fb.mu.Unlock()
			},
			want:    []string{`consentry_policy_bundle_info{revision="r2"} 1`, `consentry_policy_bundle_failures_total{reason="verify"} 1`},
			notWant: []string{`revision="r1"`},
		},
	}
	for _, tc := range tests {
		tc.change()
		out := scrape(t, m)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: missing %s in\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%s: unexpected %s in\n%s", tc.name, w, out)
			}
		}
	}
	if out := scrape(t, NewMetrics(nil)); strings.Contains(out, "consentry_policy_bundle") {
		t.Errorf("bundle metrics without a bundle source:\n%s", out)
	}
}

func TestReadyzReasonsAndRevision(t *testing.T) {
	p, _ := testProxy(t)
	waiting := "waiting for the first policy bundle"
	reason := waiting
	mux := AdminMux(p, func() string { return reason })
	get := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var m map[string]any
		_ = json.NewDecoder(rec.Body).Decode(&m)
		return rec.Code, m
	}
	if code, m := get(); code != 503 || !strings.Contains(toJSON(m["reasons"]), waiting) {
		t.Fatalf("not ready: %d %v", code, m)
	}
	reason = ""
	if code, m := get(); code != 200 || m["policy_revision"] != p.policy.Revision() || m["policy_revision"] == "" {
		t.Fatalf("ready: %d %v", code, m)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
