package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Liveness: /livez answers 200 only while the process makes progress.
const (
	// HeartbeatInterval is how often the watchdog goroutine beats.
	HeartbeatInterval = time.Second
	// HeartbeatStale: /livez fails when the watchdog has not beaten for
	// this long (the scheduler or the watchdog's locks are wedged).
	HeartbeatStale = 10 * time.Second
	// stallSlack is added to upstream.timeout: /livez fails when requests
	// are in flight and none has completed for upstream.timeout +
	// stallSlack (no request may legitimately take that long).
	stallSlack = time.Minute
)

// watchdog tracks the serving loop's progress.
type watchdog struct {
	beat     atomic.Int64 // unix nanos of the last heartbeat; 0: not started
	inflight atomic.Int64 // requests in the handler
	progress atomic.Int64 // unix nanos of the last completion (or of the end of an idle spell)
	stall    time.Duration
	interval time.Duration
	stale    time.Duration
}

// enter and leave bracket every request in Handle; allocation-free.
func (w *watchdog) enter(now time.Time) {
	if w.inflight.Add(1) == 1 {
		w.progress.Store(now.UnixNano()) // an idle spell is no stall
	}
}

func (w *watchdog) leave(now time.Time) {
	w.progress.Store(now.UnixNano())
	w.inflight.Add(-1)
}

// StartWatchdog beats every HeartbeatInterval until ctx ends. Each beat
// also takes the locks a request takes (metrics) and reads the policy
// engine, so that a wedge there stops the heartbeat.
func (p *Proxy) StartWatchdog(ctx context.Context) {
	w := &p.watch
	w.beat.Store(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				p.metrics.mu.Lock()
				_ = len(p.metrics.reqByStatus) // the lock is what is checked
				p.metrics.mu.Unlock()
				if p.policy != nil {
					_ = p.policy.Ready()
				}
				w.beat.Store(now.UnixNano())
			}
		}
	}()
}

// Live returns "" while the process makes progress, or the reason it does
// not: the watchdog has stopped beating, or requests are in flight and
// none has completed for longer than any request may take. Before
// StartWatchdog, only the second condition is checked.
func (p *Proxy) Live() string {
	w := &p.watch
	now := time.Now()
	if b := w.beat.Load(); b != 0 && now.Sub(time.Unix(0, b)) > w.stale {
		return fmt.Sprintf("the watchdog has not run for %s", now.Sub(time.Unix(0, b)).Round(time.Second))
	}
	if n := w.inflight.Load(); n > 0 {
		if idle := now.Sub(time.Unix(0, w.progress.Load())); idle > w.stall {
			return fmt.Sprintf("%d requests in flight and none completed for %s", n, idle.Round(time.Second))
		}
	}
	return ""
}
