package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/amplitude"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/formats/mixpanel"
	"github.com/consentry/consentry/formats/posthog"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/proxy"
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
// tenants' policy data under data.tenants. With a bundle source the engine
// loads nothing itself: it waits for the source's first bundle.
func newPolicy(dir string, cfg *config.Config, log *slog.Logger, bundle ...*policy.BundleSource) (*policy.Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []policy.Option{policy.WithLogger(log)}
	switch {
	case len(bundle) > 0 && bundle[0] != nil:
		opts = append(opts, policy.WithBundle(bundle[0]))
	case dir != "":
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("policy directory %q (policy.dir or --policy) is not a directory", dir)
		}
		opts = append(opts, policy.WithDir(dir))
	default:
		opts = append(opts, policy.WithFS(rules.FS))
	}
	if cfg != nil {
		opts = append(opts, policy.WithLimits(cfg.Limits))
		if data := policyData(cfg); data != nil {
			opts = append(opts, policy.WithData(data))
		}
	}
	e, err := policy.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot load policy: %w", err)
	}
	return e, nil
}

// newBundleSource resolves policy.bundle's secrets (key, headers) into a
// bundle source; nothing is downloaded yet.
func newBundleSource(b *config.Bundle) (*policy.BundleSource, error) {
	bc := policy.BundleConfig{
		URL:          b.URL,
		MinDelay:     b.Polling.MinDelay,
		MaxDelay:     b.Polling.MaxDelay,
		Timeout:      b.Timeout,
		MaxSizeBytes: b.MaxSizeBytes,
	}
	if v := b.Verification; v != nil && v.InsecureSkip {
		bc.InsecureSkipVerification = true
	} else if v != nil {
		key, err := v.PublicKey.Resolve()
		if err != nil {
			return nil, fmt.Errorf("cannot read policy.bundle.verification.public_key: %w", err)
		}
		bc.PublicKey, bc.KeyID, bc.Algorithm, bc.Scope = key, v.KeyID, v.Algorithm, v.Scope
	}
	if len(b.Headers) > 0 {
		bc.Headers = make(map[string]string, len(b.Headers))
		for name, sec := range b.Headers {
			val, err := sec.Resolve()
			if err != nil {
				return nil, fmt.Errorf("cannot read policy.bundle.headers.%s: %w", name, err)
			}
			bc.Headers[name] = string(val)
		}
	}
	src, err := policy.NewBundleSource(bc)
	if err != nil {
		return nil, fmt.Errorf("cannot configure policy.bundle: %w", err)
	}
	return src, nil
}

// bundleStats adapts a bundle source to the metrics.
type bundleStats struct{ b *policy.BundleSource }

func (s bundleStats) BundleRevision() string            { return s.b.Status().Revision }
func (s bundleStats) BundleActivatedAt() time.Time      { return s.b.Status().ActivatedAt }
func (s bundleStats) BundleFailures() map[string]uint64 { return s.b.Status().Failures }

// bundleReady is the readiness check of a bundle-fed policy.
func bundleReady(b *policy.BundleSource) proxy.Check {
	return func() string {
		st := b.Status()
		if st.Revision != "" {
			return ""
		}
		if st.LastFailure != "" {
			return "waiting for the first policy bundle (last attempt failed: " + st.LastFailure + ")"
		}
		return "waiting for the first policy bundle"
	}
}

// newApplier builds a tenant's transformer from its resolved keys.
func newApplier(k *config.TenantKeys, opts ...masking.TransformerOption) (*masking.Transformer, error) {
	return masking.NewTransformer(masking.Keys{HMACKey: k.HMAC, TokenKey: k.Token, TokenKeyID: k.TokenKeyID}, opts...)
}

// policyStats adapts the engine's counters to the metrics.
type policyStats struct{ e *policy.Engine }

func (p policyStats) Evaluations() uint64 { return p.e.Stats().Evaluations }
func (p policyStats) FailClosed() uint64  { return p.e.Stats().Errors }
func (p policyStats) Reloads() (ok, failed uint64, lastOK bool) {
	s := p.e.Stats()
	return s.Reloads, s.ReloadErrors, s.LastReloadOK
}
