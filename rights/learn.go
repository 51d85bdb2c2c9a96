package rights

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Learn applies what one proxied record teaches: it links identity and
// device when the record carries both, then applies the ct_optout signal and
// the marketing flags. It returns once the change is durable; an error means
// the change is not acknowledged (the registry then fails closed).
//
// Call it for every record that carries an identity and a device, or any
// signal, BEFORE CheckRef on that record and also for records that end up
// dropped: a login must move the device's session even when the identity
// logging in is suppressed. A record that repeats a known link returns from
// memory without allocating.
//
// Where a signal lands:
//   - ct_optout / ct_optout:false: on the identity the record names, else
//     on the device's session identity, else on the device itself;
//     an opt-in lifts only opt-outs (also a direct opt-out of the device),
//     never an erasure or an admin suppression;
//   - push consent: on the device if the record carries one (it is per device);
//     the other channels like ct_optout.
func (r *Registry) Learn(ref Ref, s Signals) error {
	if r == nil || r.closed.Load() {
		return fmt.Errorf("cannot learn rights signals: %w", ErrUnavailable)
	}
	if !ref.HasIdentity && !ref.HasDevice {
		return nil
	}
	if err := s.validate(); err != nil {
		return err
	}
	if s.OptOut == SignalNone {
		// The common case: a record that repeats a link (or a device
		// without identity) seen within the day, and the marketing
		// consent already stored for its subject (see consentCache).
		// Opt-out signals always take the store path: they are rare, and
		// their no-op depends on the suppression of several records.
		known := true
		switch {
		case ref.HasIdentity && ref.HasDevice:
			known = r.sess.has(&ref.Device, &ref.Identity)
		case ref.HasDevice:
			_, known = r.sess.known(&ref.Device)
		}
		if known && (!s.hasMarketing() || r.consentKnown(&ref, &s)) {
			return nil
		}
	}
	return r.learnSlow(ref, s)
}

// learnSlow writes what Learn found new. It is a function of its own so that
// the closure's captures do not make the fast path allocate.
func (r *Registry) learnSlow(ref Ref, s Signals) error {
	return r.write(ref.Tenant, s.At, ActorTraffic, "learn rights signals", func(t *txn) error {
		return t.learn(ref, &s)
	})
}

// OptOut records ct_optout:true (see Learn).
func (r *Registry) OptOut(ref Ref, allowSystem bool, at time.Time) error {
	return r.Learn(ref, Signals{OptOut: SignalOptOut, AllowSystem: allowSystem, At: at})
}

// OptIn records ct_optout:false, the explicit opt-in: it lifts the opt-outs
// the subject's traffic made, never an erasure or an admin suppression (see
// Learn).
func (r *Registry) OptIn(ref Ref, at time.Time) error {
	return r.Learn(ref, Signals{OptOut: SignalOptIn, At: at})
}

// Link records that ref's identity was seen on ref's device: the identity
// becomes the device's session identity.
func (r *Registry) Link(ref Ref) error { return r.Learn(ref, Signals{}) }

// Marketing records one channel's consent (see Learn).
func (r *Registry) Marketing(ref Ref, ch Channel, c Consent, at time.Time) error {
	if ch >= NumChannels {
		return fmt.Errorf("cannot record marketing consent: unknown channel %d", ch)
	}
	s := Signals{At: at}
	s.Marketing[ch] = c
	return r.Learn(ref, s)
}

// validate rejects values that would make a stored record unreadable.
func (s *Signals) validate() error {
	if s.OptOut > SignalOptIn {
		return fmt.Errorf("cannot learn rights signals: unknown opt-out signal %d", s.OptOut)
	}
	for ch, c := range s.Marketing {
		if c > ConsentRevoked {
			return fmt.Errorf("cannot learn rights signals: unknown consent %d for channel %s", c, Channel(ch))
		}
	}
	return nil
}

// txn gathers one transaction's writes: records read from the store and
// changed, links, log entries. Several writes of a group commit share one;
// tenant, actor and at are those of the write being run.
type txn struct {
	r      *Registry
	tx     StoreTx
	tenant string
	actor  string
	at     time.Time
	change Change // what prepare wrote

	recs        map[Key]*Record
	dirty       map[Key]bool                 // records to write
	hotCheck    map[Key]bool                 // hot flags to recompute
	identities  map[Key]bool                 // identities whose suppression changed
	linkOps     map[[2 * KeySize]byte]linkOp // link changes of this transaction, the last one per link
	evicted     int                          // links evicted by the caps
	sessChanged []Link                       // devices whose session changes (cache drop, then set; zero identity: cleared)
	sessSeen    []Link                       // confirmed unchanged sessions (cache set)
	consSeen    []consentSeen                // consent found already stored (read-only pass: cache set)
	log         []LogEntry
	// deferRefresh (the read-only pass of traffic) collects last-seen
	// refreshes of existing links in refreshes instead of writing them:
	// they are written asynchronously (see queueRefreshes).
	deferRefresh bool
	refreshes    []Link
}

func (r *Registry) begin(tenant string, at time.Time, actor string) *txn {
	if at.IsZero() {
		at = r.now()
	}
	return &txn{
		r: r, tenant: tenant, actor: actor, at: at.UTC(),
		recs: map[Key]*Record{}, dirty: map[Key]bool{}, hotCheck: map[Key]bool{}, identities: map[Key]bool{},
	}
}

func (t *txn) get(k Key, kind Kind) (*Record, error) {
	if rec, ok := t.recs[k]; ok {
		return rec, nil
	}
	rec, ok, err := t.tx.Get(k)
	if err != nil {
		return nil, err
	}
	if !ok {
		rec = Record{Key: k, Kind: kind}
	}
	t.recs[k] = &rec
	return &rec, nil
}

func (t *txn) touch(rec *Record) {
	rec.Updated = t.at
	t.dirty[rec.Key] = true
	t.hotCheck[rec.Key] = true
}

func (t *txn) note(action string, kind Kind, k Key, reason Reason, channel, detail string) {
	t.log = append(t.log, LogEntry{
		Time: t.r.now().UTC(), Tenant: t.tenant, Action: action, Actor: t.actor,
		Subject: k.Prefix(kind), Reason: reason.String(), Channel: channel, Detail: detail,
	})
}

func (t *txn) learn(ref Ref, s *Signals) error {
	// An opt-out that names its identity lands first, so that the link
	// the same record makes already sees the identity suppressed (its
	// links are then never evicted).
	optOutFirst := s.OptOut == SignalOptOut && ref.HasIdentity
	if optOutFirst {
		if err := t.optOut(ref, s); err != nil {
			return err
		}
	}
	switch {
	case ref.HasIdentity && ref.HasDevice:
		if err := t.link(ref.Identity, ref.Device); err != nil {
			return err
		}
	case ref.HasDevice:
		if err := t.seeDevice(ref.Device); err != nil {
			return err
		}
	}
	switch s.OptOut {
	case SignalOptOut:
		if !optOutFirst {
			if err := t.optOut(ref, s); err != nil {
				return err
			}
		}
	case SignalOptIn:
		if err := t.optIn(ref); err != nil {
			return err
		}
	}
	for ch, c := range s.Marketing {
		if c == ConsentUnknown {
			continue
		}
		k, kind, err := t.marketingSubject(ref, Channel(ch))
		if err != nil {
			return err
		}
		changed, err := t.consent(k, kind, Channel(ch), c)
		if err != nil {
			return err
		}
		if changed {
			t.note(ActionConsent, kind, k, ReasonNone, Channel(ch).String(), c.String())
		}
	}
	return nil
}

func (t *txn) optOut(ref Ref, s *Signals) error {
	k, kind, err := t.person(ref)
	if err != nil {
		return err
	}
	changed, err := t.suppress(k, kind, ReasonOptOut, s.AllowSystem)
	if err != nil {
		return err
	}
	if changed {
		rec := t.recs[k]
		t.note(ActionOptOut, kind, k, rec.Reason, "", viaDetail(ref, k, kind, rec.AllowSystem))
	}
	return nil
}

// seeDevice records that a device was seen without an identity: the link
// to its current user is confirmed (its last-seen time written about once
// a day, so that a device in use never loses its user to the link TTL) and
// the link cache learns the device's session, or that it has none.
func (t *txn) seeDevice(dk Key) error {
	dev, err := t.get(dk, KindDevice)
	if err != nil {
		return err
	}
	if dev.HasSession {
		if err := t.confirmLink(dev.Session, dk); err != nil {
			return err
		}
	}
	t.sessSeen = append(t.sessSeen, Link{Identity: dev.Session, Device: dk})
	return nil
}

func viaDetail(ref Ref, k Key, kind Kind, allow bool) string {
	var d string
	if kind == KindIdentity && !ref.HasIdentity && ref.HasDevice {
		d = "via " + ref.Device.Prefix(KindDevice)
	}
	if allow {
		if d != "" {
			d += "; "
		}
		d += "system events allowed"
	}
	return d
}

// person resolves the subject of a person-level signal: the identity the
// record names, else the device's session identity, else the device.
func (t *txn) person(ref Ref) (Key, Kind, error) {
	if ref.HasIdentity {
		return ref.Identity, KindIdentity, nil
	}
	dev, err := t.get(ref.Device, KindDevice)
	if err != nil {
		return Key{}, 0, err
	}
	if dev.HasSession {
		return dev.Session, KindIdentity, nil
	}
	return ref.Device, KindDevice, nil
}

func (t *txn) marketingSubject(ref Ref, ch Channel) (Key, Kind, error) {
	if ch == ChannelPush && ref.HasDevice {
		return ref.Device, KindDevice, nil
	}
	return t.person(ref)
}

// link makes ik the session identity of dk. An opt-out made on the device
// before anyone logged in moves to the first identity that logs in: the
// vendor merges the anonymous profile into that identity, so it is the same
// person.
func (t *txn) link(ik, dk Key) error {
	dev, err := t.get(dk, KindDevice)
	if err != nil {
		return err
	}
	if dev.HasSession && dev.Session == ik {
		// A known link: write its last-seen time again once a day, so that
		// links in use never expire.
		if err := t.confirmLink(ik, dk); err != nil {
			return err
		}
		t.sessSeen = append(t.sessSeen, Link{Identity: ik, Device: dk})
		return nil
	}
	if t.deferRefresh {
		// The read-only pass: a new session is written whatever else
		// this finds, and the write pass reads it all again.
		return errWillWrite
	}
	if err := t.boundLinks(ik, dk); err != nil {
		return err
	}
	if !dev.HasSession && dev.Reason == ReasonOptOut {
		changed, err := t.suppress(ik, KindIdentity, ReasonOptOut, dev.AllowSystem)
		if err != nil {
			return err
		}
		if changed {
			t.note(ActionOptOut, KindIdentity, ik, t.recs[ik].Reason, "",
				"opt-out made on "+dk.Prefix(KindDevice)+" before login")
		}
		dev.Reason, dev.AllowSystem, dev.Since = ReasonNone, false, time.Time{}
	}
	dev.Session, dev.HasSession, dev.SessionAt = ik, true, t.at
	t.touch(dev)
	t.addLink(ik, dk)
	t.sessChanged = append(t.sessChanged, Link{Identity: ik, Device: dk})
	return nil
}

// suppress raises k's suppression to reason unless a stronger one holds.
// An erasure also forgets marketing consent. It reports whether state
// changed.
func (t *txn) suppress(k Key, kind Kind, reason Reason, allow bool) (bool, error) {
	rec, err := t.get(k, kind)
	if err != nil {
		return false, err
	}
	if reason != ReasonOptOut {
		allow = false
	}
	changed := false
	switch {
	case rec.Reason > reason:
	case rec.Reason == reason && rec.AllowSystem == allow:
	default:
		if rec.Reason == ReasonNone {
			rec.Since = t.at
		}
		if rec.Reason != reason {
			rec.VendorAcked = false
		}
		rec.Reason, rec.AllowSystem = reason, allow
		changed = true
	}
	if reason.isErasure() {
		rec.ErasedAt = t.at
		rec.Consent = [NumChannels]ChannelConsent{}
		changed = true
	}
	if changed {
		t.touch(rec)
		if kind == KindIdentity {
			t.identities[k] = true
		}
	}
	return changed, nil
}

// unsuppress lifts k's suppression if lift accepts its reason.
func (t *txn) unsuppress(k Key, kind Kind, lift func(Reason) bool) (Reason, error) {
	rec, err := t.get(k, kind)
	if err != nil {
		return ReasonNone, err
	}
	old := rec.Reason
	if old == ReasonNone || !lift(old) {
		return ReasonNone, nil
	}
	rec.Reason, rec.AllowSystem, rec.Since, rec.VendorAcked = ReasonNone, false, time.Time{}, false
	t.touch(rec)
	if kind == KindIdentity {
		t.identities[k] = true
	}
	return old, nil
}

func (t *txn) optIn(ref Ref) error {
	k, kind, err := t.person(ref)
	if err != nil {
		return err
	}
	old, err := t.unsuppress(k, kind, Reason.liftedBySubject)
	if err != nil {
		return err
	}
	if old != ReasonNone {
		t.note(ActionOptIn, kind, k, ReasonNone, "", "lifted "+old.String()+viaSuffix(ref, kind))
	}
	if ref.HasDevice && (kind != KindDevice || k != ref.Device) {
		old, err := t.unsuppress(ref.Device, KindDevice, Reason.liftedBySubject)
		if err != nil {
			return err
		}
		if old != ReasonNone {
			t.note(ActionOptIn, KindDevice, ref.Device, ReasonNone, "", "lifted "+old.String())
		}
	}
	return nil
}

func viaSuffix(ref Ref, kind Kind) string {
	if kind == KindIdentity && !ref.HasIdentity && ref.HasDevice {
		return " via " + ref.Device.Prefix(KindDevice)
	}
	return ""
}

func (t *txn) consent(k Key, kind Kind, ch Channel, c Consent) (bool, error) {
	rec, err := t.get(k, kind)
	if err != nil {
		return false, err
	}
	if rec.Consent[ch].State == c {
		if t.deferRefresh { // the read-only pass
			t.consSeen = append(t.consSeen, consentSeen{key: k, ch: ch, c: c})
		}
		return false, nil
	}
	rec.Consent[ch] = ChannelConsent{State: c, At: t.at}
	t.touch(rec)
	return true, nil
}

// flags computes the hot-set entry of rec from the records as they will be
// committed.
func (t *txn) flags(rec *Record) (Flags, error) {
	var via Reason
	var viaAllow bool
	if rec.Kind == KindDevice && rec.HasSession {
		id, err := t.get(rec.Session, KindIdentity)
		if err != nil {
			return 0, err
		}
		via, viaAllow = id.Reason, id.AllowSystem
	}
	return makeFlags(rec.Reason, rec.AllowSystem, via, viaAllow), nil
}

// write runs one change of rights state: fn reads and changes records
// through t, the change commits durably, and then becomes visible to
// lookups; write returns after that. Concurrent writes share one store
// transaction (group commit: one fsync, or one PostgreSQL commit, for all
// the requests that arrived while the previous commit was in flight). A
// shared store may run fn again when another instance won a race. On a
// store failure every write of the batch fails; over the embedded store the
// registry turns unhealthy (lookups fail closed, recovery starts) and the
// new suppressions are still applied in memory.
func (r *Registry) write(tenant string, at time.Time, actor, what string, fn func(t *txn) error) error {
	if r == nil || r.closed.Load() {
		return fmt.Errorf("cannot %s: %w", what, ErrUnavailable)
	}
	if !r.Healthy() {
		return fmt.Errorf("cannot %s: %w (the registry cannot confirm its state; retry later)", what, ErrUnavailable)
	}
	if actor == ActorTraffic {
		// Most traffic repeats what is stored (the same consent flags on every
		// profile push): decide in a read-only view first, so that a
		// signal that changes nothing writes and syncs nothing.
		gen := r.gen.Load() // before reading, for the link cache
		var t *txn
		var pos uint64
		err := r.store.View(func(rd StoreReader) error {
			t = r.begin(tenant, at, actor)
			t.tx = readOnly{rd}
			t.deferRefresh = true
			if err := fn(t); err != nil {
				return err
			}
			if err := t.build(); err != nil {
				return err
			}
			if fp, ok := rd.(feedPositioner); ok && t.change.empty() {
				var err error
				pos, err = fp.FeedPosition()
				return err
			}
			return nil
		})
		if err != nil && !errors.Is(err, errWillWrite) {
			return r.fail(what, err)
		}
		if err == nil && t.change.empty() {
			// Nothing to write: but what this pass read (another
			// instance's opt-out, or a commit of this one not yet
			// published) must also be what lookups see before the caller
			// checks the record.
			if r.follow != nil && pos > r.follow.cursor.Load() {
				if err := r.waitApplied(pos); err != nil {
					return fmt.Errorf("cannot %s: %w", what, err)
				}
			}
			if r.follow == nil {
				if err := r.waitPublished(r.commitsStarted.Load()); err != nil {
					return fmt.Errorf("cannot %s: %w", what, err)
				}
			}
			// Refreshes of existing links are written asynchronously. If
			// one is dropped (queue full), the device is not cached, so
			// that its next request tries again.
			if len(t.refreshes) > 0 && !r.refresh.add(t.refreshes) {
				return nil
			}
			r.cacheSeen(gen, t.sessSeen, t.consSeen)
			return nil
		}
	}
	w := &writeReq{tenant: tenant, at: at, actor: actor, fn: fn, done: make(chan error, 1)}
	select {
	case r.writes <- w:
	case <-r.stop:
		return fmt.Errorf("cannot %s: %w", what, ErrUnavailable)
	}
	var err error
	select {
	case err = <-w.done:
	case <-r.writerDone:
		// Closed: the writer answered what it took before it stopped.
		select {
		case err = <-w.done:
		default:
			err = ErrUnavailable
		}
	}
	if err != nil {
		return fmt.Errorf("cannot %s: %w", what, err)
	}
	return nil
}

// errWillWrite ends a read-only pass that found a change it must write.
var errWillWrite = errors.New("the change needs a write transaction")

// writeReq is one write waiting for the group commit.
type writeReq struct {
	tenant, actor string
	at            time.Time
	fn            func(*txn) error
	done          chan error
}

// maxWriteBatch bounds how many writes share one transaction.
const maxWriteBatch = 256

// runWriter commits writes in batches: it takes every write that queued up
// while the previous commit was in flight.
func (r *Registry) runWriter() {
	defer r.done.Done()
	defer close(r.writerDone)
	tick := time.NewTicker(refreshFlushEvery)
	defer tick.Stop()
	for {
		var batch []*writeReq
		select {
		case w := <-r.writes:
			batch = append(batch, w)
		case <-r.refresh.kick:
		case <-tick.C:
		case <-r.stop:
			for {
				select {
				case w := <-r.writes:
					w.done <- ErrUnavailable
				default:
					return
				}
			}
		}
	more:
		for len(batch) < maxWriteBatch {
			select {
			case w := <-r.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		// Queued link refreshes join this commit.
		errs, _ := r.commitBatch(batch, true)
		for i, w := range batch {
			w.done <- errs[i]
		}
	}
}

// commitBatch commits the writes of batch and, with refreshes set, the
// queued link refreshes in one transaction and returns each write's error
// and the refreshes'. The refreshes are taken with wmu held, as the sweep
// takes them, so that no sweep runs between their taking and their commit.
func (r *Registry) commitBatch(batch []*writeReq, refreshes bool) (errs []error, refErr error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	var refs []Link
	if refreshes {
		refs = r.refresh.take()
		defer func() { r.refreshDone(refs, refErr) }()
	}
	if len(batch) == 0 && len(refs) == 0 {
		return nil, nil
	}
	return r.commitBatchLocked(batch, refs)
}

// commitBatchLocked commits batch and refs (see commitBatch). If the
// shared transaction fails, each write is tried alone, so that one write
// that cannot be applied (a damaged record) fails only its own request;
// only a write that fails alone counts as a store failure. Refreshes are
// then tried once more on their own; if they fail, they are lost. Called
// with wmu held.
func (r *Registry) commitBatchLocked(batch []*writeReq, refs []Link) ([]error, error) {
	errs := make([]error, len(batch))
	run := func(ws []*writeReq, refs []Link, report bool) error {
		r.stats.commits.Add(1)
		r.stats.batched.Add(uint64(len(ws)))
		_, err := r.commitLocked(func(t *txn) error {
			for _, w := range ws {
				t.tenant, t.actor, t.at = w.tenant, w.actor, w.at.UTC()
				if w.at.IsZero() {
					t.at = r.now().UTC()
				}
				if err := w.fn(t); err != nil {
					return err
				}
			}
			return t.applyRefreshes(refs) // with their own times
		}, report, len(ws) == 0)
		return err
	}
	switch {
	case len(batch) == 0:
		return errs, run(nil, refs, true)
	case len(batch) == 1 && len(refs) == 0:
		errs[0] = run(batch, nil, true)
		return errs, nil
	}
	if run(batch, refs, false) == nil {
		return errs, nil
	}
	for i, w := range batch {
		errs[i] = run([]*writeReq{w}, nil, true)
	}
	var refErr error
	if len(refs) > 0 {
		refErr = run(nil, refs, false)
	}
	return errs, refErr
}

// commitLocked runs fn in one store transaction, commits it and makes it
// visible (over a shared store: waits until the follower applied it).
// Called with wmu held.
// A failure is reported (the registry fails closed, recovery starts) only
// if report is set; a batch tried before its writes are tried alone is not.
// An invisible commit (link refreshes only) changes nothing lookups see:
// read-only passes do not wait for it.
func (r *Registry) commitLocked(fn func(t *txn) error, report, invisible bool) (*txn, error) {
	if r.closed.Load() || !r.Healthy() {
		return nil, ErrUnavailable
	}
	var t *txn
	if !invisible {
		n := r.commitsStarted.Add(1)
		defer r.markPublished(n)
	}
	err := r.store.Update(func(tx StoreTx) error {
		t = r.begin("", time.Time{}, "")
		t.tx = tx
		if err := fn(t); err != nil {
			return err
		}
		if err := t.build(); err != nil {
			return err
		}
		return tx.Apply(&t.change)
	})
	if err != nil && (!report || errors.Is(err, errBadRecord)) {
		// Not reported (a batch about to be tried write by write), or one
		// damaged record: that request fails, the store is not broken.
		return nil, fmt.Errorf("cannot commit rights changes: %w: %w", ErrUnavailable, err)
	}
	if err != nil {
		if t != nil && r.follow == nil {
			for _, h := range t.change.Hot {
				if h.Flags.suppressing() {
					r.hot.Load().set(h.Key, h.Flags)
				}
			}
		}
		r.stats.writeErrors.Add(1)
		return nil, r.fail("commit rights changes", err)
	}
	r.stats.evicted.Add(uint64(t.evicted))
	if r.follow != nil {
		// Shared store: memory moves only through the feed, in commit
		// order; answer once the follower has applied this change (and
		// everything the transaction read).
		if seq := t.change.FeedSeq; seq > 0 {
			return t, r.waitApplied(seq)
		}
		return t, nil
	}
	if r.beforePublish != nil {
		r.beforePublish()
	}
	t.publish()
	return t, nil
}

// build turns the records read and changed into one Change.
func (t *txn) build() error {
	// Devices whose session identity's suppression changed.
	for ik := range t.identities {
		err := t.eachLink(ik, KindIdentity, func(dk Key, _ time.Time) error {
			dev, err := t.get(dk, KindDevice)
			if err == nil && dev.HasSession && dev.Session == ik {
				t.hotCheck[dk] = true
			}
			return err
		})
		if err != nil {
			return err
		}
		for k, rec := range t.recs { // links made in this txn
			if rec.Kind == KindDevice && rec.HasSession && rec.Session == ik {
				t.hotCheck[k] = true
			}
		}
	}
	c := &t.change
	for _, k := range sortedKeys(t.hotCheck) {
		f, err := t.flags(t.recs[k])
		if err != nil {
			return err
		}
		// Always written, never compared with memory: after a failed
		// commit, memory may hold what the store lacks.
		c.Hot = append(c.Hot, HotEntry{Key: k, Flags: f})
	}
	for _, k := range sortedKeys(t.dirty) {
		c.Records = append(c.Records, *t.recs[k])
	}
	c.Links, c.Unlinks = t.linkChanges()
	c.Log, c.Sessions = t.log, t.sessChanged
	return nil
}

// feedPositioner is implemented by read views of a shared store.
type feedPositioner interface {
	FeedPosition() (uint64, error)
}

// readOnly is a StoreTx over a read-only view; Apply is never called on it.
type readOnly struct{ StoreReader }

func (readOnly) Apply(*Change) error { return errors.New("BUG: a change applied in a read-only view") }

// publish makes a committed change visible to lookups and the link cache.
// Called after the commit, under wmu.
func (t *txn) publish() {
	r := t.r
	r.pubMu.Lock()
	r.applyLocked(t.change.Hot, t.change.Sessions)
	// Links confirmed by reads in this transaction, except devices whose
	// session a write of the same batch changed (applied above, in order).
	changed := make(map[Key]bool, len(t.change.Sessions))
	for _, l := range t.change.Sessions {
		changed[l.Device] = true
	}
	for _, l := range t.sessSeen {
		if !changed[l.Device] {
			r.sess.set(l.Device, l.Identity)
		}
	}
	r.pubMu.Unlock()
	t.log = t.change.Log // with sequence numbers
}

// applyLocked makes committed hot entries and session changes visible, in
// commit order. Called with pubMu held.
func (r *Registry) applyLocked(hot []HotEntry, sessions []Link) {
	h := r.hot.Load()
	for _, l := range sessions {
		r.sess.drop(l.Device)
	}
	for _, e := range hot {
		h.set(e.Key, e.Flags)
		// Every record a change writes has a hot entry: its consent
		// may have changed.
		r.cons.drop(e.Key)
	}
	for _, l := range sessions {
		if l.Identity != (Key{}) {
			r.sess.set(l.Device, l.Identity)
		} else {
			r.sess.drop(l.Device)
		}
	}
	if len(hot) > 0 || len(sessions) > 0 {
		// Only these can make a concurrent read-only pass stale (a commit
		// of link refreshes alone cannot).
		r.gen.Add(1)
	}
}

// markPublished records that commit n is visible (or failed). Called with
// wmu held, after publish.
func (r *Registry) markPublished(n uint64) {
	r.pubMu.Lock()
	r.published = n
	close(r.publishedCh)
	r.publishedCh = make(chan struct{})
	r.pubMu.Unlock()
}

// waitPublished returns once every commit up to n is visible to lookups.
func (r *Registry) waitPublished(n uint64) error {
	for {
		r.pubMu.Lock()
		done, ch := r.published >= n, r.publishedCh
		r.pubMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-r.stop:
			return ErrUnavailable
		}
	}
}

// cacheSeen remembers links and consent that a read-only pass confirmed,
// unless a commit or a feed apply happened since before the read (a newer
// session or consent may have been applied; the caches must never hold an
// older one).
func (r *Registry) cacheSeen(before uint64, seen []Link, cons []consentSeen) {
	if len(seen) == 0 && len(cons) == 0 {
		return
	}
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	if r.gen.Load() != before {
		return
	}
	for _, l := range seen {
		r.sess.set(l.Device, l.Identity)
	}
	if r.follow != nil {
		return // the consent cache serves the embedded store only
	}
	for _, c := range cons {
		r.cons.set(c.key, c.ch, c.c)
	}
}

func sortedKeys(m map[Key]bool) []Key {
	ks := make([]Key, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b Key) int { return bytes.Compare(a[:], b[:]) })
	return ks
}

// OptOutAck names the opt-out that a forwarded record carried: the subject
// it landed on and when that suppression started. AckOptOut acknowledges
// exactly that opt-out, even if the device's session has moved on since.
type OptOutAck struct {
	Tenant string
	Key    Key
	Kind   Kind
	Since  time.Time
}

// PendingOptOut reports whether the subject that ref's opt-out lands on
// (see Learn) is suppressed by its own opt-out only and the vendor has not
// yet accepted a request carrying it, and names that opt-out. The proxy
// forwards such a subject's opt-out records until AckOptOut, so that an
// opt-out learned from a request the vendor then refused (502, a malformed
// batch) still reaches the vendor on the SDK's retry.
func (r *Registry) PendingOptOut(ref Ref) (OptOutAck, bool, error) {
	if !r.Healthy() {
		return OptOutAck{}, false, fmt.Errorf("cannot read opt-out state: %w", ErrUnavailable)
	}
	var ack OptOutAck
	var pending bool
	err := r.store.View(func(rd StoreReader) error {
		t := &txn{r: r, tx: readOnly{rd}, recs: map[Key]*Record{}}
		var err error
		ack, pending, err = t.pendingOptOut(ref)
		return err
	})
	if err != nil {
		return OptOutAck{}, false, fmt.Errorf("cannot read opt-out state: %w: %w", ErrUnavailable, err)
	}
	return ack, pending, nil
}

// LearnOptOut is Learn for a record that carries an opt-out, and also
// returns what PendingOptOut would, read in the same transaction as the
// change (a login on the device in between cannot redirect the
// acknowledgement).
func (r *Registry) LearnOptOut(ref Ref, s Signals) (OptOutAck, bool, error) {
	var ack OptOutAck
	var pending bool
	if !ref.HasIdentity && !ref.HasDevice {
		return ack, false, nil
	}
	if err := s.validate(); err != nil {
		return ack, false, err
	}
	err := r.write(ref.Tenant, s.At, ActorTraffic, "learn rights signals", func(t *txn) error {
		if err := t.learn(ref, &s); err != nil {
			return err
		}
		var err error
		ack, pending, err = t.pendingOptOut(ref)
		return err
	})
	return ack, pending, err
}

// pendingOptOut names the opt-out that ref's signal lands on and whether
// the vendor has yet to accept it.
func (t *txn) pendingOptOut(ref Ref) (OptOutAck, bool, error) {
	k, kind, err := t.person(ref)
	if err != nil {
		return OptOutAck{}, false, err
	}
	rec, err := t.get(k, kind)
	if err != nil {
		return OptOutAck{}, false, err
	}
	ack := OptOutAck{Tenant: ref.Tenant, Key: k, Kind: kind, Since: rec.Since}
	return ack, rec.Reason == ReasonOptOut && !rec.VendorAcked, nil
}

// AckOptOut records that the vendor answered 2xx to a request that carried
// the opt-out ack names: later copies are answered locally. It changes
// nothing if that subject's suppression is no longer that opt-out (lifted,
// replaced by a stronger reason, or a newer opt-out).
func (r *Registry) AckOptOut(ack OptOutAck) error {
	return r.write(ack.Tenant, time.Time{}, ActorTraffic, "record vendor acknowledgement", func(t *txn) error {
		rec, err := t.get(ack.Key, ack.Kind)
		if err != nil || rec.Reason != ReasonOptOut || rec.VendorAcked || !rec.Since.Equal(ack.Since) {
			return err
		}
		rec.VendorAcked = true
		rec.Updated = t.at
		t.dirty[ack.Key] = true
		t.note(ActionVendorAck, ack.Kind, ack.Key, rec.Reason, "", "")
		return nil
	})
}
