package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminPprofAndMetricsAccess(t *testing.T) {
	p, _ := testProxy(t)
	const secret = "0123456789abcdef-pprof"
	off := AdminMux(p)
	on := AdminMux(p)
	if err := MountPprof(on, []AdminToken{{Name: "ops", Secret: []byte(secret)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mux    http.Handler
		path   string
		auth   string
		status int
	}{
		{"pprof off by default", off, "/debug/pprof/", "", 404},
		{"pprof profile off by default", off, "/debug/pprof/profile", "Bearer " + secret, 404},
		{"pprof without a token", on, "/debug/pprof/", "", 401},
		{"pprof with a wrong token", on, "/debug/pprof/", "Bearer 0123456789abcdef-wrong", 401},
		{"pprof with a token", on, "/debug/pprof/", "Bearer " + secret, 200},
		{"pprof heap with a token", on, "/debug/pprof/heap", "Bearer " + secret, 200},
		{"metrics stay open", on, "/metrics", "", 200},
		{"livez stays open", on, "/livez", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			tc.mux.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("got %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
	if err := MountPprof(AdminMux(p), nil); err == nil {
		t.Error("pprof mounted without a token")
	}
	if err := MountPprof(AdminMux(p), []AdminToken{{Name: "short", Secret: []byte("short")}}); err == nil {
		t.Error("pprof mounted with a short token")
	}
}

func TestAdminServerBounds(t *testing.T) {
	s := NewAdminServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("unbounded admin server: %+v", s)
	}
	if s.WriteTimeout <= 30*time.Second {
		t.Errorf("WriteTimeout %s refuses pprof's default 30s CPU profile", s.WriteTimeout)
	}
}

func TestLivez(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(p *Proxy)
		status int
		reason string
	}{
		{"watchdog not started", func(p *Proxy) {}, 200, ""},
		{"fresh heartbeat", func(p *Proxy) { p.watch.beat.Store(time.Now().UnixNano()) }, 200, ""},
		{"stale heartbeat", func(p *Proxy) { p.watch.beat.Store(time.Now().Add(-time.Minute).UnixNano()) }, 503, "watchdog has not run"},
		{"long request within bounds", func(p *Proxy) {
			p.watch.enter(time.Now().Add(-time.Minute))
		}, 200, ""},
		{"requests in flight, none completing", func(p *Proxy) {
			p.watch.enter(time.Now().Add(-time.Hour))
		}, 503, "none completed"},
		{"idle after an old completion", func(p *Proxy) {
			p.watch.enter(time.Now().Add(-time.Hour))
			p.watch.leave(time.Now().Add(-time.Hour))
		}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testProxy(t)
			tc.setup(p)
			rec := httptest.NewRecorder()
			AdminMux(p).ServeHTTP(rec, httptest.NewRequest("GET", "/livez", nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.reason) {
				t.Errorf("got %d %s, want %d %q", rec.Code, rec.Body, tc.status, tc.reason)
			}
		})
	}
}

func TestWatchdogBeats(t *testing.T) {
	p, _ := testProxy(t)
	p.watch.interval, p.watch.stale = 5*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	p.StartWatchdog(ctx)
	time.Sleep(100 * time.Millisecond)
	if r := p.Live(); r != "" {
		t.Fatalf("live watchdog: %s", r)
	}
	// A wedged lock the heartbeat takes stops it, and /livez fails.
	p.metrics.mu.Lock()
	time.Sleep(100 * time.Millisecond)
	r := p.Live()
	p.metrics.mu.Unlock()
	if !strings.Contains(r, "watchdog has not run") {
		t.Errorf("wedged: Live() = %q", r)
	}
	cancel()
}
