package config

import (
	"strings"
	"testing"
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
