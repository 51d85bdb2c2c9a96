package rights

import (
	"fmt"
	"time"
)

// Link bounds: identity↔device links expire when unseen for a TTL and are
// capped per identity and per device, so that a registry under churn (new
// installs every day) stops growing.
const (
	DefaultLinkTTL                = 400 * 24 * time.Hour
	DefaultMaxDevicesPerIdentity  = 100
	DefaultMaxIdentitiesPerDevice = 32
	// linkRefresh is how often a link that keeps being seen has its
	// last-seen time written again (and how long the link cache trusts an
	// entry).
	linkRefresh = 24 * time.Hour
	// sweepBatch bounds the links one sweep transaction expires.
	sweepBatch = 5000
)

// LinkBounds bound the identity↔device links. Zero values take the
// defaults; a negative TTL turns expiry off.
type LinkBounds struct {
	TTL                    time.Duration
	MaxDevicesPerIdentity  int
	MaxIdentitiesPerDevice int
	// SweepEvery is how often expired links are removed (default
	// min(TTL/100, 1h)).
	SweepEvery time.Duration
}

func (b *LinkBounds) withDefaults() LinkBounds {
	o := *b
	if o.TTL == 0 {
		o.TTL = DefaultLinkTTL
	}
	if o.MaxDevicesPerIdentity <= 0 {
		o.MaxDevicesPerIdentity = DefaultMaxDevicesPerIdentity
	}
	if o.MaxIdentitiesPerDevice <= 0 {
		o.MaxIdentitiesPerDevice = DefaultMaxIdentitiesPerDevice
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = min(max(o.TTL/100, time.Second), time.Hour)
	}
	return o
}

// WithLinkBounds sets the link TTL and caps (see LinkBounds).
func WithLinkBounds(b LinkBounds) Option { return func(c *config) { c.links = b } }

// linkState is what the links of one side hold: how many, whether a given
// other side is among them and when it was last seen, and the least
// recently seen one.
type linkState struct {
	n            int
	found        bool
	seen         time.Time
	oldest       Key
	oldestSeen   time.Time
	hasCandidate bool
}

// scanLinks reads k's links, looking for other, and the least recently
// seen link whose identity is not suppressed (keep protects the others).
func (t *txn) scanLinks(k Key, kind Kind, other Key, keep func(identity Key) (bool, error)) (linkState, error) {
	var st linkState
	err := t.tx.Links(k, kind, func(o Key, seen time.Time) error {
		st.n++
		if o == other {
			st.found, st.seen = true, seen
			return nil
		}
		if st.hasCandidate && !seen.Before(st.oldestSeen) {
			return nil
		}
		id := o
		if kind == KindIdentity {
			id = k
		}
		protected, err := keep(id)
		if err != nil || protected {
			return err
		}
		st.oldest, st.oldestSeen, st.hasCandidate = o, seen, true
		return nil
	})
	return st, err
}

// suppressedIdentity reports whether the identity is suppressed: its links
// are never evicted or expired, since suppressing its devices depends on
// them.
func (t *txn) suppressedIdentity(ik Key) (bool, error) {
	rec, err := t.get(ik, KindIdentity)
	if err != nil {
		return false, err
	}
	return rec.Reason != ReasonNone, nil
}

// boundLinks runs before a new link ik↔dk is written: it evicts the least
// recently seen link of each side that is at its cap. Links of suppressed
// identities are kept (privacy wins over the bound).
func (t *txn) boundLinks(ik, dk Key) error {
	b := &t.r.links
	ids, err := t.scanLinks(ik, KindIdentity, dk, t.suppressedIdentity)
	if err != nil || ids.found {
		return err
	}
	if ids.n >= b.MaxDevicesPerIdentity && ids.hasCandidate {
		if err := t.unlink(ik, ids.oldest); err != nil {
			return err
		}
		t.r.stats.evicted.Add(1)
	}
	devs, err := t.scanLinks(dk, KindDevice, ik, t.suppressedIdentity)
	if err != nil {
		return err
	}
	if devs.n >= b.MaxIdentitiesPerDevice && devs.hasCandidate {
		if err := t.unlink(devs.oldest, dk); err != nil {
			return err
		}
		t.r.stats.evicted.Add(1)
	}
	return nil
}

// unlink removes the link ik↔dk. If ik was the device's current user, the
// device has no session any more (its records are no longer attributed to
// ik, and ik's suppression no longer covers it).
func (t *txn) unlink(ik, dk Key) error {
	t.unlinks = append(t.unlinks, Link{Identity: ik, Device: dk})
	dev, err := t.get(dk, KindDevice)
	if err != nil {
		return err
	}
	if dev.HasSession && dev.Session == ik {
		dev.Session, dev.HasSession, dev.SessionAt = Key{}, false, time.Time{}
		t.touch(dev)
		t.sessChanged = append(t.sessChanged, Link{Device: dk})
	}
	return nil
}

// ExpireLinks removes links unseen for longer than the TTL, except those
// of suppressed identities, which are marked seen instead (so that the
// sweep does not meet them again for a TTL). It returns how many links it
// removed. The registry runs it every LinkBounds.SweepEvery; every instance
// of a fleet does, harmlessly.
func (r *Registry) ExpireLinks(now time.Time) (int, error) {
	if r.links.TTL < 0 {
		return 0, nil
	}
	total := 0
	for range 20 {
		n, more := 0, false
		err := r.write("", time.Time{}, ActorSystem, "expire links", func(t *txn) error {
			n, more = 0, false
			stale, err := t.tx.StaleLinks(now.Add(-r.links.TTL), sweepBatch)
			if err != nil {
				return err
			}
			more = len(stale) == sweepBatch
			for _, l := range stale {
				protected, err := t.suppressedIdentity(l.Identity)
				if err != nil {
					return err
				}
				if protected {
					l.Seen = t.at
					t.links = append(t.links, l)
					continue
				}
				if err := t.unlink(l.Identity, l.Device); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("cannot expire links: %w", err)
		}
		total += n
		r.stats.expired.Add(uint64(n))
		if !more {
			break
		}
	}
	return total, nil
}

// runSweeper expires links every SweepEvery and keeps the coarse day that
// the link cache uses.
func (r *Registry) runSweeper() {
	defer r.done.Done()
	t := time.NewTicker(r.links.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.day.Store(dayOf(now))
			if r.Healthy() {
				r.ExpireLinks(now)
			}
		}
	}
}

func dayOf(t time.Time) uint32 { return uint32(t.Unix() / int64(linkRefresh/time.Second)) }

// LinkStats counts links removed by expiry and by the caps.
func (r *Registry) LinkStats() (expired, evicted uint64) {
	return r.stats.expired.Load(), r.stats.evicted.Load()
}
