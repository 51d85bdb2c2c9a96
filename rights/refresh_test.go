package rights

import (
	"testing"
	"time"
)

// linkSeen reads when the link ik↔dk was last seen, from the store.
func linkSeen(t *testing.T, r *Registry, ik, dk Key) time.Time {
	t.Helper()
	var seen time.Time
	err := r.store.View(func(rd StoreReader) error {
		return rd.Links(dk, KindDevice, func(o Key, s time.Time) error {
			if o == ik {
				seen = s
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// returnsWithin reports whether fn returns within d (it keeps running
// otherwise; done receives its error).
func returnsWithin(d time.Duration, fn func() error) (chan error, bool) {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		done <- err
		return done, true
	case <-time.After(d):
		return done, false
	}
}

// A device seen again after a day refreshes its link without waiting for a
// commit; the refresh is written by the next commit, once per device, and
// a new link still waits for its commit.
func TestLinkRefreshIsAsynchronous(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := be.open(t, WithClock(clock.now))()
			alice := r.Ref(tenant, b("alice"), b("phone"))
			if err := r.Link(alice); err != nil {
				t.Fatal(err)
			}
			linked := clock.now()
			clock.advance(2 * day)
			r.hour.Add(sessionTrustHours) // the link cache trusts an entry for a day
			phone := r.Ref(tenant, nil, b("phone"))

			r.wmu.Lock() // no commit can happen
			if _, ok := returnsWithin(5*time.Second, func() error { return r.Learn(phone, Signals{}) }); !ok {
				r.wmu.Unlock()
				t.Fatal("a device-only record waited for a commit to refresh its link")
			}
			// The device is pending: read again (cache dropped), it is not
			// queued twice.
			r.sess.clear()
			if err := r.Learn(phone, Signals{}); err != nil {
				t.Error(err)
			}
			if st := r.RefreshStats(); st.Queued != 1 || st.Written != 0 {
				t.Errorf("stats while no commit can run: %+v, want 1 queued, 0 written", st)
			}
			if got := linkSeen(t, r, alice.Identity, alice.Device); !got.Equal(linked) {
				t.Errorf("link seen %v before any commit, want %v", got, linked)
			}
			// A new link is durable before the answer.
			done, ok := returnsWithin(200*time.Millisecond, func() error { return r.Link(r.Ref(tenant, b("bob"), b("tablet"))) })
			if ok {
				t.Error("a new link returned while no commit could run")
			}
			r.wmu.Unlock()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "refresh written", func() bool { return r.RefreshStats().Written == 1 })
			if got := linkSeen(t, r, alice.Identity, alice.Device); !got.Equal(linked.Add(2 * day)) {
				t.Errorf("link seen %v after the refresh, want %v", got, linked.Add(2*day))
			}
			// Refreshed and cached: seen again the same day, nothing queued.
			r.sess.clear()
			if err := r.Learn(phone, Signals{}); err != nil {
				t.Fatal(err)
			}
			if st := r.RefreshStats(); st.Queued != 1 || st.Dropped != 0 {
				t.Errorf("stats after the refresh: %+v", st)
			}
		})
	}
}

// A full queue drops the refresh and does not cache the device, so that
// its next record tries again.
func TestLinkRefreshQueueFull(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := be.open(t, WithClock(clock.now))()
			r.refresh.limit = 1
			a, c := r.Ref(tenant, b("alice"), b("phone")), r.Ref(tenant, b("carol"), b("laptop"))
			for _, ref := range []Ref{a, c} {
				if err := r.Link(ref); err != nil {
					t.Fatal(err)
				}
			}
			clock.advance(48 * time.Hour)
			r.hour.Add(sessionTrustHours)
			r.wmu.Lock()
			for _, dev := range []string{"phone", "laptop"} {
				if err := r.Learn(r.Ref(tenant, nil, b(dev)), Signals{}); err != nil {
					t.Error(err)
				}
			}
			st := r.RefreshStats()
			_, cachedA := r.sess.known(&a.Device)
			_, cachedC := r.sess.known(&c.Device)
			r.wmu.Unlock()
			if st.Queued != 1 || st.Dropped != 1 {
				t.Errorf("stats: %+v, want 1 queued and 1 dropped", st)
			}
			if !cachedA || cachedC {
				t.Errorf("cached: queued device %v (want true), dropped device %v (want false)", cachedA, cachedC)
			}
			eventually(t, 5*time.Second, "first refresh written", func() bool { return r.RefreshStats().Written == 1 })
			// The dropped device's next record queues it again.
			if err := r.Learn(r.Ref(tenant, nil, b("laptop")), Signals{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "retried refresh written", func() bool { return r.RefreshStats().Written == 2 })
			if got, want := linkSeen(t, r, c.Identity, c.Device), clock.now(); !got.Equal(want) {
				t.Errorf("dropped device's link seen %v, want %v", got, want)
			}
		})
	}
}

// Queued refreshes are written by a clean stop of the embedded store, and a link whose refresh
// is queued is not expired by the sweep.
func TestLinkRefreshCloseAndSweep(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			open := be.open(t, WithClock(clock.now), WithLinkBounds(LinkBounds{TTL: 30 * day, SweepEvery: 10000 * time.Hour}))
			r := open()
			alice := r.Ref(tenant, b("alice"), b("phone"))
			if err := r.Link(alice); err != nil {
				t.Fatal(err)
			}
			clock.advance(2 * day)
			r.hour.Add(sessionTrustHours)
			r.wmu.Lock()
			err := r.Learn(r.Ref(tenant, nil, b("phone")), Signals{})
			r.wmu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			r = open()
			// Over PostgreSQL, Close interrupts the database calls first:
			// a refresh still queued then is lost (the writer may have
			// written it already).
			if want := clock.now(); be.name == "bolt" {
				if got := linkSeen(t, r, alice.Identity, alice.Device); !got.Equal(want) {
					t.Errorf("after a clean stop the link was seen %v, want %v", got, want)
				}
			}

			// 10 days later the device is seen again (its refresh is
			// queued); a sweep 25 days later still runs before the
			// writer's next flush.
			clock.advance(10 * day)
			r.hour.Add(sessionTrustHours)
			r.wmu.Lock()
			err = r.Learn(r.Ref(tenant, nil, b("phone")), Signals{})
			r.wmu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			n, err := r.ExpireLinks(clock.now().Add(25 * day))
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("the sweep expired %d links, want 0: the device was seen", n)
			}
			if got := linkSeen(t, r, alice.Identity, alice.Device); !got.Equal(clock.now()) {
				t.Errorf("link seen %v after the sweep, want %v", got, clock.now())
			}
		})
	}
}

// A link nearer its TTL than half of it is refreshed in the request's own
// commit, not queued: a sweep right after the answer (at the TTL boundary,
// before the writer's flush) finds it fresh, so the device keeps its
// session and an opt-out of its identity still covers its device-only
// records.
func TestLinkRefreshNearTTLBeforeTheSweep(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := be.open(t, WithClock(clock.now), WithLinkBounds(LinkBounds{TTL: 30 * day, SweepEvery: 10000 * time.Hour}))()
			alice := r.Ref(tenant, b("alice"), b("phone"))
			phone := r.Ref(tenant, nil, b("phone"))
			if err := r.Link(alice); err != nil {
				t.Fatal(err)
			}
			clock.advance(30*day - time.Second)
			r.hour.Add(sessionTrustHours)
			if err := r.Learn(phone, Signals{}); err != nil {
				t.Fatal(err)
			}
			if st := r.RefreshStats(); st.Queued != 0 {
				t.Errorf("a refresh at the TTL boundary was queued: %+v", st)
			}
			clock.advance(2 * time.Second)
			if n, err := r.ExpireLinks(clock.now()); err != nil || n != 0 {
				t.Errorf("sweep after the device was seen: %d links expired, %v; want 0", n, err)
			}
			if got := linkSeen(t, r, alice.Identity, alice.Device); got.IsZero() {
				t.Fatal("the device lost its link")
			}
			if err := r.OptOut(r.Ref(tenant, b("alice"), nil), false, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if st := r.CheckRef(phone).Status; st != StatusSuppressed {
				t.Errorf("device-only record after its user's opt-out: %v, want suppressed", st)
			}
		})
	}
}

// A device whose refresh was not queued because an earlier one is being
// committed, or whose refresh commit failed, is not left in the link
// cache: its next record reads the store and refreshes again instead of a
// day later.
func TestLinkRefreshNotQueuedNotCached(t *testing.T) {
	t.Parallel()
	clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	r := backends[0].open(t, WithClock(clock.now))()
	alice := r.Ref(tenant, b("alice"), b("phone"))
	if err := r.Link(alice); err != nil {
		t.Fatal(err)
	}
	clock.advance(48 * time.Hour)
	r.hour.Add(sessionTrustHours)
	phone := r.Ref(tenant, nil, b("phone"))

	r.wmu.Lock() // the writer cannot end the flight meanwhile
	r.refresh.mu.Lock()
	r.refresh.inFlight[alice.Device] = true
	r.refresh.mu.Unlock()
	err := r.Learn(phone, Signals{})
	_, cached := r.sess.known(&alice.Device)
	r.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if cached {
		t.Error("a device whose refresh was in flight was cached")
	}

	// A failed refresh commit drops its devices from the cache.
	refs := []Link{{Identity: alice.Identity, Device: alice.Device, Seen: clock.now()}}
	r.sess.set(alice.Device, alice.Identity)
	r.refreshDone(refs, ErrUnavailable)
	if _, cached := r.sess.known(&alice.Device); cached {
		t.Error("a device whose refresh commit failed stayed cached")
	}
}
