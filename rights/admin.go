package rights

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// adminSubject returns the one subject an admin call names.
func adminSubject(ref Ref) (Key, Kind, error) {
	switch {
	case ref.Tenant == "":
		return Key{}, 0, fmt.Errorf("cannot resolve subject: %w: no tenant", ErrInvalidSubject)
	case ref.HasIdentity && ref.HasDevice:
		return Key{}, 0, fmt.Errorf("cannot resolve subject: %w: name an identity or a device, not both", ErrInvalidSubject)
	case ref.HasIdentity:
		return ref.Identity, KindIdentity, nil
	case ref.HasDevice:
		return ref.Device, KindDevice, nil
	default:
		return Key{}, 0, fmt.Errorf("cannot resolve subject: %w: no identity or device given", ErrInvalidSubject)
	}
}

// admin runs one admin change on the subject ref names, logs it under
// actor and returns the subject's access report after the change.
func (r *Registry) admin(ref Ref, actor, what string, fn func(t *txn, k Key, kind Kind) error) (Report, error) {
	k, kind, err := adminSubject(ref)
	if err != nil {
		return Report{}, err
	}
	if actor == "" {
		return Report{}, fmt.Errorf("cannot %s: no actor given (pass the admin token name)", what)
	}
	if err := r.write(ref.Tenant, time.Time{}, actor, what, func(t *txn) error { return fn(t, k, kind) }); err != nil {
		return Report{}, err
	}
	rep, err := r.report(ref.Tenant, k, kind)
	if err != nil {
		return Report{}, fmt.Errorf("cannot build access report after %s: %w", what, err)
	}
	return rep, nil
}

func changedDetail(changed bool) string {
	if changed {
		return ""
	}
	return "no change"
}

// Suppress suppresses one subject (identity or device) with reason admin:
// only Unsuppress lifts it. Logged under actor (the admin token name).
func (r *Registry) Suppress(ref Ref, actor string) (Report, error) {
	return r.admin(ref, actor, "suppress subject", func(t *txn, k Key, kind Kind) error {
		changed, err := t.suppress(k, kind, ReasonAdmin, false)
		if err != nil {
			return err
		}
		t.note(ActionSuppress, kind, k, t.recs[k].Reason, "", changedDetail(changed))
		return nil
	})
}

// Unsuppress lifts any suppression of one subject (opt-out, erasure, admin
// suppression, admin erasure): the admin API is the only authority over
// every origin. A device that is suppressed through its session identity stays
// so until that identity is unsuppressed (the report says ViaIdentity).
func (r *Registry) Unsuppress(ref Ref, actor string) (Report, error) {
	return r.admin(ref, actor, "unsuppress subject", func(t *txn, k Key, kind Kind) error {
		old, err := t.unsuppress(k, kind, func(Reason) bool { return true })
		if err != nil {
			return err
		}
		d := "no change"
		if old != ReasonNone {
			d = "lifted " + old.String()
		}
		if rec := t.recs[k]; old.isErasure() && len(rec.Vendors) > 0 {
			// The vendor deletions belonged to the lifted erasure: a new
			// erasure asks every vendor again.
			rec.Vendors = nil
			t.touch(rec)
		}
		t.note(ActionUnsuppress, kind, k, ReasonNone, "", d)
		return nil
	})
}

// Erase records an erasure: the subject is suppressed with reason
// ReasonAdminErasure (byAdmin) or ReasonErasure (a deletion through the
// proxy that the vendor accepted or that carried the tenant's passcode).
// Only the admin API lifts either; a login, a profile update or the
// subject's own opt-in does not. Marketing consent is forgotten. Links are
// kept so that the subject's devices stay suppressed.
//
// Erasing a device (a vendor profile id such as CleverTap's GUID) also
// erases every identity linked to it, since the vendor profile is that
// person. Forwarding the deletion upstream, with identifiers translated as
// the proxy rewrote them, is the caller's job.
func (r *Registry) Erase(ref Ref, actor string, byAdmin bool) (Report, error) {
	reason := ReasonErasure
	if byAdmin {
		reason = ReasonAdminErasure
	}
	return r.admin(ref, actor, "erase subject", func(t *txn, k Key, kind Kind) error {
		if _, err := t.suppress(k, kind, reason, false); err != nil {
			return err
		}
		t.note(ActionErase, kind, k, t.recs[k].Reason, "", "")
		if kind != KindDevice {
			return nil
		}
		ids := map[Key]bool{}
		if dev := t.recs[k]; dev.HasSession {
			ids[dev.Session] = true
		}
		if err := t.eachLink(k, KindDevice, func(ik Key, _ time.Time) error { ids[ik] = true; return nil }); err != nil {
			return err
		}
		for _, ik := range sortedKeys(ids) {
			if _, err := t.suppress(ik, KindIdentity, reason, false); err != nil {
				return err
			}
			t.note(ActionErase, KindIdentity, ik, t.recs[ik].Reason, "", "linked to erased "+k.Prefix(KindDevice))
		}
		return nil
	})
}

// VendorErasures records the state of the deletion at each vendor in ves
// for the subject ref names (replacing what was held for those vendors),
// writes one rights-log entry per vendor (action vendor-erase) under actor,
// and returns the subject's report. Only an erased subject has vendor
// deletions: otherwise it fails with ErrInvalidSubject.
func (r *Registry) VendorErasures(ref Ref, actor string, ves []VendorErasure) (Report, error) {
	if err := r.requireErased(ref, "record vendor deletions"); err != nil {
		return Report{}, err
	}
	return r.admin(ref, actor, "record vendor deletions", func(t *txn, k Key, kind Kind) error {
		rec, err := t.get(k, kind)
		if err != nil {
			return err
		}
		if !rec.Reason.isErasure() {
			return nil // unsuppressed meanwhile: the deletions belonged to the lifted erasure
		}
		vs := slices.Clone(rec.Vendors)
		for _, v := range ves {
			if v.At.IsZero() {
				v.At = t.at
			}
			v.At = v.At.UTC()
			if i := slices.IndexFunc(vs, func(o VendorErasure) bool { return o.Vendor == v.Vendor }); i >= 0 {
				vs[i] = v
			} else {
				vs = append(vs, v)
			}
			t.log = append(t.log, LogEntry{
				Time: t.r.now().UTC(), Tenant: t.tenant, Action: ActionVendorErase, Actor: t.actor,
				Subject: k.Prefix(kind), Detail: v.Reason,
				Vendor: v.Vendor, VendorStatus: v.State.String(), Job: v.Job, HTTPStatus: v.HTTPStatus,
			})
		}
		slices.SortFunc(vs, func(a, b VendorErasure) int { return strings.Compare(a.Vendor, b.Vendor) })
		rec.Vendors = vs
		t.touch(rec)
		return nil
	})
}

// Claim is what ClaimVendors decided, per vendor.
type Claim struct {
	// Claimed are the vendors this caller may call now: their state is
	// requested, owned by the caller until the claim's end.
	Claimed []string
	// Busy are the vendors another instance holds a live claim on: not to
	// be called (their answer will be recorded by that instance).
	Busy []string
	// Done are the vendors that accepted meanwhile: nothing to do.
	Done []string
}

// ClaimVendors records, in one transaction (a compare-and-set on the
// subject's record: SERIALIZABLE on PostgreSQL, single writer on bbolt),
// the deletions decided without a call (decided: skipped, or failed before
// any call) and a claim by owner until until on each vendor in calls, so
// that instances sharing the registry never call one vendor twice for the
// subject: a vendor already accepted, or under another owner's live claim,
// is not claimed (Claim.Done, Claim.Busy), nor overwritten by decided. An
// expired claim, or a requested state without one (the process stopped
// during the call), is taken over. Each change writes one vendor-erase log
// entry under actor. The subject must be erased.
func (r *Registry) ClaimVendors(ref Ref, actor, owner string, until time.Time, calls []string, decided []VendorErasure) (Claim, Report, error) {
	if owner == "" {
		return Claim{}, Report{}, fmt.Errorf("cannot claim vendor deletions: %w: no owner given", ErrInvalidSubject)
	}
	if err := r.requireErased(ref, "claim vendor deletions"); err != nil {
		return Claim{}, Report{}, err
	}
	var c Claim
	rep, err := r.admin(ref, actor, "claim vendor deletions", func(t *txn, k Key, kind Kind) error {
		c = Claim{} // the store may run this again
		rec, err := t.get(k, kind)
		if err != nil {
			return err
		}
		if !rec.Reason.isErasure() {
			return nil // unsuppressed meanwhile: nothing to delete for it
		}
		now := t.r.now()
		vs := slices.Clone(rec.Vendors)
		set := func(v VendorErasure, call bool) {
			i := slices.IndexFunc(vs, func(o VendorErasure) bool { return o.Vendor == v.Vendor })
			if i >= 0 {
				switch have := vs[i]; {
				case have.State == VendorAccepted:
					if !slices.Contains(c.Done, v.Vendor) {
						c.Done = append(c.Done, v.Vendor)
					}
					return
				case have.State == VendorRequested && have.Owner != "" && have.Owner != owner && now.Before(have.Until):
					if !slices.Contains(c.Busy, v.Vendor) {
						c.Busy = append(c.Busy, v.Vendor)
					}
					return
				}
			}
			v.At = t.at
			if call {
				v = VendorErasure{Vendor: v.Vendor, State: VendorRequested, At: t.at, Owner: owner, Until: until.UTC()}
				c.Claimed = append(c.Claimed, v.Vendor)
			}
			if i >= 0 {
				vs[i] = v
			} else {
				vs = append(vs, v)
			}
			t.log = append(t.log, LogEntry{
				Time: t.r.now().UTC(), Tenant: t.tenant, Action: ActionVendorErase, Actor: t.actor,
				Subject: k.Prefix(kind), Detail: v.Reason,
				Vendor: v.Vendor, VendorStatus: v.State.String(), Job: v.Job, HTTPStatus: v.HTTPStatus,
			})
		}
		for _, v := range decided {
			set(v, false)
		}
		for _, name := range calls {
			set(VendorErasure{Vendor: name}, true)
		}
		slices.SortFunc(vs, func(a, b VendorErasure) int { return strings.Compare(a.Vendor, b.Vendor) })
		rec.Vendors = vs
		t.touch(rec)
		return nil
	})
	if err != nil {
		return Claim{}, Report{}, err
	}
	return c, rep, nil
}

// Peek returns the report of one subject without logging an access: for
// callers that log the action they take on it (an erasure's vendor calls).
func (r *Registry) Peek(ref Ref) (Report, error) {
	k, kind, err := adminSubject(ref)
	if err != nil {
		return Report{}, err
	}
	if r == nil || r.closed.Load() {
		return Report{}, fmt.Errorf("cannot read subject: %w", ErrUnavailable)
	}
	return r.report(ref.Tenant, k, kind)
}

// Show returns the access report of one subject and logs the access under
// actor. If the log cannot be written, no report is returned.
func (r *Registry) Show(ref Ref, actor string) (Report, error) {
	k, kind, err := adminSubject(ref)
	if err != nil {
		return Report{}, err
	}
	if r == nil || r.closed.Load() {
		return Report{}, fmt.Errorf("cannot show subject: %w", ErrUnavailable)
	}
	rep, err := r.report(ref.Tenant, k, kind)
	if err != nil {
		return Report{}, fmt.Errorf("cannot build access report: %w", err)
	}
	_, err = r.admin(ref, actor, "log access request", func(t *txn, k Key, kind Kind) error {
		t.note(ActionAccess, kind, k, ReasonNone, "", "")
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

// report reads what is held on one subject.
func (r *Registry) report(tenant string, k Key, kind Kind) (rep Report, err error) {
	err = r.store.View(func(rd StoreReader) error {
		rep, err = readReport(rd, tenant, k, kind)
		return err
	})
	return rep, err
}

func readReport(rd StoreReader, tenant string, k Key, kind Kind) (Report, error) {
	rec, ok, err := rd.Get(k)
	if err != nil {
		return Report{}, err
	}
	links := 0
	if err := rd.Links(k, kind, func(Key, time.Time) error { links++; return nil }); err != nil {
		return Report{}, err
	}
	rep := Report{
		Tenant: tenant, Subject: k.Prefix(kind), Kind: kind.String(), Known: ok || links > 0,
		ErasedAt: timePtr(rec.ErasedAt), UpdatedAt: timePtr(rec.Updated),
		Consent: make(map[string]ConsentReport, NumChannels),
	}
	if kind == KindIdentity {
		rep.LinkedDevices = &links
	} else {
		rep.LinkedIdentities = &links
	}
	v := Verdict{Status: StatusClear}
	v.merge(rec.Reason, rec.AllowSystem)
	since := rec.Since
	if kind == KindDevice && rec.HasSession {
		id, _, err := rd.Get(rec.Session)
		if err != nil {
			return Report{}, err
		}
		if id.Reason != ReasonNone {
			rep.ViaIdentity = true
			if rec.Reason == ReasonNone {
				since = id.Since
			}
			v.merge(id.Reason, id.AllowSystem)
		}
	}
	if v.Status == StatusSuppressed {
		rep.Suppressed, rep.Reason, rep.AllowSystemEvents, rep.Since = true, v.Reason.String(), v.AllowSystem, timePtr(since)
		rep.Origin = v.Reason.Origin()
		rep.VendorAcked = rec.Reason == ReasonOptOut && rec.VendorAcked
	}
	for ch, c := range rec.Consent {
		rep.Consent[Channel(ch).String()] = ConsentReport{State: c.State.String(), At: timePtr(c.At)}
	}
	for _, v := range rec.Vendors {
		rep.VendorErasures = append(rep.VendorErasures, VendorReport{
			Vendor: v.Vendor, Status: v.State.String(), Job: v.Job, HTTPStatus: v.HTTPStatus, Reason: v.Reason, At: v.At,
			Instance: v.Owner, ClaimedUntil: timePtr(v.Until), UnknownID: v.UnknownID,
		})
	}
	return rep, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// logPage is how many entries Log reads per store transaction, so that an
// export never holds a read transaction open while the caller writes.
const logPage = 512

// Log returns the rights-request log from since on (zero: everything), in
// order. Entries hold no raw identifiers. Stop early by breaking the loop;
// a read error is yielded once, as the last element.
func (r *Registry) Log(since time.Time) iter.Seq2[LogEntry, error] {
	return func(yield func(LogEntry, error) bool) {
		if r == nil || r.closed.Load() {
			yield(LogEntry{}, fmt.Errorf("cannot read rights log: %w", ErrUnavailable))
			return
		}
		var after uint64
		for {
			page, err := r.store.ReadLog(after, logPage)
			if err != nil {
				yield(LogEntry{}, fmt.Errorf("cannot read rights log: %w", err))
				return
			}
			for _, e := range page {
				after = e.Seq
				if e.Time.Before(since) {
					continue
				}
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < logPage {
				return
			}
		}
	}
}

// channelRule says which recorded channels decide a campaign channel:
// any of them revoked → revoked; else any primary granted → granted.
var channelRule = [NumChannels]struct{ primary, negative []Channel }{
	ChannelPush:     {primary: []Channel{ChannelPush, ChannelPushAll}},
	ChannelPushAll:  {primary: []Channel{ChannelPushAll}},
	ChannelEmail:    {primary: []Channel{ChannelEmail}, negative: []Channel{ChannelDNDEmail}},
	ChannelSMS:      {primary: []Channel{ChannelSMS}, negative: []Channel{ChannelDNDPhone}},
	ChannelWhatsApp: {primary: []Channel{ChannelWhatsApp}, negative: []Channel{ChannelDNDPhone}},
	ChannelDNDPhone: {primary: []Channel{ChannelDNDPhone}},
	ChannelDNDEmail: {primary: []Channel{ChannelDNDEmail}},
}

// Consent returns the effective marketing consent of a campaign target for
// one channel, combining the device's record (push consent is per device) and
// the person's (the identity named, else the device's session identity).
// A revocation anywhere wins over a grant.
func (r *Registry) Consent(ref Ref, ch Channel) (Consent, error) {
	if ch >= NumChannels {
		return ConsentUnknown, fmt.Errorf("cannot read marketing consent: unknown channel %d", ch)
	}
	if r == nil || r.closed.Load() {
		return ConsentUnknown, fmt.Errorf("cannot read marketing consent: %w", ErrUnavailable)
	}
	var out Consent
	err := r.store.View(func(rd StoreReader) error {
		var err error
		out, err = readConsent(rd, ref, ch)
		return err
	})
	if err != nil {
		return ConsentUnknown, fmt.Errorf("cannot read marketing consent: %w", err)
	}
	return out, nil
}

func readConsent(rd StoreReader, ref Ref, ch Channel) (Consent, error) {
	var recs []Record
	person, hasPerson := ref.Identity, ref.HasIdentity
	if ref.HasDevice {
		dev, ok, err := rd.Get(ref.Device)
		if err != nil {
			return ConsentUnknown, err
		}
		if ok {
			recs = append(recs, dev)
			if !hasPerson && dev.HasSession {
				person, hasPerson = dev.Session, true
			}
		}
	}
	if hasPerson {
		id, ok, err := rd.Get(person)
		if err != nil {
			return ConsentUnknown, err
		}
		if ok {
			recs = append(recs, id)
		}
	}
	if ch == ChannelPush && hasPerson && !ref.HasDevice {
		// Push consent is stored per device; a push to a person reaches all of
		// their devices, so every linked device's push state counts (a
		// revocation on any of them wins, as everywhere here).
		err := rd.Links(person, KindIdentity, func(dk Key, _ time.Time) error {
			dev, ok, err := rd.Get(dk)
			if ok {
				recs = append(recs, dev)
			}
			return err
		})
		if err != nil {
			return ConsentUnknown, err
		}
	}
	rule := channelRule[ch]
	out := ConsentUnknown
	for i := range recs {
		for _, c := range rule.negative {
			if recs[i].Consent[c].State == ConsentRevoked {
				return ConsentRevoked, nil
			}
		}
		for _, c := range rule.primary {
			switch recs[i].Consent[c].State {
			case ConsentRevoked:
				return ConsentRevoked, nil
			case ConsentGranted:
				out = ConsentGranted
			}
		}
	}
	return out, nil
}

// CampaignAllowed decides whether a campaign (push, email, sms, whatsapp)
// may reach a target: not if the registry is unhealthy (fail closed), not
// if the target is suppressed (unless its opt-out allowed system events and
// communication), not if it revoked the channel, and, when requireOptIn
// (the tenant's "marketing opt-in required"), only if it granted it.
func (r *Registry) CampaignAllowed(ref Ref, ch Channel, requireOptIn bool) (bool, error) {
	v := r.CheckRef(ref)
	switch {
	case v.Status == StatusUnknown:
		return false, fmt.Errorf("cannot check campaign target: %w", ErrUnavailable)
	case v.Status == StatusSuppressed && !v.AllowSystem:
		return false, nil
	}
	c, err := r.Consent(ref, ch)
	if err != nil {
		return false, err
	}
	if c == ConsentRevoked || (requireOptIn && c != ConsentGranted) {
		return false, nil
	}
	return true, nil
}

// requireErased fails with ErrInvalidSubject unless ref's subject is erased.
// It is checked before the write: an error inside a write transaction
// counts as a store failure. Other faults (a bad ref, a closed registry)
// are left for the write to report.
func (r *Registry) requireErased(ref Ref, what string) error {
	k, _, err := adminSubject(ref)
	if err != nil || r == nil || r.closed.Load() {
		return nil
	}
	var erased bool
	err = r.store.View(func(rd StoreReader) error {
		rec, _, err := rd.Get(k)
		erased = rec.Reason.isErasure()
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot read subject: %w: %w", ErrUnavailable, err)
	}
	if !erased {
		return fmt.Errorf("cannot %s: %w: the subject is not erased", what, ErrInvalidSubject)
	}
	return nil
}
