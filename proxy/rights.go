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
	ref := a.reg.Ref(tenant, s.Identity, s.Device)
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
	// An opt-out record is forwarded so that the vendor learns it, unless
	// its subject was suppressed already: take its verdict before learning.
	var before rights.Verdict
	if rs.OptOut == rights.SignalOptOut {
		before = a.reg.CheckRef(ref)
	}
	if err := a.reg.Learn(ref, rs); err != nil {
		return false, err
	}
	v := before
	if rs.OptOut != rights.SignalOptOut {
		v = a.reg.CheckRef(ref)
	}
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
