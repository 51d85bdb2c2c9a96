package proxy

import (
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/rights"
)

// RightsAdapter puts the rights registry behind the formats' Subjects and
// Rights interfaces: it hashes identifiers into subject keys, applies the
// tenant options, and orders learning and checking.
type RightsAdapter struct {
	reg     *rights.Registry
	tenants map[string]RightsOptions
}

// RightsOptions are a tenant's data-subject options.
type RightsOptions struct {
	AllowSystemEvents      bool // honour ct_allow_sys_events_and_communication
	MarketingOptInRequired bool // no recorded consent = opted out of campaigns
}

// NewRightsAdapter wraps reg with per-tenant options.
func NewRightsAdapter(reg *rights.Registry, tenants map[string]RightsOptions) *RightsAdapter {
	return &RightsAdapter{reg: reg, tenants: tenants}
}

var (
	_ formats.Subjects = (*RightsAdapter)(nil)
	_ formats.Rights   = (*RightsAdapter)(nil)
)

// Healthy is the readiness check of the registry.
func (a *RightsAdapter) Healthy() string {
	if !a.reg.Healthy() {
		return "rights registry unavailable (store cannot be read or written)"
	}
	return ""
}

// Admit implements formats.Subjects.
func (a *RightsAdapter) Admit(tenant string, s formats.Subject, sig formats.Signals) (bool, error) {
	return a.admit(a.reg.Ref(tenant, s.Identity, s.Device), s, sig)
}

func (a *RightsAdapter) admit(ref rights.Ref, s formats.Subject, sig formats.Signals) (bool, error) {
	tenant := ref.Tenant
	rs := rights.Signals{AllowSystem: sig.AllowSystem && a.tenants[tenant].AllowSystemEvents}
	switch {
	case sig.OptOut > 0:
		rs.OptOut = rights.SignalOptOut
	case sig.OptOut < 0:
		rs.OptOut = rights.SignalOptIn
	}
	for ch, v := range sig.Marketing {
		if v != 0 {
			rs.SetMarketingKey([]byte(marketingKeys[ch]), v > 0)
		}
	}
	// A record carrying an opt-out is forwarded so that the vendor learns
	// it, unless its subject was suppressed already (then the record may
	// carry data of an erased or opted-out person: privacy wins over
	// telling the vendor again). Take its verdict before learning.
	var before rights.Verdict
	if rs.OptOut == rights.SignalOptOut {
		before = a.reg.CheckRef(ref)
	}
	if err := a.reg.Learn(ref, rs); err != nil {
		return false, err
	}
	if rs.OptOut == rights.SignalOptOut {
		if before.Status == rights.StatusUnknown {
			return false, rights.ErrUnavailable
		}
		return before.Status == rights.StatusClear, nil
	}
	v := a.reg.CheckRef(ref)
	if v.Status == rights.StatusUnknown {
		return false, rights.ErrUnavailable
	}
	return !v.Drop(s.System), nil
}

// marketingKeys are the CleverTap keys in formats.MarketingChannels order;
// the registry parses them (the dnd-* keys are negative).
var marketingKeys = [formats.NumMarketingChannels]string{"MSG-push", "MSG-push-all", "MSG-email", "MSG-sms", "MSG-whatsapp", "MSG-dndPhone", "MSG-dndEmail"}

// Erase implements formats.Rights.
func (a *RightsAdapter) Erase(tenant string, s formats.Subject, actor string) error {
	if len(s.Identity) > 0 {
		if _, err := a.reg.Erase(rights.Ref{Tenant: tenant, Identity: a.reg.Key(tenant, rights.KindIdentity, s.Identity), HasIdentity: true}, actor); err != nil {
			return err
		}
	}
	if len(s.Device) > 0 {
		if _, err := a.reg.Erase(rights.Ref{Tenant: tenant, Device: a.reg.Key(tenant, rights.KindDevice, s.Device), HasDevice: true}, actor); err != nil {
			return err
		}
	}
	return nil
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
// subject costs two SHA-256 blocks, so it remembers the last keys.
type requestSubjects struct {
	a                   *RightsAdapter
	tenant              string
	device, identity    []byte
	devKey, identKey    rights.Key
	hasDevKey, hasIdKey bool
}

func (r *requestSubjects) reset(a *RightsAdapter, tenant string) {
	r.a, r.tenant, r.hasDevKey, r.hasIdKey = a, tenant, false, false
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
	return r.a.admit(ref, s, sig)
}
