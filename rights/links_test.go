package rights

import (
	"sync"
	"testing"
	"time"
)

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLinkBounds(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := be.open(t, WithClock(clock.now), WithLinkBounds(LinkBounds{
				TTL: 30 * day, MaxDevicesPerIdentity: 3, MaxIdentitiesPerDevice: 2, SweepEvery: time.Hour * 10000,
			}))()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			link := func(id, dev string) {
				t.Helper()
				clock.advance(time.Hour)
				must(r.Link(r.Ref(tenant, b(id), b(dev))))
			}
			devices := func(id string) int {
				t.Helper()
				rep, err := r.report(tenant, r.Key(tenant, KindIdentity, b(id)), KindIdentity)
				must(err)
				return *rep.LinkedDevices
			}
			status := func(id, dev string) Status {
				t.Helper()
				// Lookups of a shared store follow the feed; wait for it.
				var s Status
				eventually(t, 2*time.Second, "lookup settles", func() bool {
					s = r.Check(tenant, b(id), b(dev)).Status
					return s != StatusUnknown
				})
				return s
			}

			// Per identity: the least recently seen device is evicted and
			// no longer covered by the identity's suppression.
			for _, d := range []string{"a1", "a2", "a3", "a4"} {
				link("A", d)
			}
			if n := devices("A"); n != 3 {
				t.Errorf("A has %d devices, want 3 (cap)", n)
			}
			must(r.OptOut(r.Ref(tenant, b("A"), nil), false, time.Time{}))
			eventually(t, 2*time.Second, "opt-out applied", func() bool { return r.Check(tenant, nil, b("a4")).Status == StatusSuppressed })
			if s := status("", "a1"); s != StatusClear {
				t.Errorf("evicted device a1: %v, want clear", s)
			}
			// A suppressed identity's links are never evicted.
			link("A", "a5")
			if n := devices("A"); n != 4 {
				t.Errorf("suppressed A has %d devices, want 4 (kept over the cap)", n)
			}

			// Per device: the least recently seen identity is evicted.
			link("X", "g")
			link("Y", "g")
			link("Z", "g")
			if n := devices("X"); n != 0 {
				t.Errorf("X still linked to g: %d", n)
			}

			// TTL: unseen links expire, except those of suppressed
			// identities; a link seen again is refreshed.
			link("C", "h1")
			link("D", "h2")
			link("E", "h3")
			must(r.OptOut(r.Ref(tenant, b("D"), nil), false, time.Time{}))
			clock.advance(20 * day)
			r.hour.Add(sessionTrustHours) // the link cache trusts an entry for a day
			link("E", "h3")
			clock.advance(11 * day)
			n, err := r.ExpireLinks(clock.now())
			must(err)
			if n == 0 {
				t.Fatal("nothing expired")
			}
			if devices("C") != 0 {
				t.Error("C's link unseen for 31 days did not expire")
			}
			if devices("D") != 1 {
				t.Error("suppressed D's link expired")
			}
			if devices("E") != 1 {
				t.Error("E's link seen 11 days ago expired")
			}
			must(r.OptOut(r.Ref(tenant, b("C"), nil), false, time.Time{}))
			eventually(t, 2*time.Second, "opt-out applied", func() bool { return r.Check(tenant, b("C"), nil).Status == StatusSuppressed })
			if s := status("", "h1"); s != StatusClear {
				t.Errorf("h1 after C's link expired: %v, want clear", s)
			}
			if s := status("", "h2"); s != StatusSuppressed {
				t.Errorf("h2 of suppressed D: %v, want suppressed", s)
			}
			if exp, ev := r.LinkStats(); exp == 0 || ev == 0 {
				t.Errorf("link stats: expired %d, evicted %d", exp, ev)
			}
		})
	}
}

// A device in use only by records without identity (most SDK traffic after
// a login) keeps its user's link alive: its erasure still covers the device
// after the TTL (review finding).
func TestDeviceOnlyTrafficKeepsItsLink(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := be.open(t, WithClock(clock.now), WithLinkBounds(LinkBounds{TTL: 30 * day, SweepEvery: 10000 * time.Hour}))()
			if err := r.Link(r.Ref(tenant, b("alice"), b("phone"))); err != nil {
				t.Fatal(err)
			}
			for range 3 { // device-only records over 33 days
				clock.advance(11 * day)
				r.hour.Add(sessionTrustHours)
				if err := r.Learn(r.Ref(tenant, nil, b("phone")), Signals{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.ExpireLinks(clock.now()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Erase(r.Ref(tenant, b("alice"), nil), "dpo", true); err != nil {
				t.Fatal(err)
			}
			eventually(t, 2*time.Second, "erasure covers the device in use", func() bool {
				return r.Check(tenant, nil, b("phone")).Status == StatusSuppressed
			})
		})
	}
}
