// Package config reads Consentry's YAML configuration: strict decoding
// (unknown keys are errors naming the key and line), ${ENV} expansion,
// secrets from environment variables or files, defaults as named constants,
// and a Validate that reports every problem at once.
package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/consentry/consentry/budget"
)

// Defaults.
const (
	DefaultListen              = "127.0.0.1:8080"
	DefaultAdmin               = "127.0.0.1:9090"
	DefaultDataDir             = "./consentry-data"
	DefaultMaxBodyBytes        = budget.DefaultMaxBodyBytes
	DefaultMaxHeaderBytes      = budget.DefaultMaxHeaderBytes
	DefaultMaxDecompressed     = budget.DefaultMaxDecompressed
	DefaultMaxCompressionRatio = budget.DefaultMaxCompressionRatio
	DefaultUpstreamTimeout     = 15 * time.Second
	DefaultShutdownGrace       = 20 * time.Second
	// DefaultDrainDelay is how long /readyz fails before the listener stops
	// accepting, so that load balancers and Kubernetes endpoints move away
	// first. A negative drain_delay turns it off.
	DefaultDrainDelay = 5 * time.Second
	DefaultTenantName = "default"

	// Policy bundles (policy.bundle). The delays are OPA's own defaults.
	DefaultBundleMinDelay     = 60 * time.Second
	DefaultBundleMaxDelay     = 120 * time.Second
	DefaultBundleTimeout      = 30 * time.Second
	DefaultBundleMaxSizeBytes = 16 << 20
	DefaultBundleKeyID        = "default"
	DefaultBundleAlgorithm    = "RS256"
)

// Config is the whole file.
type Config struct {
	Listen        string            `yaml:"listen"`
	Admin         string            `yaml:"admin"`
	DataDir       string            `yaml:"data_dir"`
	TLS           TLS               `yaml:"tls"`
	Limits        Limits            `yaml:"limits"`
	Policy        Policy            `yaml:"policy"`
	Audit         Audit             `yaml:"audit"`
	Shutdown      Shutdown          `yaml:"shutdown"`
	Upstream      UpstreamOpts      `yaml:"upstream"`
	AdminTokens   []Secret          `yaml:"admin_tokens"`
	AdminPprof    bool              `yaml:"admin_pprof"` // /debug/pprof/ behind admin_tokens; default off
	Rights        Rights            `yaml:"rights"`
	DefaultTenant string            `yaml:"default_tenant"`
	Tenants       map[string]Tenant `yaml:"tenants"`
	// Formats are the formats a single-tenant instance (--upstream, no
	// tenants) accepts; default: those its upstream's vendor serves
	// (CleverTap's for an unknown host). Tenants have their own formats.
	Formats []string `yaml:"formats"`

	// SingleTenant is set by the --upstream shortcut with no file: any
	// account is served by one generated tenant.
	SingleTenant bool `yaml:"-"`
}

// Rights configures the data-subject registry (opt-outs, erasures,
// consent), kept in data_dir/rights.db, or in PostgreSQL for a fleet.
type Rights struct {
	// Disabled turns the registry off: no suppression, no erasure routes.
	Disabled bool `yaml:"disabled"`
	// Key is the registry's HMAC key (>= 16 bytes); subjects are stored as
	// keyed hashes under it. Unset: generated into data_dir/keys/rights.key
	// (not with postgres: every instance needs the same key).
	Key Secret `yaml:"key"`
	// Postgres makes the registry shared by every instance that names the
	// same database and schema.
	Postgres *Postgres `yaml:"postgres"`
	// Links bound the identity↔device links the registry keeps.
	Links Links `yaml:"links"`
}

// Links bound the identity↔device links: unseen links expire, and each
// identity and device keeps at most so many (the least recently seen is
// evicted). Links of suppressed identities are kept.
type Links struct {
	// TTL: a link unseen for this long is removed (default 400 days,
	// 9600h; -1s turns expiry off).
	TTL                    time.Duration `yaml:"ttl"`
	MaxDevicesPerIdentity  int           `yaml:"max_devices_per_identity"`  // default 100
	MaxIdentitiesPerDevice int           `yaml:"max_identities_per_device"` // default 32
}

// Postgres is the shared rights registry of a fleet.
type Postgres struct {
	// DSN is a libpq connection string or postgres:// URL (a Secret: it
	// may hold a password).
	DSN Secret `yaml:"dsn"`
	// Schema holds the registry's tables (default consentry).
	Schema string `yaml:"schema"`
	// MaxStaleness: an instance that cannot confirm it has applied every
	// change for this long fails closed (503) until it can (default 5s).
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// PollInterval is the backstop poll of the change feed when no
	// notification arrives (default min(1s, max_staleness/3)).
	PollInterval time.Duration `yaml:"poll_interval"`
	// ChangeRetention is how long change-feed rows are kept; an instance
	// away for longer reloads everything on return (default 24h).
	ChangeRetention time.Duration `yaml:"change_retention"`
	// Timeout bounds each database call (default 2s, at most half of
	// max_staleness).
	Timeout time.Duration `yaml:"timeout"`
}

// Postgres defaults.
const (
	DefaultPGMaxStaleness    = 5 * time.Second
	DefaultPGChangeRetention = 24 * time.Hour
	DefaultPGTimeout         = 2 * time.Second // at most half of max_staleness
)

// TLS terminates TLS on the main listener when both files are set.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Limits are the budgets of requests, tenants and the process (the
// limits: block); see budget.Limits for each key and its default.
type Limits = budget.Limits

// Policy says where the Rego comes from: the embedded rules/ (neither dir
// nor bundle), a directory, or a signed OPA bundle polled over HTTP. Dir and
// Bundle are mutually exclusive.
type Policy struct {
	Dir    string  `yaml:"dir"`    // empty: the embedded rules/
	Watch  *bool   `yaml:"watch"`  // reload on file change (default true with dir)
	Bundle *Bundle `yaml:"bundle"` // one policy for a fleet: a signed OPA bundle
}

// Bundle is an OPA bundle (opa build -b) downloaded from URL and polled for
// changes. Verification is mandatory: without a verification block the
// configuration is refused, and unsigned bundles are accepted only with
// verification.insecure_skip: true.
type Bundle struct {
	URL     string        `yaml:"url"`
	Polling BundlePolling `yaml:"polling"`
	// Timeout bounds one download, headers and body (default 30s).
	Timeout      time.Duration       `yaml:"timeout"`
	Verification *BundleVerification `yaml:"verification"`
	// MaxSizeBytes bounds the downloaded tarball and, separately, its
	// uncompressed content (default 16 MiB). Larger bundles are refused.
	MaxSizeBytes int64 `yaml:"max_size_bytes"`
	// Headers are sent with every download, e.g. Authorization.
	Headers map[string]Secret `yaml:"headers"`
}

// BundlePolling is the random delay between two downloads, drawn from
// [MinDelay, MaxDelay] (default 60s-120s, as OPA).
type BundlePolling struct {
	MinDelay time.Duration `yaml:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay"`
}

// BundleVerification is the key a bundle must be signed with.
type BundleVerification struct {
	// PublicKey is the PEM public key (an HMAC secret for HS* algorithms).
	PublicKey Secret `yaml:"public_key"`
	// KeyID names the key; it must match the kid of the bundle's signature
	// (opa build signs with "default", the default here).
	KeyID     string `yaml:"key_id"`
	Algorithm string `yaml:"algorithm"` // default RS256
	Scope     string `yaml:"scope"`     // must equal the signature's scope
	// InsecureSkip accepts unsigned (and unverified) bundles. For tests
	// only; mutually exclusive with public_key.
	InsecureSkip bool `yaml:"insecure_skip"`
}

// bundleAlgorithms are the signature algorithms OPA verifies (v1/keys).
var bundleAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true, "HS256": true, "HS384": true, "HS512": true,
}

// Audit says where decision records go: "stdout" (default), "off", or a file.
type Audit struct {
	Output string `yaml:"output"`
	// FailReadiness makes /readyz fail while the output fails or stalls
	// (default true: an instance that cannot keep its audit trail leaves
	// the load balancer). Requests are never blocked by the audit either way.
	FailReadiness *bool `yaml:"fail_readiness"`
}

// FailsReadiness reports audit.fail_readiness (default true).
func (a Audit) FailsReadiness() bool { return a.FailReadiness == nil || *a.FailReadiness }

// Shutdown timing: readiness fails for DrainDelay (default 5s; negative:
// none) before the listener stops accepting, then in-flight requests get
// Grace (default 20s) to finish.
type Shutdown struct {
	DrainDelay time.Duration `yaml:"drain_delay"`
	Grace      time.Duration `yaml:"grace"`
}

// UpstreamOpts tune the pooled upstream clients.
type UpstreamOpts struct {
	Timeout  time.Duration `yaml:"timeout"`
	MaxConns int           `yaml:"max_conns"`
	// InsecureSkipVerify is for tests against self-signed upstreams only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Tenant is one customer: where its traffic goes, its keys, its policy data.
type Tenant struct {
	// Accounts are the vendor account ids (CleverTap account id) that belong
	// to this tenant. Empty: the tenant's name is its account id.
	Accounts []string `yaml:"accounts"`
	// Upstream is the default upstream base URL; Upstreams overrides it per
	// format ("clevertap.sdk", "clevertap.rest", ...).
	Upstream  string            `yaml:"upstream"`
	Upstreams map[string]string `yaml:"upstreams"`
	// Formats, when set, are the only formats this tenant accepts
	// ("clevertap.sdk", "segment", ...); others are refused with 403.
	Formats []string `yaml:"formats"`
	Keys    Keys     `yaml:"keys"`
	// PolicyData is merged into data.tenants[<name>] for the Rego policy.
	PolicyData map[string]any `yaml:"policy_data"`
	// Rights are the tenant's data-subject options.
	Rights RightsOpts `yaml:"rights"`
}

// RightsOpts are a tenant's data-subject options.
type RightsOpts struct {
	// AllowSystemEvents honours ct_allow_sys_events_and_communication: an
	// opted-out subject's system events still flow when the app asked for
	// it. Default false: an opt-out suppresses everything.
	AllowSystemEvents bool `yaml:"allow_system_events"`
	// MarketingOptInRequired treats subjects with no recorded consent as
	// opted out of campaigns (the GDPR recommendation).
	MarketingOptInRequired bool `yaml:"marketing_opt_in_required"`
	// HonorGPC drops every record of a request that carries Sec-GPC: 1
	// (Global Privacy Control) and answers it as the vendor would.
	HonorGPC bool `yaml:"honor_gpc"`
	// CleverTapPasscode lets admin erasures (consentry subjects erase)
	// also delete the profile at CleverTap, through the tenant's
	// clevertap.rest upstream. Unset: admin erasures are local only. It
	// alone never opens the access routes (CleverTap issues and shows it,
	// so it does not keep tokens from CleverTap): see AccessToken.
	CleverTapPasscode Secret `yaml:"clevertap_passcode"`
	// AccessToken (>= MinAccessTokenLen bytes) switches the proxied access
	// routes on for the tenant: a request needs it in
	// X-Consentry-Access-Token as well as the passcode. A secret only
	// Consentry and the controller hold. Unset: the routes answer 404.
	AccessToken Secret `yaml:"access_token"`
	// CleverTapAccountID is the account those calls name. Default: the
	// tenant's first account id (or its name).
	CleverTapAccountID string `yaml:"clevertap_account_id"`
	// Vendors are the vendor accounts at which admin erasures also delete
	// the subject, by vendor: clevertap, segment, rudderstack, amplitude,
	// mixpanel, posthog (see "Erasure at every vendor" in the README).
	Vendors map[string]VendorAccount `yaml:"vendors"`
}

// CleverTapPasscodeSecret is the passcode of the tenant's CleverTap
// account: clevertap_passcode, or vendors.clevertap.token.
func (o RightsOpts) CleverTapPasscodeSecret() Secret {
	if a, ok := o.Vendors["clevertap"]; ok {
		return a.Token
	}
	return o.CleverTapPasscode
}

// VendorAccount is a tenant's account at one vendor's deletion API.
type VendorAccount struct {
	// Token is the API credential (CleverTap passcode, Segment Public API
	// token, RudderStack service access token, Amplitude secret key,
	// Mixpanel GDPR OAuth token, PostHog personal API key).
	Token Secret `yaml:"token"`
	// BaseURL overrides the vendor's API host (EU hosts, self-hosted
	// PostHog, tests). CleverTap's default is the tenant's clevertap.rest
	// upstream.
	BaseURL        string   `yaml:"base_url"`
	Account        string   `yaml:"account"`         // clevertap: account id (default: the tenant's first)
	APIKey         string   `yaml:"api_key"`         // amplitude: project API key
	ProjectToken   string   `yaml:"project_token"`   // mixpanel: project token
	ProjectID      string   `yaml:"project_id"`      // posthog: project id
	SourceID       string   `yaml:"source_id"`       // segment: limit the regulation to one source
	DestinationIDs []string `yaml:"destination_ids"` // rudderstack: destinations to delete from
}

// vendorKeys are the keys each vendor takes besides token and base_url,
// and which of them it needs.
var vendorKeys = map[string]struct{ takes, needs []string }{
	"clevertap":   {takes: []string{"account"}},
	"segment":     {takes: []string{"source_id"}},
	"rudderstack": {takes: []string{"destination_ids"}, needs: []string{"destination_ids"}},
	"amplitude":   {takes: []string{"api_key"}, needs: []string{"api_key"}},
	"mixpanel":    {takes: []string{"project_token"}, needs: []string{"project_token"}},
	"posthog":     {takes: []string{"project_id"}, needs: []string{"project_id"}},
}

// VendorNames are the vendors tenants.<t>.rights.vendors accepts.
func VendorNames() []string {
	names := make([]string, 0, len(vendorKeys))
	for n := range vendorKeys {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (a *VendorAccount) keys() map[string]bool {
	return map[string]bool{
		"account": a.Account != "", "api_key": a.APIKey != "", "project_token": a.ProjectToken != "",
		"project_id": a.ProjectID != "", "source_id": a.SourceID != "", "destination_ids": len(a.DestinationIDs) > 0,
	}
}

// validate checks the account of tenant name at vendor v.
func (a *VendorAccount) validate(name, v string) []error {
	at := fmt.Sprintf("tenants.%s.rights.vendors.%s", name, v)
	spec, ok := vendorKeys[v]
	if !ok {
		return []error{fmt.Errorf("%s: unknown vendor; use one of %s", at, strings.Join(VendorNames(), ", "))}
	}
	var errs []error
	switch n := a.Token.sources(); {
	case n == 0:
		errs = append(errs, fmt.Errorf("%s.token: required (value, env or file)", at))
	case n > 1:
		errs = append(errs, fmt.Errorf("%s.token: set one of value, env or file", at))
	}
	if a.Token.Name != "" {
		errs = append(errs, fmt.Errorf("%s.token.name: only admin_tokens have names", at))
	}
	if a.BaseURL != "" {
		if err := checkURL(a.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("%s.base_url: %v", at, err))
		} else if u, _ := url.Parse(a.BaseURL); u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("%s.base_url: must have no query or fragment", at))
		}
	}
	set := a.keys()
	for _, k := range slices.Sorted(maps.Keys(set)) {
		switch {
		case set[k] && !slices.Contains(spec.takes, k):
			errs = append(errs, fmt.Errorf("%s.%s: %s does not use it (it takes token, base_url%s)", at, k, v, prefixed(", ", spec.takes)))
		case !set[k] && slices.Contains(spec.needs, k):
			errs = append(errs, fmt.Errorf("%s.%s: required for %s", at, k, v))
		}
	}
	return errs
}

func prefixed(sep string, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return sep + strings.Join(s, sep)
}

// validate checks the options of tenant name.
func (o RightsOpts) validate(name string) []error {
	var errs []error
	p := o.CleverTapPasscode
	n := p.sources()
	if n > 1 {
		errs = append(errs, fmt.Errorf("tenants.%s.rights.clevertap_passcode: set one of value, env or file", name))
	}
	if p.Name != "" {
		errs = append(errs, fmt.Errorf("tenants.%s.rights.clevertap_passcode.name: only admin_tokens have names", name))
	}
	if o.CleverTapAccountID != "" && n == 0 {
		errs = append(errs, fmt.Errorf("tenants.%s.rights.clevertap_account_id: set only with clevertap_passcode; with vendors.clevertap set vendors.clevertap.account instead", name))
	}
	if _, ok := o.Vendors["clevertap"]; ok && n > 0 {
		errs = append(errs, fmt.Errorf("tenants.%s.rights.vendors.clevertap: clevertap_passcode is set too; keep one (vendors.clevertap.token is the passcode)", name))
	}
	for _, v := range slices.Sorted(maps.Keys(o.Vendors)) {
		a := o.Vendors[v]
		errs = append(errs, a.validate(name, v)...)
	}
	a := o.AccessToken
	switch {
	case a.sources() > 1:
		errs = append(errs, fmt.Errorf("tenants.%s.rights.access_token: set one of value, env or file", name))
	case a.isSet() && !o.CleverTapPasscodeSecret().isSet():
		errs = append(errs, fmt.Errorf("tenants.%s.rights.access_token: set only with clevertap_passcode or vendors.clevertap (the access routes forward the passcode to CleverTap)", name))
	case a.Value != "" && a.Encoding == "" && len(a.Value) < MinAccessTokenLen:
		errs = append(errs, fmt.Errorf("tenants.%s.rights.access_token: at least %d bytes (openssl rand -hex 24)", name, MinAccessTokenLen))
	}
	if a.Name != "" {
		errs = append(errs, fmt.Errorf("tenants.%s.rights.access_token.name: only admin_tokens have names", name))
	}
	return errs
}

// MinAccessTokenLen is the shortest tenants.<t>.rights.access_token.
const MinAccessTokenLen = 16

// ResolveAccessToken returns the tenant's access token (nil: unset, the
// access routes are off), or an error naming the key.
func (o RightsOpts) ResolveAccessToken(name string) ([]byte, error) {
	b, err := o.AccessToken.Resolve()
	switch {
	case err != nil:
		return nil, fmt.Errorf("tenants.%s.rights.access_token: %w", name, err)
	case b != nil && len(b) < MinAccessTokenLen:
		return nil, fmt.Errorf("tenants.%s.rights.access_token: at least %d bytes (openssl rand -hex 24)", name, MinAccessTokenLen)
	}
	return b, nil
}

// Keys are a tenant's secrets. Unset keys are generated on first start and
// kept in the data directory.
type Keys struct {
	HMAC       Secret `yaml:"hmac"`
	Token      Secret `yaml:"token"`
	TokenKeyID string `yaml:"token_key_id"`
}

// Secret is a value given inline (with ${ENV} expansion), from an
// environment variable, or from a file. Only one may be set.
type Secret struct {
	Value string `yaml:"value"`
	Env   string `yaml:"env"`
	File  string `yaml:"file"`
	Name  string `yaml:"name"` // admin tokens: the name written to the rights log
	// Encoding "base64" decodes the value (e.g. rights.key from a data
	// directory's generated keys/rights.key file). Default: the bytes as given.
	Encoding string `yaml:"encoding"`
}

func (s Secret) isSet() bool { return s.sources() > 0 }

// IsSet reports whether the secret is given (value, env or file).
func (s Secret) IsSet() bool { return s.isSet() }

// sources counts the ways the secret is given (value, env, file).
func (s Secret) sources() int {
	n := 0
	for _, v := range []string{s.Value, s.Env, s.File} {
		if v != "" {
			n++
		}
	}
	return n
}

// Resolve returns the secret's bytes, or nil if unset.
func (s Secret) Resolve() ([]byte, error) {
	b, err := s.raw()
	if err != nil || b == nil {
		return b, err
	}
	switch s.Encoding {
	case "":
		return b, nil
	case "base64":
		d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, errors.New("encoding is base64 but the secret is not valid base64")
		}
		return d, nil
	default:
		return nil, errors.New(`encoding: use "base64", or omit it`)
	}
}

func (s Secret) raw() ([]byte, error) {
	switch {
	case s.Value != "":
		return []byte(s.Value), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return []byte(v), nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("cannot read secret file: %w", err)
		}
		return bytes.TrimSpace(b), nil
	}
	return nil, nil
}

// Default returns the built-in configuration.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	c.Limits.ApplyDefaults()
	if c.Upstream.Timeout == 0 {
		c.Upstream.Timeout = DefaultUpstreamTimeout
	}
	if c.Upstream.MaxConns == 0 {
		c.Upstream.MaxConns = 512
	}
	if c.Shutdown.Grace == 0 {
		c.Shutdown.Grace = DefaultShutdownGrace
	}
	switch {
	case c.Shutdown.DrainDelay == 0:
		c.Shutdown.DrainDelay = DefaultDrainDelay
	case c.Shutdown.DrainDelay < 0:
		c.Shutdown.DrainDelay = -1 // off; stays off if defaults are applied again
	}
	if c.Audit.Output == "" {
		c.Audit.Output = "stdout"
	}
	if pg := c.Rights.Postgres; pg != nil {
		if pg.Schema == "" {
			pg.Schema = "consentry"
		}
		if pg.MaxStaleness == 0 {
			pg.MaxStaleness = DefaultPGMaxStaleness
		}
		if pg.ChangeRetention == 0 {
			pg.ChangeRetention = DefaultPGChangeRetention
		}
		if pg.Timeout == 0 {
			pg.Timeout = min(DefaultPGTimeout, pg.MaxStaleness/2)
		}
	}
	if b := c.Policy.Bundle; b != nil {
		if b.Polling.MinDelay == 0 {
			b.Polling.MinDelay = DefaultBundleMinDelay
		}
		if b.Polling.MaxDelay == 0 {
			b.Polling.MaxDelay = max(DefaultBundleMaxDelay, b.Polling.MinDelay)
		}
		if b.Timeout == 0 {
			b.Timeout = DefaultBundleTimeout
		}
		if b.MaxSizeBytes == 0 {
			b.MaxSizeBytes = DefaultBundleMaxSizeBytes
		}
		if v := b.Verification; v != nil && !v.InsecureSkip {
			if v.KeyID == "" {
				v.KeyID = DefaultBundleKeyID
			}
			if v.Algorithm == "" {
				v.Algorithm = DefaultBundleAlgorithm
			}
		}
	}
}

var yamlQuoted = regexp.MustCompile("`[^`]*`")

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Parse decodes YAML strictly, after expanding ${ENV} references.
func Parse(data []byte) (*Config, error) {
	var missing []string
	expanded := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("config refers to unset environment variables: %s", strings.Join(missing, ", "))
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	c := &Config{}
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // empty file: defaults
		// YAML errors quote the offending value, which may be a secret.
		return nil, fmt.Errorf("cannot parse config: %s", yamlQuoted.ReplaceAllString(err.Error(), "a value"))
	}
	c.applyDefaults()
	return c, nil
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: set both cert_file and key_file, or neither")
	}
	errs = append(errs, c.Limits.Validate()...)
	if len(c.Tenants) == 0 && !c.SingleTenant {
		bad("tenants: no tenant configured (add one, or run with --upstream URL)")
	}
	if len(c.Formats) > 0 && !c.SingleTenant {
		bad("formats: applies to single-tenant mode only (--upstream without tenants); set tenants.<name>.formats instead")
	}
	if c.DefaultTenant != "" {
		if _, ok := c.Tenants[c.DefaultTenant]; !ok {
			bad("default_tenant: %q is not a configured tenant", c.DefaultTenant)
		}
	}
	accounts := map[string]string{}
	for name, t := range c.Tenants {
		if t.Upstream == "" && len(t.Upstreams) == 0 {
			bad("tenants.%s.upstream: required", name)
		}
		if t.Upstream != "" {
			if err := checkURL(t.Upstream); err != nil {
				bad("tenants.%s.upstream: %v", name, err)
			}
		}
		for f, u := range t.Upstreams {
			if err := checkURL(u); err != nil {
				bad("tenants.%s.upstreams.%s: %v", name, f, err)
			}
		}
		ids := t.Accounts
		if len(ids) == 0 {
			ids = []string{name}
		}
		for _, a := range ids {
			if other, dup := accounts[a]; dup && other != name {
				bad("tenants.%s.accounts: account %q also belongs to tenant %s", name, a, other)
			}
			accounts[a] = name
		}
		if id := t.Keys.TokenKeyID; id != "" && !keyID.MatchString(id) {
			bad("tenants.%s.keys.token_key_id: must match %s", name, keyID)
		}
		errs = append(errs, t.Rights.validate(name)...)
	}
	if l := c.Rights.Links; l.MaxDevicesPerIdentity < 0 || l.MaxIdentitiesPerDevice < 0 {
		bad("rights.links: max_devices_per_identity and max_identities_per_device must be positive (omit for the defaults)")
	}
	if pg := c.Rights.Postgres; pg != nil {
		switch {
		case c.Rights.Disabled:
			bad("rights.postgres: set with rights.disabled; remove one of them")
		case !pg.DSN.isSet():
			bad("rights.postgres.dsn: required (value, env or file)")
		}
		if !c.Rights.Key.isSet() {
			bad("rights.key: required with rights.postgres, the same on every instance (a generated key differs per instance)")
		}
		if !pgSchema.MatchString(pg.Schema) {
			bad("rights.postgres.schema: use lower-case letters, digits and underscores")
		}
		if pg.MaxStaleness < 100*time.Millisecond {
			bad("rights.postgres.max_staleness: at least 100ms")
		}
		if pg.PollInterval < 0 || (pg.PollInterval > 0 && pg.PollInterval >= pg.MaxStaleness) {
			bad("rights.postgres.poll_interval: must be shorter than max_staleness")
		}
		if pg.Timeout <= 0 || pg.Timeout >= pg.MaxStaleness {
			bad("rights.postgres.timeout: must be positive and shorter than max_staleness (a database call that hangs must not outlast the staleness bound)")
		}
		if pg.ChangeRetention < time.Minute {
			bad("rights.postgres.change_retention: at least 1m")
		}
	}
	errs = append(errs, c.Policy.validate()...)
	for i, s := range c.AdminTokens {
		if s.Name == "" {
			bad("admin_tokens[%d].name: required (it is written to the rights log)", i)
		}
	}
	if c.AdminPprof && len(c.AdminTokens) == 0 {
		bad("admin_pprof: true needs admin_tokens: profiles are served only with a bearer token")
	}
	return errors.Join(errs...)
}

var (
	keyID    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
	pgSchema = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// headerName is an HTTP header field name (RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (p *Policy) validate() []error {
	b := p.Bundle
	if b == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Dir != "" {
		bad("policy.dir (or --policy) and policy.bundle are mutually exclusive: set one of them")
	}
	if p.Watch != nil {
		bad("policy.watch: applies to policy.dir only (a bundle is polled: policy.bundle.polling)")
	}
	if b.URL == "" {
		bad("policy.bundle.url: required")
	} else if err := checkURL(b.URL); err != nil {
		bad("policy.bundle.url: %v", err)
	}
	if b.Polling.MinDelay <= 0 {
		bad("policy.bundle.polling.min_delay: must be positive")
	}
	if b.Polling.MaxDelay < b.Polling.MinDelay {
		bad("policy.bundle.polling.max_delay: must be at least min_delay")
	}
	if b.Timeout <= 0 {
		bad("policy.bundle.timeout: must be positive")
	}
	if b.MaxSizeBytes <= 0 {
		bad("policy.bundle.max_size_bytes: must be positive")
	}
	for _, name := range sortedKeys(b.Headers) {
		h := b.Headers[name]
		if !headerName.MatchString(name) {
			bad("policy.bundle.headers: %q is not a header name", name)
		}
		if h.sources() != 1 {
			bad("policy.bundle.headers.%s: set one of value, env or file", name)
		}
		if h.Name != "" {
			bad("policy.bundle.headers.%s.name: only admin_tokens have names", name)
		}
	}
	v := b.Verification
	switch {
	case v == nil:
		bad("policy.bundle.verification: required: set public_key (the PEM public key the bundle is signed with), or insecure_skip: true to accept unsigned bundles (tests only)")
	case v.InsecureSkip:
		if v.PublicKey.sources() > 0 || v.KeyID != "" || v.Algorithm != "" || v.Scope != "" {
			bad("policy.bundle.verification.insecure_skip: true cannot be combined with public_key, key_id, algorithm or scope")
		}
	default:
		if n := v.PublicKey.sources(); n != 1 {
			bad("policy.bundle.verification.public_key: set one of value, env or file")
		}
		if v.PublicKey.Name != "" {
			bad("policy.bundle.verification.public_key.name: only admin_tokens have names")
		}
		if !bundleAlgorithms[v.Algorithm] {
			bad("policy.bundle.verification.algorithm: %q is not supported (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, HS256, HS384, HS512)", v.Algorithm)
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

// UpstreamFor returns the tenant's upstream base URL for a format.
func (t *Tenant) UpstreamFor(format string) string {
	if u, ok := t.Upstreams[format]; ok {
		return u
	}
	return t.Upstream
}
