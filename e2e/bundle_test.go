package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/tidwall/gjson"
)

// policyKeeping keeps the named fields of a record and drops the others.
func policyKeeping(keys ...string) string {
	return `package consentry

keep := {"type", "id", "` + strings.Join(keys, `", "`) + `"}

decision := {"action": "keep", "rule": "t.keep"} if input.field.key in keep
decision := {"action": "drop", "rule": "t.drop"} if not input.field.key in keep
record_decision := {"action": "keep", "rule": "t.rec"}
`
}

// signedBundle builds a bundle with OPA's writer and signer (as opa build
// --signing-key does: RS256, key id "default"); tamper runs after signing.
func signedBundle(t *testing.T, privPEM []byte, revision, rego string, tamper func(*bundle.Bundle)) []byte {
	t.Helper()
	b := bundle.Bundle{Data: map[string]any{}, Manifest: bundle.Manifest{Revision: revision}}
	b.Manifest.Init()
	b.Manifest.SetRegoVersion(ast.RegoV1)
	b.Modules = []bundle.ModuleFile{{URL: "/consentry/policy.rego", Path: "/consentry/policy.rego", Raw: []byte(rego)}}
	if err := b.GenerateSignature(bundle.NewSigningConfig(string(privPEM), "RS256", ""), "default", false); err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(&b)
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundleHost serves the current bundle with an ETag and answers
// If-None-Match with 304.
type bundleHost struct {
	*httptest.Server
	mu         sync.Mutex
	body       []byte
	etag       string
	status     int
	conditonal int // 304s answered
}

func newBundleHost(t *testing.T) *bundleHost {
	h := &bundleHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer fleet-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.status != 0 {
			w.WriteHeader(h.status)
			return
		}
		if r.Header.Get("If-None-Match") == h.etag {
			h.conditonal++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", h.etag)
		_, _ = w.Write(h.body)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *bundleHost) publish(body []byte) {
	sum := sha256.Sum256(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body, h.etag, h.status = body, `"`+hex.EncodeToString(sum[:8])+`"`, 0
}

func rsaKeyPEM(t *testing.T) (private, public []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
}

// bundleConfig writes a config file pointing at host's bundle.
func bundleConfig(t *testing.T, host *bundleHost, pub []byte) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "bundle.pub", string(pub))
	t.Setenv("CONSENTRY_E2E_BUNDLE_TOKEN", "Bearer fleet-token")
	return writeFile(t, dir, "fleet.yaml", `
policy:
  bundle:
    url: `+host.URL+`/bundles/consentry.tar.gz
    polling: {min_delay: 100ms, max_delay: 200ms}
    timeout: 5s
    verification:
      public_key: {file: `+dir+`/bundle.pub}
      key_id: default
    headers: {Authorization: {env: CONSENTRY_E2E_BUNDLE_TOKEN}}
`)
}

// TestFleetFollowsSignedBundles: two instances poll one bundle server; both
// switch to r2 when it is published, both refuse a tampered r3 and keep
// serving r2, and traffic follows the active revision.
func TestFleetFollowsSignedBundles(t *testing.T) {
	priv, pub := rsaKeyPEM(t)
	host := newBundleHost(t)
	host.publish(signedBundle(t, priv, "r1", policyKeeping("Model", "Make"), nil))
	up := newUpstream(t)
	cfg := bundleConfig(t, host, pub)
	fleet := []*instance{
		start(t, "--config", cfg, "--upstream", up.url),
		start(t, "--config", cfg, "--upstream", up.url),
	}
	batch := []byte(`[{"type":"meta","id":"` + account + `","af":{"Model":"Pixel 7","Make":"Google"}}]`)
	send := func(cs *instance) []byte {
		t.Helper()
		resp, body := post(t, cs.url+"/a1?z="+account, batch, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		return up.last(t).Body
	}
	revisionOf := func(cs *instance) string {
		_, r := readyz(t, cs.admin)
		s, _ := r["policy_revision"].(string)
		return s
	}
	for i, cs := range fleet {
		if got := revisionOf(cs); got != "r1" {
			t.Fatalf("instance %d: revision %q, want r1", i, got)
		}
		if out := send(cs); gjson.GetBytes(out, "0.af.Model").Str != "Pixel 7" {
			t.Fatalf("instance %d: r1 keeps the model: %s", i, out)
		}
	}

	// r2 drops the model: every instance switches.
	host.publish(signedBundle(t, priv, "r2", policyKeeping("Make"), nil))
	for i, cs := range fleet {
		waitFor(t, func() bool { return revisionOf(cs) == "r2" })
		m := metrics(t, cs.admin)
		if !strings.Contains(m, `consentry_policy_bundle_info{revision="r2"} 1`) || strings.Contains(m, `revision="r1"`) {
			t.Errorf("instance %d: bundle info:\n%s", i, grep(m, "consentry_policy_bundle"))
		}
		if metricValue(t, m, "consentry_policy_bundle_last_activation_timestamp_seconds") == 0 {
			t.Errorf("instance %d: no activation time", i)
		}
		out := send(cs)
		if gjson.GetBytes(out, "0.af.Model").Exists() || gjson.GetBytes(out, "0.af.Make").Str != "Google" {
			t.Fatalf("instance %d: r2 not in force: %s", i, out)
		}
		// Audit records name the bundle revision (flushed within a second).
		waitFor(t, func() bool {
			lines := cs.auditLines(t)
			return len(lines) > 0 && lines[len(lines)-1]["policy_revision"] == "r2"
		})
	}

	// r3 was changed after signing (it would keep everything): refused.
	host.publish(signedBundle(t, priv, "r3", policyKeeping("Make"), func(b *bundle.Bundle) {
		b.Modules[0].Raw = []byte(strings.Replace(string(b.Modules[0].Raw), `"Make"`, `"Model", "Make"`, 1))
	}))
	for i, cs := range fleet {
		waitFor(t, func() bool {
			return strings.Contains(metrics(t, cs.admin), `consentry_policy_bundle_failures_total{reason="verify"}`) &&
				metricValue(t, metrics(t, cs.admin), `consentry_policy_bundle_failures_total{reason="verify"}`) >= 1
		})
		// The log line is written after the metric counts the failure, and
		// reaches the captured stderr through a pipe: wait for it too.
		waitFor(t, func() bool { return strings.Contains(cs.stderr.String(), "policy bundle refused") })
		logs := grep(cs.stderr.String(), "policy bundle refused")
		if !strings.Contains(logs, `"reason":"verify"`) || !strings.Contains(logs, `"policy_revision":"r2"`) || !strings.Contains(logs, "digest mismatch") {
			t.Errorf("instance %d: refusal log:\n%s", i, logs)
		}
		if code, r := readyz(t, cs.admin); code != 200 || r["policy_revision"] != "r2" {
			t.Fatalf("instance %d: r2 not kept: %d %v", i, code, r)
		}
		if out := send(cs); gjson.GetBytes(out, "0.af.Model").Exists() {
			t.Fatalf("instance %d: tampered r3 in force: %s", i, out)
		}
		m := metrics(t, cs.admin)
		if !strings.Contains(m, `consentry_policy_bundle_info{revision="r2"} 1`) {
			t.Errorf("instance %d: after r3:\n%s", i, grep(m, "consentry_policy_bundle"))
		}
		if strings.Contains(cs.stderr.String(), "fleet-token") {
			t.Errorf("instance %d: the bundle token was logged", i)
		}
	}
}

// TestBundleStartsUnready: until the first good bundle, /readyz answers 503
// with the reason and traffic is refused, nothing forwarded.
func TestBundleStartsUnready(t *testing.T) {
	priv, pub := rsaKeyPEM(t)
	host := newBundleHost(t)
	host.publish(signedBundle(t, priv, "r1", policyKeeping("Model"), nil))
	host.mu.Lock()
	host.status = http.StatusServiceUnavailable
	host.mu.Unlock()
	up := newUpstream(t)
	cfg := bundleConfig(t, host, pub)
	cs := launch(t, exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data", t.TempDir(), "--config", cfg, "--upstream", up.url))
	waitFor(t, func() bool {
		code, r := readyz(t, cs.admin)
		b, _ := json.Marshal(r["reasons"])
		return code == 503 && strings.Contains(string(b), "waiting for the first policy bundle (last attempt failed: download)")
	})
	resp, body := post(t, cs.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"}]`), nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "policy_unavailable") {
		t.Fatalf("traffic before the first bundle: %d %s", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d requests forwarded without a policy", n)
	}
	host.publish(signedBundle(t, priv, "r1", policyKeeping("Model"), nil))
	waitFor(t, func() bool { code, r := readyz(t, cs.admin); return code == 200 && r["policy_revision"] == "r1" })
}

func TestBundleConfigFailsClosed(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", "policy:\n  bundle:\n    url: http://127.0.0.1:1/b.tar.gz\n")
	out, err := exec.Command(binary, "serve", "--config", cfg, "--upstream", "http://127.0.0.1:1", "--data", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "policy.bundle.verification: required") {
		t.Fatalf("serve without bundle verification: %v\n%s", err, out)
	}
}
