package rights

import (
	"sync"
	"time"
)

// Link refreshes: a device in use has its link's last-seen time written
// about once a day (linkRefresh), so that it never loses its user to the
// link TTL. Such a write changes no rights state: a request whose only
// change is refreshes does not wait for a commit. Its read-only pass
// collects them, the request is answered, and the writer commits them with
// the next group commit (or alone after refreshFlushEvery). A crash loses
// at most the queued refreshes, which are retried the next time the device
// is seen after its link-cache entry expires; never a new link, an opt-out,
// a consent or an erasure, which stay durable before the answer.
const (
	// maxQueuedRefreshes bounds the refreshes waiting for a commit (one per
	// device). When full, a refresh is dropped and counted; the device is
	// then not cached, so its next request tries again.
	maxQueuedRefreshes = 4096
	// refreshFlushEvery is how long a refresh waits for a commit to join
	// before the writer commits the queue alone.
	refreshFlushEvery = 100 * time.Millisecond
)

// refreshQueue holds the refreshes not yet committed, at most one per
// device (the newest), and the devices whose refresh is being committed:
// a device pending either way is not queued again.
type refreshQueue struct {
	mu       sync.Mutex
	queued   map[Key]Link // device → link, Seen = when it was seen
	limit    int
	inFlight map[Key]bool
	kick     chan struct{} // the queue is worth a commit of its own
	stats    RefreshStats
}

// RefreshStats counts asynchronous link refreshes.
type RefreshStats struct {
	Queued  uint64 // accepted into the queue
	Written uint64 // committed
	Dropped uint64 // lost: queue full, or their commit failed
}

func newRefreshQueue() *refreshQueue {
	return &refreshQueue{limit: maxQueuedRefreshes, queued: map[Key]Link{}, inFlight: map[Key]bool{}, kick: make(chan struct{}, 1)}
}

// add queues refreshes; it reports false if one was not queued (queue
// full, or an earlier refresh of the device is being committed), so that
// the device is not cached and its next request tries again.
func (q *refreshQueue) add(ls []Link) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	ok := true
	for _, l := range ls {
		if q.inFlight[l.Device] {
			// Its earlier refresh is being committed; if that commit
			// fails, this one must be tried again: not cached.
			ok = false
			continue
		}
		if old, dup := q.queued[l.Device]; dup {
			if old.Identity != l.Identity || l.Seen.After(old.Seen) {
				q.queued[l.Device] = l
			}
			continue
		}
		if len(q.queued) >= q.limit {
			q.stats.Dropped++
			ok = false
			continue
		}
		q.queued[l.Device] = l
		q.stats.Queued++
	}
	if len(q.queued) >= maxWriteBatch {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	return ok
}

// take moves every queued refresh in flight.
func (q *refreshQueue) take() []Link {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queued) == 0 {
		return nil
	}
	ls := make([]Link, 0, len(q.queued))
	for dk, l := range q.queued {
		ls = append(ls, l)
		q.inFlight[dk] = true
	}
	q.queued = map[Key]Link{}
	return ls
}

// done ends the flight of ls: committed, or lost if err is set.
func (q *refreshQueue) done(ls []Link, err error) {
	if len(ls) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range ls {
		delete(q.inFlight, l.Device)
	}
	if err != nil {
		q.stats.Dropped += uint64(len(ls))
	} else {
		q.stats.Written += uint64(len(ls))
	}
}

// refreshDone ends the flight of ls (see refreshQueue.done). Lost
// refreshes also leave the link cache: their devices were cached when the
// refresh was queued, and would otherwise not be read, nor refreshed,
// for a day.
func (r *Registry) refreshDone(ls []Link, err error) {
	r.refresh.done(ls, err)
	if err == nil || len(ls) == 0 {
		return
	}
	r.pubMu.Lock()
	for _, l := range ls {
		r.sess.drop(l.Device)
	}
	r.pubMu.Unlock()
}

// RefreshStats counts the link refreshes written asynchronously.
func (r *Registry) RefreshStats() RefreshStats {
	r.refresh.mu.Lock()
	defer r.refresh.mu.Unlock()
	return r.refresh.stats
}

// confirmLink records that the known link ik↔dk (the device's session) was
// seen now: its last-seen time is written again once older than
// linkRefresh, and a missing link is written back. In a read-only pass an
// existing link's refresh is collected instead (deferRefresh).
func (t *txn) confirmLink(ik, dk Key) error {
	st, err := t.scanLinks(dk, KindDevice, ik, func(Key) (bool, error) { return true, nil })
	if err != nil {
		return err
	}
	switch {
	case st.found && t.at.Sub(st.seen) <= linkRefresh:
	case st.found && t.deferRefresh && t.r.refreshCanWait(t.at.Sub(st.seen)):
		t.refreshes = append(t.refreshes, Link{Identity: ik, Device: dk, Seen: t.at})
	default:
		t.addLink(ik, dk)
	}
	return nil
}

// refreshCanWait reports whether the refresh of a link last seen age ago
// may be deferred: only while the link is far from its TTL. A link nearer
// expiry is refreshed in the request's own commit, as a new link is: the
// sweep could otherwise remove it between the read that saw it and the
// deferred write, which does not bring a removed link back, and the device
// would lose its session (an opt-out of its identity would no longer cover
// its device-only records).
func (r *Registry) refreshCanWait(age time.Duration) bool {
	return r.links.TTL < 0 || age < r.links.TTL/2
}

// applyRefresh writes a deferred refresh if it still applies: ik is still
// the device's session and the link exists and was not refreshed since. A
// link removed meanwhile (evicted, expired, erased) is not brought back.
func (t *txn) applyRefresh(l Link) error {
	dev, err := t.get(l.Device, KindDevice)
	if err != nil {
		return err
	}
	if !dev.HasSession || dev.Session != l.Identity {
		return nil
	}
	st, err := t.scanLinks(l.Device, KindDevice, l.Identity, func(Key) (bool, error) { return true, nil })
	if err != nil || !st.found || !st.seen.Before(l.Seen) {
		return err
	}
	t.linkOps[linkOpKey(l.Identity, l.Device)] = linkOp{identity: l.Identity, device: l.Device, present: true, seen: l.Seen}
	t.sessSeen = append(t.sessSeen, Link{Identity: l.Identity, Device: l.Device})
	return nil
}

// applyRefreshes applies ls in t.
func (t *txn) applyRefreshes(ls []Link) error {
	if len(ls) > 0 && t.linkOps == nil {
		t.linkOps = map[[2 * KeySize]byte]linkOp{}
	}
	for _, l := range ls {
		if err := t.applyRefresh(l); err != nil {
			return err
		}
	}
	return nil
}

// flushRefreshesLocked commits the queued refreshes directly (Close, after
// the writer stopped). Over PostgreSQL the store is interrupted by then and
// they are lost (counted as dropped). Called with wmu held.
func (r *Registry) flushRefreshesLocked() {
	ls := r.refresh.take()
	if len(ls) == 0 {
		return
	}
	if r.broken.Load() {
		r.refreshDone(ls, ErrUnavailable)
		return
	}
	err := r.store.Update(func(tx StoreTx) error {
		t := r.begin("", time.Time{}, ActorTraffic)
		t.tx = tx
		if err := t.applyRefreshes(ls); err != nil {
			return err
		}
		if err := t.build(); err != nil {
			return err
		}
		return tx.Apply(&t.change)
	})
	r.refreshDone(ls, err)
}
