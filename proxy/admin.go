package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: it returns "" when fine, or the reason.
type Check func() string

// AdminMux serves health and metrics; callers add their own handlers (the
// rights API) to the returned mux.
func AdminMux(p *Proxy, checks ...Check) *http.ServeMux {
	mux := http.NewServeMux()
	live := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}
	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("GET /healthz", live)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var reasons []string
		if p.Draining() {
			reasons = append(reasons, "shutting down")
		}
		if p.policy == nil || !p.policy.Ready() {
			reasons = append(reasons, "no valid policy loaded")
		}
		for _, c := range checks {
			if r := c(); r != "" {
				reasons = append(reasons, r)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "not ready", "reasons": reasons})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ready", "policy_revision": p.policy.Revision()})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.Registry, promhttp.HandlerOpts{}))
	// Profiles hold no request data; the admin listener is loopback by default.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
