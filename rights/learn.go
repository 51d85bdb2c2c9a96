package rights

import (
	"bytes"
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
//     an opt-in also lifts a direct opt-out or erasure of the device;
//   - MSG-push: on the device if the record carries one (it is per device);
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
	link := ref.HasIdentity && ref.HasDevice && !r.sess.has(&ref.Device, &ref.Identity)
	if !link && s.OptOut == SignalNone && !s.hasMarketing() {
		return nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.closed.Load() {
		return fmt.Errorf("cannot learn rights signals: %w", ErrUnavailable)
	}
	t := r.begin(ref.Tenant, s.At, ActorTraffic)
	if err := t.learn(ref, &s); err != nil {
		return t.fail("read rights state", err)
	}
	return t.commit("learn rights signals")
}

// OptOut records ct_optout:true (see Learn).
func (r *Registry) OptOut(ref Ref, allowSystem bool, at time.Time) error {
	return r.Learn(ref, Signals{OptOut: SignalOptOut, AllowSystem: allowSystem, At: at})
}

// OptIn records ct_optout:false, the explicit opt-in: it lifts opt-outs and
// erasures, not admin suppressions (see Learn).
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

// txn gathers one write: records read from the store and changed, links,
// log entries. Only used under Registry.wmu.
type txn struct {
	r      *Registry
	tenant string
	actor  string
	at     time.Time

	recs        map[Key]*Record
	dirty       map[Key]bool // records to write
	hotCheck    map[Key]bool // hot flags to recompute
	identities  map[Key]bool // identities whose suppression changed
	links       []Link
	sessChanged []Link // devices whose session changes (cache drop, then set)
	sessSeen    []Link // confirmed unchanged sessions (cache set)
	log         []LogEntry
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
	rec, ok, err := t.r.store.Get(k)
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
	if ref.HasIdentity && ref.HasDevice {
		if err := t.link(ref.Identity, ref.Device); err != nil {
			return err
		}
	}
	switch s.OptOut {
	case SignalOptOut:
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
		t.sessSeen = append(t.sessSeen, Link{Identity: ik, Device: dk})
		return nil
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
	t.links = append(t.links, Link{Identity: ik, Device: dk})
	t.sessChanged = append(t.sessChanged, Link{Identity: ik, Device: dk})
	return nil
}

// suppress raises k's suppression to reason unless a stronger one holds.
// Erasure also forgets marketing consent. It reports whether state changed.
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
		rec.Reason, rec.AllowSystem = reason, allow
		changed = true
	}
	if reason == ReasonErasure {
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
	rec.Reason, rec.AllowSystem, rec.Since = ReasonNone, false, time.Time{}
	t.touch(rec)
	if kind == KindIdentity {
		t.identities[k] = true
	}
	return old, nil
}

func liftBySubject(r Reason) bool { return r == ReasonOptOut || r == ReasonErasure }

func (t *txn) optIn(ref Ref) error {
	k, kind, err := t.person(ref)
	if err != nil {
		return err
	}
	old, err := t.unsuppress(k, kind, liftBySubject)
	if err != nil {
		return err
	}
	if old != ReasonNone {
		t.note(ActionOptIn, kind, k, ReasonNone, "", "lifted "+old.String()+viaSuffix(ref, kind))
	}
	if ref.HasDevice && (kind != KindDevice || k != ref.Device) {
		old, err := t.unsuppress(ref.Device, KindDevice, liftBySubject)
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

// commit writes the change durably, then makes it visible to lookups. On a
// store failure the registry turns unhealthy (lookups fail closed) and the
// new suppressions are still applied in memory.
func (t *txn) commit(what string) error {
	r := t.r
	// Devices whose session identity's suppression changed.
	for ik := range t.identities {
		err := r.store.Links(ik, KindIdentity, func(dk Key) error {
			dev, err := t.get(dk, KindDevice)
			if err == nil && dev.HasSession && dev.Session == ik {
				t.hotCheck[dk] = true
			}
			return err
		})
		if err != nil {
			return t.fail(what, err)
		}
		for k, rec := range t.recs { // links made in this txn
			if rec.Kind == KindDevice && rec.HasSession && rec.Session == ik {
				t.hotCheck[k] = true
			}
		}
	}
	var c Change
	for _, k := range sortedKeys(t.hotCheck) {
		f, err := t.flags(t.recs[k])
		if err != nil {
			return t.fail(what, err)
		}
		// Always written, never compared with memory: after a failed
		// commit, memory may hold what the store lacks.
		c.Hot = append(c.Hot, HotEntry{Key: k, Flags: f})
	}
	for _, k := range sortedKeys(t.dirty) {
		c.Records = append(c.Records, *t.recs[k])
	}
	c.Links, c.Log = t.links, t.log
	if len(c.Hot) == 0 && len(c.Records) == 0 && len(c.Links) == 0 && len(c.Log) == 0 && len(t.sessChanged) == 0 {
		// A repeated signal (the same MSG-* flags on every profile push)
		// changes nothing: no write, no fsync.
		for _, l := range t.sessSeen {
			r.sess.set(l.Device, l.Identity)
		}
		return nil
	}
	for _, l := range t.sessChanged {
		r.sess.drop(l.Device)
	}
	if err := r.store.Commit(&c); err != nil {
		for _, h := range c.Hot {
			if h.Flags.suppressing() {
				r.hot.set(h.Key, h.Flags)
			}
		}
		return t.fail(what, err)
	}
	for _, h := range c.Hot {
		r.hot.set(h.Key, h.Flags)
	}
	for _, l := range t.sessChanged {
		r.sess.set(l.Device, l.Identity)
	}
	for _, l := range t.sessSeen {
		r.sess.set(l.Device, l.Identity)
	}
	t.log = c.Log // with sequence numbers
	return nil
}

func (t *txn) fail(what string, err error) error {
	t.r.healthy.Store(false)
	return fmt.Errorf("cannot %s: %w: %w (the registry now fails closed; check the data directory and restart)", what, ErrUnavailable, err)
}

func sortedKeys(m map[Key]bool) []Key {
	ks := make([]Key, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b Key) int { return bytes.Compare(a[:], b[:]) })
	return ks
}
