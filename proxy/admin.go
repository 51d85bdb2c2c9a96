package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: it returns "" when fine, or the reason.
type Check func() string

// Admin listener bounds: a client of the admin listener cannot hold a
// connection or memory for long. WriteTimeout leaves room for a CPU profile
// of up to AdminWriteTimeout minus a few seconds (pprof refuses longer).
const (
	AdminReadHeaderTimeout = 5 * time.Second
	AdminReadTimeout       = 15 * time.Second
	AdminWriteTimeout      = 2 * time.Minute
	AdminIdleTimeout       = 60 * time.Second
	AdminMaxHeaderBytes    = 16 << 10
)

// NewAdminServer is the admin listener's server over handler, with every
// timeout and the header size bounded.
func NewAdminServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: AdminReadHeaderTimeout,
		ReadTimeout:       AdminReadTimeout,
		WriteTimeout:      AdminWriteTimeout,
		IdleTimeout:       AdminIdleTimeout,
		MaxHeaderBytes:    AdminMaxHeaderBytes,
	}
}

// AdminMux serves health and metrics; callers add their own handlers (the
// rights API, MountPprof) to the returned mux. /metrics is unauthenticated
// so that Prometheus can scrape it: the admin listener belongs on loopback
// or a private network.
func AdminMux(p *Proxy, checks ...Check) *http.ServeMux {
	mux := http.NewServeMux()
	live := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if reason := p.Live(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "not live", "reason": reason})
			return
		}
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
	return mux
}

// MountPprof serves /debug/pprof/ on mux behind the admin tokens (bearer,
// compared in constant time). Profiles hold no request data, but they are
// expensive to take and reveal the program: with no token it refuses to
// mount.
func MountPprof(mux *http.ServeMux, tokens []AdminToken) error {
	if len(tokens) == 0 {
		return errors.New("cannot serve /debug/pprof/ (admin_pprof): no admin_tokens configured")
	}
	hashes := make([]tokenHash, 0, len(tokens))
	for i, t := range tokens {
		if len(t.Secret) < MinAdminTokenLen {
			return fmt.Errorf("cannot serve /debug/pprof/ (admin_pprof): admin_tokens[%d] is shorter than %d bytes", i, MinAdminTokenLen)
		}
		hashes = append(hashes, hashToken(t))
	}
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, ok := authenticate(hashes, r.Header.Get("Authorization")); !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="consentry-admin"`)
				adminError(w, http.StatusUnauthorized, "invalid_token", "send Authorization: Bearer <admin token>")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /debug/pprof/", guard(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", guard(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", guard(pprof.Trace))
	return nil
}
