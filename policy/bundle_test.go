package policy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"

	"github.com/consentry/consentry/masking"
)

// testKey is an RSA key pair, PEM-encoded as openssl genrsa / openssl rsa
// -pubout write them.
type testKey struct {
	private, public []byte
}

func newTestKey() testKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return testKey{
		private: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}
}

// Two keys for the whole package: RSA generation is slow.
var testKeys = sync.OnceValue(func() [2]testKey { return [2]testKey{newTestKey(), newTestKey()} })

// keepOnly is a policy that keeps the fields named in keys and drops the rest.
func keepOnly(keys ...string) string {
	return `package consentry

keep := {` + `"` + strings.Join(keys, `", "`) + `"}

decision := {"action": "keep", "rule": "t.keep"} if input.field.key in keep
decision := {"action": "drop", "rule": "t.drop"} if not input.field.key in keep
record_decision := {"action": "keep", "rule": "t.rec"}
`
}

// bundleSpec describes one test bundle.
type bundleSpec struct {
	revision string
	modules  map[string]string // path in the bundle → Rego
	data     map[string]any
	signer   []byte               // PEM private key; nil: unsigned
	tamper   func(*bundle.Bundle) // applied after signing
	claims   string               // JSON claims file content (scope ...)
}

// buildBundle writes a bundle tarball with OPA's own bundle writer and
// signer, as opa build does.
func buildBundle(t testing.TB, s bundleSpec) []byte {
	t.Helper()
	b := bundle.Bundle{Data: s.data, Manifest: bundle.Manifest{Revision: s.revision}}
	if b.Data == nil {
		b.Data = map[string]any{}
	}
	b.Manifest.Init()
	b.Manifest.SetRegoVersion(ast.RegoV1)
	for _, p := range sortedKeys(toAny(s.modules)) {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: p, Path: p, Raw: []byte(s.modules[p])})
	}
	if s.signer != nil {
		claims := ""
		if s.claims != "" {
			claims = filepath.Join(t.TempDir(), "claims.json")
			if err := os.WriteFile(claims, []byte(s.claims), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.GenerateSignature(bundle.NewSigningConfig(string(s.signer), "RS256", claims), DefaultBundleKeyID, false); err != nil {
			t.Fatal(err)
		}
	}
	if s.tamper != nil {
		s.tamper(&b)
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// bundleServer serves one bundle at a time with a strong ETag and answers
// If-None-Match with 304, as a static file server or OPA's bundle services do.
type bundleServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	etag     string
	status   int // non-zero: answer this status instead
	requests int
	notMod   int
	headers  http.Header // of the last request
}

func newBundleServer(t testing.TB) *bundleServer {
	t.Helper()
	s := &bundleServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		s.headers = r.Header.Clone()
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		if s.etag != "" && r.Header.Get("If-None-Match") == s.etag {
			s.notMod++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if s.etag != "" {
			w.Header().Set("ETag", s.etag)
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bundleServer) publish(body []byte) {
	sum := sha256.Sum256(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, `"`+hex.EncodeToString(sum[:8])+`"`, 0
}

func (s *bundleServer) stats() (requests, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.notMod
}

// bundleEngine returns an engine fed by a source polling srv, and a buffer
// with its JSON log.
func bundleEngine(t *testing.T, srv *bundleServer, cfg BundleConfig, opts ...Option) (*Engine, *BundleSource, *syncBuf) {
	t.Helper()
	cfg.URL = srv.URL + "/bundles/consentry.tar.gz"
	if cfg.PublicKey == nil && !cfg.InsecureSkipVerification {
		cfg.PublicKey = testKeys()[0].public
	}
	src, err := NewBundleSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	e := newEngine(t, append(opts, WithBundle(src), WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))...)
	return e, src, logs
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// modelDecision is the decision for a CleverTap meta field af.Model.
func modelDecision(t *testing.T, e *Engine) masking.Decision {
	t.Helper()
	plan, err := e.Plan(newQuery("acme", "clevertap.sdk", "meta", "", pathClassifier{}, field{"af.Model", masking.TypeString}))
	if err != nil {
		t.Fatal(err)
	}
	return plan.Decisions[0]
}

func signed(rev string, modules map[string]string) bundleSpec {
	return bundleSpec{revision: rev, modules: modules, signer: testKeys()[0].private}
}

func TestBundleSwitchesRevisionsAndKeepsETag(t *testing.T) {
	srv := newBundleServer(t)
	e, src, logs := bundleEngine(t, srv, BundleConfig{Headers: map[string]string{"Authorization": "Bearer t0ken"}},
		WithData(map[string]any{"tenants": map[string]any{"acme": map[string]any{"client_ip": "keep"}}}))
	ctx := context.Background()

	// Not ready before the first bundle; a failed first poll changes nothing.
	if e.Ready() || e.Revision() != "" {
		t.Fatalf("ready before any bundle: %v %q", e.Ready(), e.Revision())
	}
	if _, err := e.Plan(newQuery("acme", "f", "meta", "", pathClassifier{}, field{"a", masking.TypeString})); !errors.Is(err, errNoPolicy) {
		t.Fatalf("Plan before the first bundle: %v", err)
	}
	srv.status = http.StatusServiceUnavailable
	var be *BundleError
	if err := src.Poll(ctx); !errors.As(err, &be) || be.Reason != BundleFailDownload {
		t.Fatalf("poll of a failing server: %v", err)
	}
	if e.Ready() || src.Status().LastFailure != BundleFailDownload || !strings.Contains(logs.String(), "no policy active yet") {
		t.Fatalf("after a failed first poll: ready %v, status %+v", e.Ready(), src.Status())
	}

	r1 := signed("r1", map[string]string{
		"/consentry/policy.rego":      keepOnly("Model"),
		"/consentry/policy_test.rego": "package consentry_test\n\ntest_never_served if data.consentry.no_such_function(1)\n",
	})
	r1.data = map[string]any{"tenants": map[string]any{"beta": map[string]any{"client_ip": "keep"}, "acme": map[string]any{"client_ip": "drop", "drop_events": []any{"Debug"}}}}
	srv.publish(buildBundle(t, r1))
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	st := src.Status()
	if !e.Ready() || e.Revision() != "r1" || st.Revision != "r1" || st.ActivatedAt.IsZero() || st.LastFailure != "" {
		t.Fatalf("r1 not active: ready %v revision %q status %+v", e.Ready(), e.Revision(), st)
	}
	if d := modelDecision(t, e); d.Action != masking.ActionKeep {
		t.Fatalf("r1 decision %+v", d)
	}
	// Bundle data and WithData merge as for a directory: WithData wins.
	for _, c := range []struct{ tenant, name, want string }{{"acme", "client_ip", "keep"}, {"beta", "client_ip", "keep"}} {
		if v, _ := e.TenantOption(c.tenant, c.name); v != c.want {
			t.Errorf("TenantOption(%s, %s) = %v, want %s", c.tenant, c.name, v, c.want)
		}
	}
	if v, ok := e.TenantOption("acme", "drop_events"); !ok || len(v.([]any)) != 1 {
		t.Errorf("bundle data not merged: %v", v)
	}
	if got := srv.headers.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("configured header not sent: %q", got)
	}

	// Unchanged: 304, nothing reloaded.
	reloads := e.Stats().Reloads
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, nm := srv.stats(); nm != 1 || e.Stats().Reloads != reloads || e.Revision() != "r1" {
		t.Fatalf("304 path: not-modified %d, reloads %d→%d, revision %s", nm, reloads, e.Stats().Reloads, e.Revision())
	}

	// r2 changes the decision.
	srv.publish(buildBundle(t, signed("r2", map[string]string{"/consentry/policy.rego": keepOnly("Make")})))
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != "r2" || src.Status().Revision != "r2" {
		t.Fatalf("r2 not active: %s", e.Revision())
	}
	if d := modelDecision(t, e); d.Action != masking.ActionDrop {
		t.Fatalf("r2 decision %+v", d)
	}
	if !strings.Contains(logs.String(), `"policy bundle activated","policy_revision":"r2"`) {
		t.Errorf("activation not logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), "t0ken") {
		t.Errorf("the Authorization header was logged:\n%s", logs)
	}
}

// TestBundleRefused: every refused bundle keeps the last good revision,
// counts its reason and logs it.
func TestBundleRefused(t *testing.T) {
	keys := testKeys()
	good := map[string]string{"/consentry/policy.rego": keepOnly("Model")}
	tests := []struct {
		name   string
		cfg    BundleConfig
		status int // server answers this instead of the bundle
		bundle func(t *testing.T) []byte
		reason string
	}{
		{
			name: "module changed after signing",
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				s.tamper = func(b *bundle.Bundle) {
					raw := bytes.Clone(b.Modules[0].Raw)
					raw[bytes.Index(raw, []byte("Model"))] = 'm' // still valid Rego
					b.Modules[0].Raw = raw
				}
				return buildBundle(t, s)
			},
			reason: BundleFailVerify,
		},
		{
			name: "data changed after signing",
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				s.tamper = func(b *bundle.Bundle) { b.Data = map[string]any{"tenants": map[string]any{}} }
				return buildBundle(t, s)
			},
			reason: BundleFailVerify,
		},
		{
			name: "module added after signing",
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				s.tamper = func(b *bundle.Bundle) {
					b.Modules = append(b.Modules, bundle.ModuleFile{URL: "/consentry/extra.rego", Path: "/consentry/extra.rego", Raw: []byte("package consentry\n\nx := 1\n")})
				}
				return buildBundle(t, s)
			},
			reason: BundleFailVerify,
		},
		{
			name:   "unsigned",
			bundle: func(t *testing.T) []byte { return buildBundle(t, bundleSpec{revision: "r3", modules: good}) },
			reason: BundleFailVerify,
		},
		{
			name: "signed with another key",
			bundle: func(t *testing.T) []byte {
				return buildBundle(t, bundleSpec{revision: "r3", modules: good, signer: keys[1].private})
			},
			reason: BundleFailVerify,
		},
		{
			name: "signed with a scope we do not expect",
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				s.claims = `{"scope": "staging", "keyid": "default"}`
				return buildBundle(t, s)
			},
			reason: BundleFailVerify,
		},
		{
			name: "tarball over max_size_bytes",
			cfg:  BundleConfig{MaxSizeBytes: 16 << 10},
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				junk := make([]byte, 32<<10)
				_, _ = rand.Read(junk)
				s.data = map[string]any{"junk": base64.StdEncoding.EncodeToString(junk)}
				return buildBundle(t, s)
			},
			reason: BundleFailTooLarge,
		},
		{
			name: "uncompressed over max_size_bytes",
			cfg:  BundleConfig{MaxSizeBytes: 16 << 10},
			bundle: func(t *testing.T) []byte {
				s := signed("r3", good)
				s.data = map[string]any{"zeros": strings.Repeat("0", 64<<10)}
				return buildBundle(t, s)
			},
			reason: BundleFailTooLarge,
		},
		{
			name:   "not a tarball",
			bundle: func(t *testing.T) []byte { return []byte("<html>maintenance</html>") },
			reason: BundleFailParse,
		},
		{
			name: "signed Rego with a syntax error",
			bundle: func(t *testing.T) []byte {
				return buildBundle(t, signed("r3", map[string]string{"/consentry/policy.rego": "package consentry\n\ndecision := {\n"}))
			},
			reason: BundleFailParse,
		},
		{
			name: "signed policy without record_decision",
			bundle: func(t *testing.T) []byte {
				return buildBundle(t, signed("r3", map[string]string{"/consentry/policy.rego": "package consentry\n\ndecision := {\"action\": \"keep\", \"rule\": \"k\"}\n"}))
			},
			reason: BundleFailValidate,
		},
		{
			name: "signed policy with a decision the proxy cannot apply",
			bundle: func(t *testing.T) []byte {
				return buildBundle(t, signed("r3", map[string]string{"/consentry/policy.rego": strings.Replace(keepOnly("Model"), `"rule": "t.drop"`, `"rule": "t.drop", "params": {"hexlen": 8}`, 1)}))
			},
			reason: BundleFailValidate,
		},
		{
			name: "signed bundle with only tests",
			bundle: func(t *testing.T) []byte {
				return buildBundle(t, signed("r3", map[string]string{"/consentry/policy_test.rego": "package consentry_test\n\ntest_x if true\n"}))
			},
			reason: BundleFailValidate,
		},
		{
			name:   "server error",
			status: http.StatusInternalServerError,
			reason: BundleFailDownload,
		},
		{
			name:   "not found",
			status: http.StatusNotFound,
			reason: BundleFailDownload,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newBundleServer(t)
			srv.publish(buildBundle(t, signed("r2", good)))
			e, src, logs := bundleEngine(t, srv, tc.cfg)
			if err := src.Poll(context.Background()); err != nil {
				t.Fatalf("good bundle refused: %v", err)
			}
			before := e.Stats()
			if tc.bundle != nil {
				srv.publish(tc.bundle(t))
			}
			if tc.status != 0 {
				srv.mu.Lock()
				srv.status = tc.status
				srv.mu.Unlock()
			}
			err := src.Poll(context.Background())
			var be *BundleError
			if !errors.As(err, &be) || be.Reason != tc.reason {
				t.Fatalf("want a %s failure, got %v", tc.reason, err)
			}
			st := src.Status()
			if e.Revision() != "r2" || st.Revision != "r2" || !e.Ready() {
				t.Fatalf("last good revision not kept: engine %q, source %q", e.Revision(), st.Revision)
			}
			if d := modelDecision(t, e); d.Action != masking.ActionKeep || d.Rule != "t.keep" {
				t.Fatalf("r2 no longer serving: %+v", d)
			}
			for _, r := range bundleFailureReasons {
				want := uint64(0)
				if r == tc.reason {
					want = 1
				}
				if st.Failures[r] != want {
					t.Errorf("failures[%s] = %d, want %d", r, st.Failures[r], want)
				}
			}
			if st.LastFailure != tc.reason {
				t.Errorf("last failure %q", st.LastFailure)
			}
			if after := e.Stats(); after.Reloads != before.Reloads {
				t.Errorf("a refused bundle counted as a reload")
			}
			line := `"msg":"policy bundle refused, keeping the last good policy","reason":"` + tc.reason + `","policy_revision":"r2"`
			if !strings.Contains(logs.String(), line) {
				t.Errorf("no log line %s in\n%s", line, logs)
			}
			// The next good bundle is taken again.
			srv.publish(buildBundle(t, signed("r4", map[string]string{"/p.rego": keepOnly("Make")})))
			if err := src.Poll(context.Background()); err != nil || e.Revision() != "r4" || src.Status().LastFailure != "" {
				t.Fatalf("recovery: %v, revision %s", err, e.Revision())
			}
		})
	}
}

func TestBundleSourceStartStop(t *testing.T) {
	srv := newBundleServer(t)
	srv.publish(buildBundle(t, signed("r1", map[string]string{"/p.rego": keepOnly("Model")})))
	e, src, _ := bundleEngine(t, srv, BundleConfig{MinDelay: 20 * time.Millisecond, MaxDelay: 40 * time.Millisecond})
	src.Start(context.Background())
	src.Start(context.Background()) // no-op
	waitFor(t, func() bool { return e.Revision() == "r1" })
	srv.publish(buildBundle(t, signed("r2", map[string]string{"/p.rego": keepOnly("Make")})))
	waitFor(t, func() bool { return e.Revision() == "r2" })
	waitFor(t, func() bool { _, nm := srv.stats(); return nm > 0 }) // polls keep going, answered 304
	src.Stop()
	n, _ := srv.stats()
	time.Sleep(100 * time.Millisecond)
	if m, _ := srv.stats(); m != n {
		t.Fatalf("polled after Stop: %d → %d", n, m)
	}
	src.Stop() // idempotent
}

func TestBundleTriggerAndBackoff(t *testing.T) {
	srv := newBundleServer(t)
	srv.status = http.StatusBadGateway
	e, src, _ := bundleEngine(t, srv, BundleConfig{MinDelay: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src.Start(ctx)
	defer src.Stop()
	// Failures are retried well before min_delay.
	waitFor(t, func() bool { n, _ := srv.stats(); return n >= 2 })
	srv.publish(buildBundle(t, signed("r1", map[string]string{"/p.rego": keepOnly("Model")})))
	waitFor(t, func() bool { return e.Revision() == "r1" })
	// Now an hour away: Trigger polls at once.
	srv.publish(buildBundle(t, signed("r2", map[string]string{"/p.rego": keepOnly("Make")})))
	src.Trigger()
	waitFor(t, func() bool { return e.Revision() == "r2" })
	if got := backoff(1, time.Minute); got < bundleBackoffBase/2 || got > bundleBackoffBase {
		t.Errorf("first backoff %v", got)
	}
	if got := backoff(40, time.Minute); got < 30*time.Second || got > time.Minute {
		t.Errorf("backoff is not capped by max_delay: %v", got)
	}
}

func TestBundleInsecureSkipVerification(t *testing.T) {
	srv := newBundleServer(t)
	srv.publish(buildBundle(t, bundleSpec{revision: "u1", modules: map[string]string{"/p.rego": keepOnly("Model")}}))
	e, src, _ := bundleEngine(t, srv, BundleConfig{InsecureSkipVerification: true})
	if err := src.Poll(context.Background()); err != nil || e.Revision() != "u1" {
		t.Fatalf("unsigned bundle with insecure skip: %v %q", err, e.Revision())
	}
}

func TestBundleRevisionFallbacks(t *testing.T) {
	body := []byte("tarball")
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])[:12]
	tests := []struct{ manifest, etag, want string }{
		{"3f9c2ab", `"e1"`, "3f9c2ab"},
		{"", `"e1"`, "e1"},
		{"", `W/"e1"`, "e1"},
		{"", "", digest},
		{"rev with spaces\n\"and quotes\"", "", "rev_with_spaces__and_quotes_"},
		{strings.Repeat("a", 100), "", strings.Repeat("a", maxRevisionLength)},
	}
	for _, tc := range tests {
		if got := bundleRevision(tc.manifest, tc.etag, body); got != tc.want {
			t.Errorf("bundleRevision(%q, %q) = %q, want %q", tc.manifest, tc.etag, got, tc.want)
		}
	}
	// End to end: no manifest revision, the server's ETag names it.
	srv := newBundleServer(t)
	b := buildBundle(t, bundleSpec{modules: map[string]string{"/p.rego": keepOnly("Model")}, signer: testKeys()[0].private})
	srv.publish(b)
	e, src, _ := bundleEngine(t, srv, BundleConfig{})
	if err := src.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := strings.Trim(srv.etag, `"`); e.Revision() != want {
		t.Fatalf("revision %q, want the ETag %q", e.Revision(), want)
	}
}

func TestNewBundleSourceErrors(t *testing.T) {
	pub := testKeys()[0].public
	tests := []struct {
		name string
		cfg  BundleConfig
		want string
	}{
		{"no url", BundleConfig{PublicKey: pub}, "policy.bundle.url"},
		{"ftp url", BundleConfig{URL: "ftp://x/b.tar.gz", PublicKey: pub}, "policy.bundle.url"},
		{"no key", BundleConfig{URL: "http://x/b"}, "policy.bundle.verification.public_key"},
		{"not PEM", BundleConfig{URL: "http://x/b", PublicKey: []byte("ssh-rsa AAAA")}, "no PEM block"},
		{"private key given", BundleConfig{URL: "http://x/b", PublicKey: testKeys()[0].private}, "cannot parse"},
		{"unknown alg", BundleConfig{URL: "http://x/b", PublicKey: pub, Algorithm: "XX1"}, "algorithm"},
		{"key and skip", BundleConfig{URL: "http://x/b", PublicKey: pub, InsecureSkipVerification: true}, "mutually exclusive"},
		{"delays", BundleConfig{URL: "http://x/b", PublicKey: pub, MinDelay: time.Minute, MaxDelay: time.Second}, "max_delay"},
	}
	for _, tc := range tests {
		if _, err := NewBundleSource(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error with %q, got %v", tc.name, tc.want, err)
		}
	}
	src, err := NewBundleSource(BundleConfig{URL: "http://x/b", PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "WithBundle") {
		t.Errorf("poll without an engine: %v", err)
	}
	if _, err := New(WithBundle(src), WithFS(policyFS(map[string]string{"p.rego": keepOnly("a")}))); err == nil {
		t.Error("WithBundle and WithFS accepted together")
	}
	e := newEngine(t, WithBundle(src))
	if _, err := New(WithBundle(src)); err == nil {
		t.Error("one source fed two engines")
	}
	if err := e.Reload(); !errors.Is(err, errBundleReload) {
		t.Errorf("Reload of a bundle engine: %v", err)
	}
}

// TestOPABuildBundle builds a bundle exactly as `opa build -b rules/
// --revision REV --signing-key private.pem` does (cmd/build.go: the same
// compile.Compiler calls, RS256, key id "default"), from the shipped rules
// with their tests, and activates it with only the public key configured.
func TestOPABuildBundle(t *testing.T) {
	key := testKeys()[0]
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "private.pem")
	if err := os.WriteFile(keyFile, key.private, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := compile.New().
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithTarget(compile.TargetRego).
		WithAsBundle(true).
		WithOutput(&out).
		WithRegoAnnotationEntrypoints(true).
		WithPaths("../rules").
		WithBundleSigningConfig(bundle.NewSigningConfig(keyFile, "RS256", "")).
		WithRegoVersion(ast.RegoV1).
		WithRevision("3f9c2ab").
		WithBundleVerificationKeyID("default")
	if err := c.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := out.Bytes()

	// The signature is what opa build writes: RS256, kid "default".
	vcfg, err := NewBundleSource(BundleConfig{URL: "http://x/b", PublicKey: key.public})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.NewReader(bytes.NewReader(body)).WithBundleVerificationConfig(vcfg.vc).Read()
	if err != nil {
		t.Fatalf("OPA cannot verify its own bundle with our configuration: %v", err)
	}
	if len(b.Signatures.Signatures) != 1 {
		t.Fatalf("signatures %v", b.Signatures)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(b.Signatures.Signatures[0], ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(hdr, &h); err != nil || h.Alg != "RS256" || h.Kid != "default" {
		t.Fatalf("JWT header %s (%v)", hdr, err)
	}

	srv := newBundleServer(t)
	srv.publish(body)
	e, src, _ := bundleEngine(t, srv, BundleConfig{PublicKey: key.public})
	if err := src.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != "3f9c2ab" {
		t.Fatalf("revision %q", e.Revision())
	}
	// The shipped rules, as served from the embedded copy.
	shipped := newEngine(t)
	for _, class := range []string{"person.gender", "contact.email", "device.ad_id"} {
		q := func() *masking.PlanQuery {
			return newQuery("acme", "clevertap.sdk", "profile", "", pathClassifier{"X": class}, field{"profileData.X", masking.TypeString})
		}
		got, err1 := e.Plan(q())
		want, err2 := shipped.Plan(q())
		if err1 != nil || err2 != nil || got.Decisions[0].Rule != want.Decisions[0].Rule || got.Decisions[0].Action != want.Decisions[0].Action {
			t.Errorf("%s: bundle %+v (%v), embedded %+v (%v)", class, got, err1, want, err2)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A bundle that defines neither decision nor record_decision is layered
// over the built-in rules, as a policy directory is.
func TestBundleLayeredOverBuiltins(t *testing.T) {
	srv := newBundleServer(t)
	e, src, _ := bundleEngine(t, srv, BundleConfig{})
	srv.publish(buildBundle(t, signed("layer1", map[string]string{"/acme/acme.rego": `package consentry

by_field := {"action": "keep", "rule": "acme.model"} if input.field.path == "af.Model"
`})))
	if err := src.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := modelDecision(t, e); d.Rule != "acme.model" || !e.Layered() {
		t.Fatalf("layered bundle: %+v, layered %v", d, e.Layered())
	}
	plan, err := e.Plan(newQuery("acme", "clevertap.sdk", "profile", "", pathClassifier{"profile.Email": "contact.email"}, field{"profile.Email", masking.TypeString}))
	if err != nil || plan.Decisions[0].Rule != "gdpr.contact.email" {
		t.Fatalf("built-in rule under a layered bundle: %+v %v", plan.Decisions, err)
	}
}
