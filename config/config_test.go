package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseStrictNamesKeyAndLine(t *testing.T) {
	_, err := Parse([]byte("listen: \":1\"\ntenants:\n  acme:\n    upstream: http://x\n    upstrem: http://y\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), "upstrem") {
		t.Fatalf("want an error naming line 5 and the key, got %v", err)
	}
}

func TestParseEnvAndDefaults(t *testing.T) {
	t.Setenv("CT_UP", "https://eu1.clevertap-prod.com")
	t.Setenv("CT_HMAC", "s3cret-s3cret-s3cret-s3cret-s3cret")
	c, err := Parse([]byte(`
tenants:
  acme:
    accounts: ["TEST-RK4-654-R75Z"]
    upstream: ${CT_UP}
    keys:
      hmac: {env: CT_HMAC}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants["acme"]
	if tn.Upstream != "https://eu1.clevertap-prod.com" || c.Listen != DefaultListen || c.Limits.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Fatalf("unexpected config %+v", c)
	}
	if k, err := tn.Keys.HMAC.Resolve(); err != nil || string(k) != "s3cret-s3cret-s3cret-s3cret-s3cret" {
		t.Fatalf("secret: %q %v", k, err)
	}
	if _, err := Parse([]byte("listen: ${CT_NOT_SET_ANYWHERE}\n")); err == nil || !strings.Contains(err.Error(), "CT_NOT_SET_ANYWHERE") {
		t.Fatalf("unset env: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c, err := Parse([]byte(`
default_tenant: nope
tls: {cert_file: a.pem}
tenants:
  a: {upstream: "ftp://x", accounts: [X]}
  b: {accounts: [X]}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"default_tenant", "tls:", "tenants.a.upstream", "tenants.b.upstream", "also belongs"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.Listen != DefaultListen {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestResolveKeysGeneratesOnceAndKeeps(t *testing.T) {
	dir := t.TempDir()
	k1, err := ResolveKeys(dir, "default", Keys{})
	if err != nil || !k1.Generated || len(k1.HMAC) != HMACKeySize || len(k1.Token) != TokenKeySize {
		t.Fatalf("%v %+v", err, k1)
	}
	k2, err := ResolveKeys(dir, "default", Keys{})
	if err != nil || string(k2.HMAC) != string(k1.HMAC) || string(k2.Token) != string(k1.Token) {
		t.Fatal("keys changed across restarts")
	}
	if _, err := ResolveKeys(dir, "x", Keys{HMAC: Secret{Value: "short"}}); err == nil {
		t.Fatal("short hmac key accepted")
	}
}

func TestParseErrorsDoNotEchoValues(t *testing.T) {
	t.Setenv("CT_SECRET_VALUE", "TtKEuAw-super-secret-hmac-key-material")
	_, err := Parse([]byte("tenants:\n  a:\n    upstream: http://x\n    keys:\n      hmac: ${CT_SECRET_VALUE}\n"))
	if err == nil || strings.Contains(err.Error(), "TtKEuAw") {
		t.Fatalf("error echoes the secret: %v", err)
	}
}

func TestPolicyBundle(t *testing.T) {
	const tenant = "tenants:\n  acme: {upstream: \"http://x\"}\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error; none: valid
	}{
		{
			name: "signed bundle with defaults",
			yaml: "policy:\n  bundle:\n    url: https://policy.example.com/b.tar.gz\n    verification:\n      public_key: {file: /etc/consentry/bundle.pub}\n",
		},
		{
			name: "full example",
			yaml: `policy:
  bundle:
    url: https://policy.example.com/bundles/consentry.tar.gz
    polling: {min_delay: 10s, max_delay: 20s}
    timeout: 5s
    verification:
      public_key: {env: BUNDLE_PUB}
      key_id: default
      scope: ""
    max_size_bytes: 1048576
    headers: {Authorization: {env: BUNDLE_TOKEN}}
`,
		},
		{
			name: "explicit opt-out of verification",
			yaml: "policy:\n  bundle:\n    url: http://127.0.0.1:1/b.tar.gz\n    verification: {insecure_skip: true}\n",
		},
		{
			name: "no verification block fails closed",
			yaml: "policy:\n  bundle:\n    url: https://p/b.tar.gz\n",
			want: []string{"policy.bundle.verification: required", "insecure_skip"},
		},
		{
			name: "dir and bundle",
			yaml: "policy:\n  dir: /etc/rules\n  bundle:\n    url: https://p/b.tar.gz\n    verification: {public_key: {value: k}}\n",
			want: []string{"policy.dir (or --policy) and policy.bundle are mutually exclusive"},
		},
		{
			name: "bad values",
			yaml: `policy:
  bundle:
    url: ftp://p/b.tar.gz
    polling: {min_delay: 20s, max_delay: 10s}
    max_size_bytes: -1
    headers: {"Bad Header": {value: a}, X-Two: {value: a, env: B}}
    verification: {public_key: {value: k, file: f}, algorithm: RS999}
`,
			want: []string{"policy.bundle.url", "policy.bundle.polling.max_delay", "policy.bundle.max_size_bytes",
				`policy.bundle.headers: "Bad Header"`, "policy.bundle.headers.X-Two", "policy.bundle.verification.public_key",
				"policy.bundle.verification.algorithm"},
		},
		{
			name: "insecure_skip with a key",
			yaml: "policy:\n  bundle:\n    url: https://p/b.tar.gz\n    verification: {insecure_skip: true, public_key: {value: k}}\n",
			want: []string{"insecure_skip: true cannot be combined"},
		},
		{
			name: "missing url and key",
			yaml: "policy:\n  bundle:\n    verification: {key_id: k}\n",
			want: []string{"policy.bundle.url: required", "policy.bundle.verification.public_key"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml + tenant))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in %v", w, err)
				}
			}
		})
	}
}

func TestPolicyBundleDefaultsAndStrictKeys(t *testing.T) {
	c, err := Parse([]byte("policy:\n  bundle:\n    url: https://p/b.tar.gz\n    polling: {min_delay: 300s}\n    verification: {public_key: {value: k}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Policy.Bundle
	if b.Polling.MaxDelay != 300*time.Second || b.Timeout != DefaultBundleTimeout || b.MaxSizeBytes != DefaultBundleMaxSizeBytes ||
		b.Verification.KeyID != "default" || b.Verification.Algorithm != "RS256" {
		t.Fatalf("defaults not applied: %+v %+v", b, b.Verification)
	}
	_, err = Parse([]byte("policy:\n  bundle:\n    url: https://p/b.tar.gz\n    verification: {public_key: {value: k}, kid: x}\n"))
	if err == nil || !strings.Contains(err.Error(), "kid") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

func TestAdminPprofNeedsTokens(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		ok         bool
	}{
		{"off by default", "admin: 127.0.0.1:9090\n", true},
		{"on with a token", "admin_pprof: true\nadmin_tokens: [{name: ops, value: 0123456789abcdef}]\n", true},
		{"on without a token", "admin_pprof: true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml + "tenants: {a: {upstream: http://x}}\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "admin_pprof")) {
				t.Errorf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	c, err := Parse([]byte(`
limits:
  max_key_bytes: 128
  plan_cache_bytes: 33554432
  eval_timeout: 50ms
  max_in_flight_requests: 64
  max_conns_per_ip: 16
tenants:
  acme: {upstream: "http://127.0.0.1:1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.MaxKeyBytes != 128 || l.PlanCacheBytes != 32<<20 || l.EvalTimeout != 50*time.Millisecond ||
		l.MaxInFlightRequests != 64 || l.MaxConnsPerIP != 16 || l.MaxPathBytes != 1024 || l.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Fatalf("limits %+v", l)
	}
	c.Limits.MaxEvalsPerRequest = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "limits.max_evaluations_per_request") {
		t.Fatalf("want an error naming limits.max_evaluations_per_request, got %v", err)
	}
}

func TestVendorAccounts(t *testing.T) {
	base := "tenants:\n  acme:\n    upstream: https://eu1.clevertap-prod.com\n    rights:\n"
	f := func(rights, want string) {
		t.Helper()
		c, err := Parse([]byte(base + rights))
		if err == nil {
			err = c.Validate()
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", rights, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", rights, err, want)
		}
	}
	f("      vendors:\n        segment: {token: {value: t}}\n        mixpanel: {token: {value: t}, project_token: p, base_url: 'https://eu.mixpanel.com'}\n", "")
	f("      vendors:\n        rudderstack: {token: {value: t}, destination_ids: [d1]}\n        posthog: {token: {value: t}, project_id: '1'}\n        amplitude: {token: {value: t}, api_key: k}\n        clevertap: {token: {value: p}, account: A}\n", "")
	f("      vendors:\n        heap: {token: {value: t}}\n", "tenants.acme.rights.vendors.heap: unknown vendor; use one of amplitude, clevertap, mixpanel, posthog, rudderstack, segment")
	f("      vendors:\n        segment: {}\n", "tenants.acme.rights.vendors.segment.token: required")
	f("      vendors:\n        segment: {token: {value: t, env: X}}\n", "set one of value, env or file")
	f("      vendors:\n        segment: {token: {value: t}, base_url: 'ftp://x'}\n", "tenants.acme.rights.vendors.segment.base_url: must start with http")
	f("      vendors:\n        segment: {token: {value: t}, base_url: 'https://x/?q=1'}\n", "no query")
	f("      vendors:\n        segment: {token: {value: t}, project_id: '1'}\n", "tenants.acme.rights.vendors.segment.project_id: segment does not use it (it takes token, base_url, source_id)")
	f("      vendors:\n        mixpanel: {token: {value: t}}\n", "tenants.acme.rights.vendors.mixpanel.project_token: required for mixpanel")
	f("      vendors:\n        rudderstack: {token: {value: t}}\n", "destination_ids: required")
	f("      vendors:\n        posthog: {token: {value: t}}\n", "project_id: required")
	f("      vendors:\n        amplitude: {token: {value: t}}\n", "api_key: required")
	f("      vendors:\n        segment: {token: {value: t}, tokn: x}\n", "tokn")
	f("      clevertap_passcode: {value: p}\n      vendors:\n        clevertap: {token: {value: p}}\n", "keep one")
	// The account of vendors.clevertap is its own key: the error names it.
	f("      clevertap_account_id: A\n      vendors:\n        clevertap: {token: {value: p}}\n", "tenants.acme.rights.clevertap_account_id: set only with clevertap_passcode; with vendors.clevertap set vendors.clevertap.account instead")
}

func TestRightsAccessToken(t *testing.T) {
	t.Setenv("SHORT_ACCESS_TOKEN", "short")
	for _, tc := range []struct {
		name, rights, want string // want "": valid
	}{
		{"off", `{clevertap_passcode: {value: p}}`, ""},
		{"on", `{clevertap_passcode: {value: p}, access_token: {value: 0123456789abcdef}}`, ""},
		{"short", `{clevertap_passcode: {value: p}, access_token: {value: 0123456789abcde}}`, "tenants.acme.rights.access_token: at least 16 bytes"},
		{"no passcode", `{access_token: {value: 0123456789abcdef}}`, "tenants.acme.rights.access_token: set only with clevertap_passcode or vendors.clevertap"},
		{"two sources", `{clevertap_passcode: {value: p}, access_token: {value: 0123456789abcdef, env: X}}`, "set one of value, env or file"},
	} {
		c, err := Parse([]byte("tenants:\n  acme:\n    upstream: http://x\n    rights: " + tc.rights + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// From the environment the length is checked when it is resolved.
	o := RightsOpts{CleverTapPasscode: Secret{Value: "p"}, AccessToken: Secret{Env: "SHORT_ACCESS_TOKEN"}}
	if _, err := o.ResolveAccessToken("acme"); err == nil || !strings.Contains(err.Error(), "tenants.acme.rights.access_token: at least 16 bytes") {
		t.Errorf("short token from env: %v", err)
	}
	if b, err := (RightsOpts{}).ResolveAccessToken("acme"); b != nil || err != nil {
		t.Errorf("unset: %q %v", b, err)
	}
}

func TestCheckTokenKeys(t *testing.T) {
	key := func(b byte) *TenantKeys {
		return &TenantKeys{Token: bytes.Repeat([]byte{b}, TokenKeySize), TokenKeyID: "k1"}
	}
	for _, tc := range []struct {
		name string
		keys map[string]*TenantKeys
		want []string // substrings of the error; nil: no error
	}{
		{"distinct", map[string]*TenantKeys{"a": key(1), "b": key(2), "c": key(3)}, nil},
		{"shared", map[string]*TenantKeys{"acme": key(1), "beta": key(2), "zeta": key(1)}, []string{"tenants.acme.keys.token and tenants.zeta.keys.token: the same token key"}},
		{"shared under another key id", map[string]*TenantKeys{"a": key(1), "b": {Token: key(1).Token, TokenKeyID: "k2"}}, []string{"tenants.a.keys.token and tenants.b.keys.token"}},
		{"three share", map[string]*TenantKeys{"a": key(1), "b": key(1), "c": key(1)}, []string{"tenants.a.keys.token and tenants.b.keys.token", "tenants.a.keys.token and tenants.c.keys.token", "tenants.b.keys.token and tenants.c.keys.token"}},
	} {
		err := CheckTokenKeys(tc.keys)
		if (err == nil) != (tc.want == nil) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v lacks %q", tc.name, err, w)
			}
		}
	}
}
