package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/amplitude"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/formats/mixpanel"
	"github.com/consentry/consentry/formats/posthog"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// allRoutes are every vendor route Consentry serves.
func allRoutes() []formats.Route {
	routes := clevertap.Routes()
	routes = append(routes, segment.Routes()...)
	routes = append(routes, amplitude.Routes()...)
	routes = append(routes, mixpanel.Routes()...)
	routes = append(routes, posthog.Routes()...)
	return routes
}

// newPolicy loads the Rego from dir (or the embedded rules) with the
// tenants' policy data under data.tenants.
func newPolicy(dir string, cfg *config.Config, log *slog.Logger) (*policy.Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []policy.Option{policy.WithLogger(log)}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("policy directory %q (policy.dir or --policy) is not a directory", dir)
		}
		opts = append(opts, policy.WithDir(dir))
	} else {
		opts = append(opts, policy.WithFS(rules.FS))
	}
	if cfg != nil {
		tenants := map[string]any{}
		for name, t := range cfg.Tenants {
			if t.PolicyData != nil {
				tenants[name] = t.PolicyData
			}
		}
		if len(tenants) > 0 {
			opts = append(opts, policy.WithData(map[string]any{"tenants": tenants}))
		}
	}
	e, err := policy.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot load policy: %w", err)
	}
	return e, nil
}

// newApplier builds a tenant's transformer from its resolved keys.
func newApplier(k *config.TenantKeys) (*masking.Transformer, error) {
	return masking.NewTransformer(masking.Keys{HMACKey: k.HMAC, TokenKey: k.Token, TokenKeyID: k.TokenKeyID})
}

// policyStats adapts the engine's counters to the metrics.
type policyStats struct{ e *policy.Engine }

func (p policyStats) Evaluations() uint64 { return p.e.Stats().Evaluations }
func (p policyStats) FailClosed() uint64  { return p.e.Stats().Errors }
func (p policyStats) Reloads() (ok, failed uint64, lastOK bool) {
	s := p.e.Stats()
	return s.Reloads, s.ReloadErrors, s.LastReloadOK
}
