package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/consentry/consentry/config"
)

// vendorHosts map an upstream's host (by domain suffix) to the formats that
// vendor's API serves. A single-tenant instance accepts only these, so that
// a Segment batch and its write key never reach CleverTap's servers (or the
// other way round).
var vendorHosts = []struct {
	suffixes []string
	formats  []string
}{
	{[]string{"clevertap-prod.com", "clevertap.com", "wzrkt.com"}, clevertapFormats},
	{[]string{"segment.io", "segment.com", "segmentapis.com"}, []string{"segment"}},
	{[]string{"rudderstack.com", "rudderlabs.com"}, []string{"rudderstack"}},
	{[]string{"amplitude.com"}, []string{"amplitude"}},
	{[]string{"mixpanel.com"}, []string{"mixpanel"}},
	{[]string{"posthog.com"}, []string{"posthog"}},
}

// clevertapFormats are accepted by default: CleverTap is the vendor the
// Quickstart puts Consentry in front of, and an upstream on an unknown host
// (your own domain, a test sink) is taken to be CleverTap-compatible.
var clevertapFormats = []string{"clevertap.sdk", "clevertap.rest", "clevertap.web"}

// upstreamFormats are the formats the vendor behind upstream serves.
func upstreamFormats(upstream string) []string {
	u, err := url.Parse(upstream)
	if err != nil {
		return clevertapFormats
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, v := range vendorHosts {
		for _, s := range v.suffixes {
			if host == s || strings.HasSuffix(host, "."+s) {
				return v.formats
			}
		}
	}
	return clevertapFormats
}

// singleTenantFormats resolves what a single-tenant instance accepts:
// --formats, else the config file's formats, else its upstream's vendor's.
// "all" accepts every format (nil).
func singleTenantFormats(flagFormats string, cfgFormats []string, upstream string) ([]string, string, error) {
	list, source := cfgFormats, "formats"
	if flagFormats != "" {
		list, source = nil, "--formats"
		for f := range strings.SplitSeq(flagFormats, ",") {
			if f = strings.TrimSpace(f); f != "" {
				list = append(list, f)
			}
		}
	}
	if len(list) == 0 {
		return slices.Clone(upstreamFormats(upstream)), "upstream", nil
	}
	if slices.Contains(list, "all") {
		if len(list) > 1 {
			return nil, source, fmt.Errorf("%s: \"all\" cannot be combined with format names", source)
		}
		return nil, source, nil
	}
	known := map[string]bool{}
	for _, r := range allRoutes() {
		known[r.Format] = true
	}
	for _, f := range list {
		if !known[f] {
			return nil, source, fmt.Errorf("%s: unknown format %q (known: %s, or all)", source, f, strings.Join(knownFormats(), ", "))
		}
	}
	return list, source, nil
}

func knownFormats() []string {
	var out []string
	for _, r := range allRoutes() {
		if !slices.Contains(out, r.Format) {
			out = append(out, r.Format)
		}
	}
	return out
}

// singleTenant serves every account with one tenant named "default" that
// accepts the formats singleTenantFormats resolves.
func singleTenant(cfg *config.Config, upstream, flagFormats string) error {
	formats, _, err := singleTenantFormats(flagFormats, cfg.Formats, upstream)
	if err != nil {
		return err
	}
	cfg.SingleTenant = true
	cfg.Tenants = map[string]config.Tenant{config.DefaultTenantName: {Upstream: upstream, Formats: formats}}
	cfg.DefaultTenant = config.DefaultTenantName
	return nil
}
