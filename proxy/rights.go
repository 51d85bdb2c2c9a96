package proxy

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/rights"
)

// RightsAdapter puts the rights registry behind the formats' Subjects and
// Rights interfaces: it hashes identifiers into subject keys, applies the
// tenant options, and orders learning and checking.
type RightsAdapter struct {
	reg     *rights.Registry
	tenants map[string]RightsOptions
	gate    accessGate // failed access authentications (access.go)
}

// RightsOptions are a tenant's data-subject options.
type RightsOptions struct {
	AllowSystemEvents      bool // honour ct_allow_sys_events_and_communication
	MarketingOptInRequired bool // no recorded consent = opted out of campaigns
	// Passcode is the tenant's vendor credential (CleverTap passcode): a
	// deletion that carries it in the route's credential header erases the
	// subject before it is forwarded. Without it, a deletion takes effect
	// locally only once the vendor accepted it.
	Passcode []byte
	// AccessToken switches the access routes on: they need it in
	// AccessTokenHeader besides the passcode. Nil: they answer 404.
	AccessToken []byte
	// AccountID is the CleverTap account the access routes name upstream
	// (rights.clevertap_account_id); "" is the tenant's first account id.
	AccountID string
}

// NewRightsAdapter wraps reg with per-tenant options.
func NewRightsAdapter(reg *rights.Registry, tenants map[string]RightsOptions) *RightsAdapter {
	return &RightsAdapter{reg: reg, tenants: tenants}
}

var (
	_ formats.Subjects = (*RightsAdapter)(nil)
)

// authorised reports whether credential is the tenant's configured vendor
// credential (constant time).
func (a *RightsAdapter) authorised(tenant string, credential []byte) bool {
	want := a.tenants[tenant].Passcode
	return len(want) > 0 && subtle.ConstantTimeCompare(credential, want) == 1
}

// Healthy is the readiness check of the registry.
func (a *RightsAdapter) Healthy() string {
	if a.reg.Healthy() {
		return ""
	}
	if fs := a.reg.FollowStats(); fs != nil && fs.StaleSince.Load() != 0 {
		return fmt.Sprintf("rights registry stale: not confirmed current for %.1fs (rights.postgres.max_staleness); the shared database may be unreachable", fs.Lag(time.Now()).Seconds())
	}
	return "rights registry unavailable (store cannot be read or written)"
}

// Admit implements formats.Subjects.
func (a *RightsAdapter) Admit(tenant string, s formats.Subject, sig formats.Signals) (bool, error) {
	return a.admit(a.reg.Ref(tenant, s.Identity, s.Device), s, sig, nil)
}

func (a *RightsAdapter) admit(ref rights.Ref, s formats.Subject, sig formats.Signals, acks *[]rights.OptOutAck) (bool, error) {
	tenant := ref.Tenant
	rs := rights.Signals{AllowSystem: sig.AllowSystem && a.tenants[tenant].AllowSystemEvents}
	switch {
	case sig.OptOut > 0:
		rs.OptOut = rights.SignalOptOut
	case sig.OptOut < 0:
		rs.OptOut = rights.SignalOptIn
	}
	for ch, v := range sig.Marketing {
		switch {
		case v > 0:
			rs.Marketing[ch] = rights.ConsentGranted
		case v < 0:
			rs.Marketing[ch] = rights.ConsentRevoked
		}
	}
	// A record carrying an opt-out is forwarded so that the vendor learns
	// it: when its subject was clear, or suppressed by nothing but its own
	// opt-out that the vendor has not accepted yet (the first copy met an
	// upstream failure). A subject suppressed for any other reason is not
	// told again: the record may carry an erased person's data. Take the
	// verdict before learning.
	if rs.OptOut == rights.SignalOptOut {
		before := a.reg.CheckRef(ref)
		if before.Status == rights.StatusUnknown {
			return false, rights.ErrUnavailable
		}
		ack, pending, err := a.reg.LearnOptOut(ref, rs)
		if err != nil {
			return false, err
		}
		forward := before.Status == rights.StatusClear || (before.Reason == rights.ReasonOptOut && pending)
		if forward && pending && acks != nil {
			*acks = append(*acks, ack)
		}
		return forward, nil
	}
	if err := a.reg.Learn(ref, rs); err != nil {
		return false, err
	}
	v := a.reg.CheckRef(ref)
	if v.Status == rights.StatusUnknown {
		return false, rights.ErrUnavailable
	}
	return !v.Drop(s.System), nil
}

func (a *RightsAdapter) erase(ref rights.Ref, actor string) error {
	_, err := a.reg.Erase(ref, actor, false)
	return err
}

// CampaignAllowed implements formats.Rights.
func (a *RightsAdapter) CampaignAllowed(tenant string, t formats.CampaignTarget, channel string) (bool, error) {
	ch, ok := rights.ParseChannel(channel)
	if !ok {
		return false, nil // unknown channel: do not reach anyone
	}
	return a.reg.CampaignAllowed(a.reg.Ref(tenant, t.Identity, t.Device), ch, a.tenants[tenant].MarketingOptInRequired)
}

// Registry returns the wrapped registry (for the admin API).
func (a *RightsAdapter) Registry() *rights.Registry { return a.reg }

// requestSubjects is the per-request face of the adapter: records of one
// batch share their device id (and often their identity), and hashing a
// subject costs two SHA-256 blocks, so it remembers the last keys. It also
// holds what takes effect only once the vendor accepted the request:
// erasures that carried no credential, and acknowledgements of forwarded
// opt-outs.
type requestSubjects struct {
	a                   *RightsAdapter
	tenant              string
	device, identity    []byte
	devKey, identKey    rights.Key
	hasDevKey, hasIdKey bool
	// authorised: the request carried the tenant's vendor credential.
	authorised bool
	acks       []rights.OptOutAck
	erasures   []pendingErasure
}

type pendingErasure struct {
	ref   rights.Ref
	actor string
}

var _ formats.Rights = (*requestSubjects)(nil)

func (r *requestSubjects) reset(a *RightsAdapter, tenant string) {
	r.a, r.tenant, r.hasDevKey, r.hasIdKey, r.authorised = a, tenant, false, false, false
	r.acks, r.erasures = r.acks[:0], r.erasures[:0]
}

// Admit implements formats.Subjects.
func (r *requestSubjects) Admit(tenant string, s formats.Subject, sig formats.Signals) (bool, error) {
	if tenant != r.tenant {
		return r.a.Admit(tenant, s, sig)
	}
	ref := rights.Ref{Tenant: tenant}
	if len(s.Device) > 0 {
		if !r.hasDevKey || string(r.device) != string(s.Device) {
			r.device = append(r.device[:0], s.Device...)
			r.devKey, r.hasDevKey = r.a.reg.Key(tenant, rights.KindDevice, s.Device), true
		}
		ref.Device, ref.HasDevice = r.devKey, true
	}
	if len(s.Identity) > 0 {
		if !r.hasIdKey || string(r.identity) != string(s.Identity) {
			r.identity = append(r.identity[:0], s.Identity...)
			r.identKey, r.hasIdKey = r.a.reg.Key(tenant, rights.KindIdentity, s.Identity), true
		}
		ref.Identity, ref.HasIdentity = r.identKey, true
	}
	return r.a.admit(ref, s, sig, &r.acks)
}

// Erase implements formats.Rights. A deletion that carried the tenant's
// credential erases at once (durably, before it is forwarded); any other is
// forwarded and takes effect locally only once the vendor accepted it
// (accepted): a client without the credential changes nothing here. An
// identifier the vendor will not see (the policy drops it) needs the
// credential.
func (r *requestSubjects) Erase(tenant string, s formats.Subject, actor string, forwarded bool) error {
	if !r.authorised && !forwarded {
		return formats.Errorf(403, "erasure_not_authorised",
			"the deletion names an identifier that reaches no vendor and carries no valid credential; configure tenants.%s.rights.clevertap_passcode and send it, or use the admin API", tenant)
	}
	var refs [2]rights.Ref
	n := 0
	if len(s.Identity) > 0 {
		refs[n] = rights.Ref{Tenant: tenant, Identity: r.a.reg.Key(tenant, rights.KindIdentity, s.Identity), HasIdentity: true}
		n++
	}
	if len(s.Device) > 0 {
		refs[n] = rights.Ref{Tenant: tenant, Device: r.a.reg.Key(tenant, rights.KindDevice, s.Device), HasDevice: true}
		n++
	}
	for _, ref := range refs[:n] {
		if !r.authorised {
			r.erasures = append(r.erasures, pendingErasure{ref, actor})
			continue
		}
		if err := r.a.erase(ref, actor); err != nil {
			return err
		}
	}
	return nil
}

// CampaignAllowed implements formats.Rights.
func (r *requestSubjects) CampaignAllowed(tenant string, t formats.CampaignTarget, channel string) (bool, error) {
	return r.a.CampaignAllowed(tenant, t, channel)
}

// pending reports whether anything waits for the vendor's answer.
func (r *requestSubjects) pending() bool { return len(r.acks) > 0 || len(r.erasures) > 0 }

// accepted applies what waited for the vendor's 2xx: the erasures it
// accepted and the acknowledgement of the opt-outs it received. An erasure
// that cannot be recorded is returned as eraseErr (the caller answers 503
// so that the deletion, idempotent at the vendor, is retried); a lost
// acknowledgement only means that the next copy of the opt-out is
// forwarded again.
func (r *requestSubjects) accepted() (ackErr, eraseErr error) {
	for _, e := range r.erasures {
		if err := r.a.erase(e.ref, e.actor); err != nil {
			eraseErr = err
			break
		}
	}
	for i, ack := range r.acks {
		if i > 0 && ack == r.acks[i-1] {
			continue // the same subject's opt-out in several records
		}
		if err := r.a.reg.AckOptOut(ack); err != nil {
			ackErr = err
			break
		}
	}
	r.acks, r.erasures = r.acks[:0], r.erasures[:0]
	return ackErr, eraseErr
}
