package rights

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxStaleness is how long an instance of a fleet serves without
// confirming that it has applied every change of the shared store.
const DefaultMaxStaleness = 5 * time.Second

// feedPage is how many feed rows one poll reads at a time.
const feedPage = 1000

// follower keeps a registry over a shared store current: it applies the
// feed's changes to memory in commit order, on every wake-up (another
// instance committed) and at least every pollEvery, and it turns the
// registry unhealthy (fail closed) when it cannot confirm being current for
// longer than maxStaleness.
//
// Every change reaches memory through the follower, this instance's own
// too: a writer commits, then waits until the follower has applied its
// position (waitApplied). So memory moves only in commit order and a lookup
// never sees an older state after a newer one was acknowledged.
type follower struct {
	feed         Feed
	maxStaleness time.Duration
	pollEvery    time.Duration

	mu        sync.Mutex // held while applying; guards applied
	staleMu   sync.Mutex // orders staleness transitions
	cursor    atomic.Uint64
	confirmed atomic.Int64  // unix nanos: start of the last poll that reached the end of the feed
	applied   chan struct{} // closed and replaced after each poll
	now       chan struct{} // asks for a poll
	ctx       context.Context
	cancel    context.CancelFunc // ends polls in flight when the registry closes

	stats FollowStats
}

// FollowStats are the follower's counters and state, for metrics.
type FollowStats struct {
	Position      atomic.Uint64 // last applied feed position
	Polls         atomic.Uint64
	PollErrors    atomic.Uint64
	Applied       atomic.Uint64 // feed rows applied
	Reloads       atomic.Uint64 // full reloads (feed truncated, reset)
	MissedWakeups atomic.Uint64 // polls that found changes no notification announced
	StaleSince    atomic.Int64  // unix nanos, 0 = current
	LastConfirmed atomic.Int64  // unix nanos
}

// Lag returns how long ago the registry last confirmed it was current.
func (s *FollowStats) Lag(now time.Time) time.Duration {
	c := s.LastConfirmed.Load()
	if c == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, c))
}

// WithMaxStaleness sets the staleness bound of a registry over a shared
// store (default DefaultMaxStaleness).
func WithMaxStaleness(d time.Duration) Option {
	return func(c *config) { c.maxStaleness = max(10*time.Millisecond, d) }
}

// WithPollInterval sets how often a registry over a shared store polls the
// feed when no notification arrives (default: a third of the staleness
// bound, at most 1 s).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.pollEvery = max(time.Millisecond, d) }
}

func newFollower(feed Feed, cfg *config, pos uint64) *follower {
	f := &follower{feed: feed, maxStaleness: cfg.maxStaleness, pollEvery: cfg.pollEvery,
		applied: make(chan struct{}), now: make(chan struct{}, 1)}
	if f.maxStaleness == 0 {
		f.maxStaleness = DefaultMaxStaleness
	}
	if f.pollEvery == 0 {
		f.pollEvery = min(time.Second, f.maxStaleness/3)
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.cursor.Store(pos)
	f.stats.Position.Store(pos)
	t := time.Now().UnixNano()
	f.confirmed.Store(t)
	f.stats.LastConfirmed.Store(t)
	return f
}

// FollowStats returns the follower's counters, or nil for a registry over a
// store of its own.
func (r *Registry) FollowStats() *FollowStats {
	if r == nil || r.follow == nil {
		return nil
	}
	return &r.follow.stats
}

// run is the follower's loop; it ends when the registry closes.
func (r *Registry) runFollower() {
	defer r.done.Done()
	f := r.follow
	tick := time.NewTicker(f.pollEvery)
	defer tick.Stop()
	// The staleness watch runs apart from the polls, so that a poll that
	// hangs on an unreachable database cannot delay failing closed.
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		watch := time.NewTicker(max(time.Millisecond, min(100*time.Millisecond, f.maxStaleness/10)))
		defer watch.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-watch.C:
				r.checkStaleness()
			}
		}
	}()
	r.poll(false)
	for {
		woken := false
		select {
		case <-r.stop:
			return
		case <-f.feed.Wake():
			woken = true
		case <-f.now:
			woken = true
		case <-tick.C:
		}
		r.poll(!woken)
	}
}

// checkStaleness fails closed once the last confirmation is too old. It
// may run from the watch and the poll at once; both compute the same.
func (r *Registry) checkStaleness() {
	f := r.follow
	f.staleMu.Lock()
	defer f.staleMu.Unlock()
	age := time.Since(time.Unix(0, f.confirmed.Load()))
	stale := age > f.maxStaleness
	if stale != r.stale.Load() {
		r.stale.Store(stale)
		if stale {
			f.stats.StaleSince.Store(time.Now().UnixNano())
		} else {
			f.stats.StaleSince.Store(0)
		}
	}
}

// poll applies every change after the cursor. backstop says that no
// notification asked for it: changes found then were announced by none.
func (r *Registry) poll(backstop bool) {
	f := r.follow
	start := time.Now()
	f.stats.Polls.Add(1)
	f.mu.Lock()
	err := r.catchUp(f.ctx, backstop)
	if err == nil {
		f.confirmed.Store(start.UnixNano())
		f.stats.LastConfirmed.Store(start.UnixNano())
	}
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
	if err != nil {
		f.stats.PollErrors.Add(1)
	}
	r.checkStaleness()
}

// catchUp reads and applies the feed to its end. Called with f.mu held.
func (r *Registry) catchUp(ctx context.Context, backstop bool) error {
	f := r.follow
	for {
		changes, err := f.feed.Changes(ctx, f.cursor.Load(), feedPage)
		if errors.Is(err, ErrFeedTruncated) {
			if err := r.reload(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if backstop && len(changes) > 0 {
			f.stats.MissedWakeups.Add(1)
			backstop = false
		}
		reloaded := false
		for i := range changes {
			c := &changes[i]
			if c.Reset {
				// The reload's snapshot holds every change up to its
				// position: read on from there.
				if err := r.reload(); err != nil {
					return err
				}
				reloaded = true
				break
			}
			r.pubMu.Lock()
			r.applyLocked(c.Hot, c.Sessions)
			r.pubMu.Unlock()
			f.cursor.Store(c.Seq)
			f.stats.Position.Store(c.Seq)
			f.stats.Applied.Add(1)
		}
		if !reloaded && len(changes) < feedPage {
			return nil
		}
	}
}

// reload replaces memory with the store's hot set (lookups read the old set
// until the new one is complete). Called with f.mu held.
func (r *Registry) reload() error {
	f := r.follow
	f.stats.Reloads.Add(1)
	pos, err := r.load()
	if err != nil {
		return err
	}
	f.cursor.Store(pos)
	f.stats.Position.Store(pos)
	return nil
}

// waitApplied returns once the follower has applied feed position seq (a
// change this instance committed), so that the request that caused it is
// acknowledged only when lookups see it.
func (r *Registry) waitApplied(seq uint64) error {
	f := r.follow
	deadline := time.NewTimer(f.maxStaleness)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		done, ch := f.cursor.Load() >= seq, f.applied
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case f.now <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("change %d committed but not applied within %v: %w", seq, f.maxStaleness, ErrUnavailable)
		case <-r.stop:
			return ErrUnavailable
		}
	}
}
