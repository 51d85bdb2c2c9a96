package rights

import (
	"bytes"
	"fmt"
	"slices"
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
	err := t.eachLink(k, kind, func(o Key, seen time.Time) error {
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
		t.evicted++
	}
	devs, err := t.scanLinks(dk, KindDevice, ik, t.suppressedIdentity)
	if err != nil {
		return err
	}
	if devs.n >= b.MaxIdentitiesPerDevice && devs.hasCandidate {
		if err := t.unlink(devs.oldest, dk); err != nil {
			return err
		}
		t.evicted++
	}
	return nil
}

// unlink removes the link ik↔dk. If ik was the device's current user, the
// device has no session any more (its records are no longer attributed to
// ik, and ik's suppression no longer covers it).
func (t *txn) unlink(ik, dk Key) error {
	t.removeLink(ik, dk)
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

// sweepBatch bounds the links one sweep transaction looks at, so that the
// sweep never holds the store (and this instance's writes) for long.
const sweepBatch = 200

// ExpireLinks removes links unseen for longer than the TTL, except those
// of suppressed identities, which are marked seen instead (so that the
// sweep does not meet them again for a TTL). It returns how many links it
// removed. The registry runs it every LinkBounds.SweepEvery, in small
// transactions of its own; over a shared store one instance at a time
// sweeps (the others find the sweep lock taken and skip).
func (r *Registry) ExpireLinks(now time.Time) (int, error) {
	if r.links.TTL < 0 {
		return 0, nil
	}
	total := 0
	var resume []byte
	for range 100000 {
		n, next, err := r.expireBatch(now, resume)
		total += n
		if err != nil {
			return total, fmt.Errorf("cannot expire links: %w", err)
		}
		if next == nil {
			break
		}
		resume = next
	}
	return total, nil
}

func (r *Registry) expireBatch(now time.Time, resume []byte) (n int, next []byte, err error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	// Queued refreshes are written in the sweep's transaction, so that a
	// link seen again is never expired while its refresh waits.
	refs := r.refresh.take()
	defer func() { r.refreshDone(refs, err) }()
	_, err = r.commitLocked(func(t *txn) error {
		n, next = 0, nil
		t.actor = ActorSystem
		if err := t.applyRefreshes(refs); err != nil {
			return err
		}
		if ex, ok := t.tx.(exclusiveTx); ok {
			if got, err := ex.TryExclusive(sweepLock); err != nil || !got {
				return err // another instance sweeps
			}
		}
		stale, resumeAt, err := t.tx.StaleLinks(now.Add(-r.links.TTL), resume, sweepBatch)
		if err != nil {
			return err
		}
		next = resumeAt
		for _, l := range stale {
			if op, ok := t.linkOps[linkOpKey(l.Identity, l.Device)]; ok && op.present {
				continue // seen in this transaction
			}
			protected, err := t.suppressedIdentity(l.Identity)
			if err != nil {
				return err
			}
			if protected {
				t.addLink(l.Identity, l.Device)
				continue
			}
			if err := t.unlink(l.Identity, l.Device); err != nil {
				return err
			}
			n++
		}
		return nil
	}, true, false)
	if err == nil {
		r.stats.expired.Add(uint64(n))
	}
	return n, next, err
}

// exclusiveTx is implemented by transactions of a shared store: TryExclusive
// takes the lock called name until the transaction ends, or reports that
// another instance holds it.
type exclusiveTx interface {
	TryExclusive(name string) (bool, error)
}

// sweepLock names the link sweep's lock.
const sweepLock = "link sweep"

// runSweeper keeps the coarse hour that the link cache uses and expires
// links every SweepEvery.
func (r *Registry) runSweeper() {
	defer r.done.Done()
	hour := time.NewTicker(time.Minute)
	defer hour.Stop()
	sweep := time.NewTicker(r.links.SweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-hour.C:
			r.hour.Store(hourOf(now))
		case now := <-sweep.C:
			if r.links.TTL > 0 && r.Healthy() {
				r.ExpireLinks(now)
			}
		}
	}
}

func hourOf(t time.Time) uint32 { return uint32(t.Unix() / 3600) }

// WriteErrors counts commits that failed.
func (r *Registry) WriteErrors() uint64 { return r.stats.writeErrors.Load() }

// LinkStats counts links removed by expiry and by the caps.
func (r *Registry) LinkStats() (expired, evicted uint64) {
	return r.stats.expired.Load(), r.stats.evicted.Load()
}

// linkOp is the last change a transaction made to one link.
type linkOp struct {
	identity, device Key
	present          bool
	seen             time.Time
}

func linkOpKey(ik, dk Key) (k [2 * KeySize]byte) {
	copy(k[:], ik[:])
	copy(k[KeySize:], dk[:])
	return k
}

// addLink records that ik↔dk is present, seen now.
func (t *txn) addLink(ik, dk Key) {
	if t.linkOps == nil {
		t.linkOps = map[[2 * KeySize]byte]linkOp{}
	}
	t.linkOps[linkOpKey(ik, dk)] = linkOp{identity: ik, device: dk, present: true, seen: t.at}
}

// removeLink records that ik↔dk is gone.
func (t *txn) removeLink(ik, dk Key) {
	if t.linkOps == nil {
		t.linkOps = map[[2 * KeySize]byte]linkOp{}
	}
	t.linkOps[linkOpKey(ik, dk)] = linkOp{identity: ik, device: dk}
}

// eachLink is Links as this transaction sees them: the store's, with the
// transaction's own additions and removals applied, so that writes sharing
// a transaction see each other's link changes.
func (t *txn) eachLink(k Key, kind Kind, fn func(other Key, seen time.Time) error) error {
	var seenInStore map[Key]bool
	if len(t.linkOps) > 0 {
		seenInStore = map[Key]bool{}
	}
	err := t.tx.Links(k, kind, func(o Key, seen time.Time) error {
		if seenInStore != nil {
			seenInStore[o] = true
		}
		ik, dk := k, o
		if kind == KindDevice {
			ik, dk = o, k
		}
		if op, ok := t.linkOps[linkOpKey(ik, dk)]; ok {
			if !op.present {
				return nil
			}
			seen = op.seen
		}
		return fn(o, seen)
	})
	if err != nil {
		return err
	}
	// The transaction's additions on k's side, in key order (a group
	// commit holds many links; only k's are sorted).
	var added []linkOp
	for _, op := range t.linkOps {
		o, self := op.device, op.identity
		if kind == KindDevice {
			o, self = op.identity, op.device
		}
		if op.present && self == k && !seenInStore[o] {
			added = append(added, op)
		}
	}
	slices.SortFunc(added, func(a, b linkOp) int {
		ka, kb := linkOpKey(a.identity, a.device), linkOpKey(b.identity, b.device)
		return bytes.Compare(ka[:], kb[:])
	})
	for _, op := range added {
		o := op.device
		if kind == KindDevice {
			o = op.identity
		}
		if err := fn(o, op.seen); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) sortedLinkOps() []linkOp {
	keys := make([][2 * KeySize]byte, 0, len(t.linkOps))
	for k := range t.linkOps {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2 * KeySize]byte) int { return bytes.Compare(a[:], b[:]) })
	ops := make([]linkOp, len(keys))
	for i, k := range keys {
		ops[i] = t.linkOps[k]
	}
	return ops
}

// linkChanges are the transaction's link writes: each link once, as it
// ends.
func (t *txn) linkChanges() (add, remove []Link) {
	for _, op := range t.sortedLinkOps() {
		l := Link{Identity: op.identity, Device: op.device, Seen: op.seen}
		if op.present {
			add = append(add, l)
		} else {
			remove = append(remove, l)
		}
	}
	return add, remove
}
