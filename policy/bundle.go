package policy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"
)

// Bundle defaults; the delays are OPA's own.
const (
	DefaultBundleMinDelay     = 60 * time.Second
	DefaultBundleMaxDelay     = 120 * time.Second
	DefaultBundleTimeout      = 30 * time.Second
	DefaultBundleMaxSizeBytes = 16 << 20
	DefaultBundleKeyID        = "default" // what opa build --signing-key signs with
	DefaultBundleAlgorithm    = "RS256"

	bundleBackoffBase  = 500 * time.Millisecond
	maxRevisionLength  = 64
	bundleTestSuffix   = "_test.rego"
	bundleKeyConfigKey = "policy.bundle.verification.public_key"
)

// Reasons a bundle is refused: the reason label of
// consentry_policy_bundle_failures_total, and BundleError.Reason.
const (
	BundleFailDownload = "download"  // transport error, timeout, HTTP status other than 200/304
	BundleFailTooLarge = "too_large" // tarball or its uncompressed content over MaxSizeBytes
	BundleFailVerify   = "verify"    // unsigned, wrong key, wrong scope, a file changed after signing
	BundleFailParse    = "parse"     // not a gzipped tar, bad JSON, Rego syntax, delta bundle
	BundleFailValidate = "validate"  // no modules, strict compile, missing rules, smoke test, tenant data
)

var bundleFailureReasons = []string{BundleFailDownload, BundleFailTooLarge, BundleFailVerify, BundleFailParse, BundleFailValidate}

// BundleConfig says where a policy bundle comes from and how it is checked.
type BundleConfig struct {
	// URL of the bundle tarball (opa build -b ... -o bundle.tar.gz).
	URL string
	// PublicKey is the PEM public key the bundle must be signed with (the
	// shared secret for HS* algorithms). Required unless
	// InsecureSkipVerification: verification is mandatory by default.
	PublicKey []byte
	// KeyID must match the kid of the bundle's signature (default
	// "default", as opa build writes); Algorithm defaults to RS256; Scope,
	// if the bundle was signed with one, must be equal.
	KeyID, Algorithm, Scope string
	// InsecureSkipVerification accepts bundles without checking any
	// signature. For tests only.
	InsecureSkipVerification bool
	// MinDelay and MaxDelay bound the random delay between two polls
	// (defaults 60s and 120s). Failed polls are retried sooner, backing off
	// from 0.5s to MaxDelay.
	MinDelay, MaxDelay time.Duration
	// Timeout bounds one download (default 30s).
	Timeout time.Duration
	// MaxSizeBytes bounds the tarball and, separately, its uncompressed
	// content (default 16 MiB).
	MaxSizeBytes int64
	// Headers are sent with every download (e.g. Authorization).
	Headers map[string]string
	// Client, if set, replaces the default HTTP client (tests).
	Client *http.Client
}

// BundleError is a refused bundle. Reason is one of the BundleFail*
// constants; the last good policy stays active.
type BundleError struct {
	Reason string
	Err    error
}

func (e *BundleError) Error() string { return e.Err.Error() }
func (e *BundleError) Unwrap() error { return e.Err }

// BundleStatus is what a BundleSource reports for metrics and readiness.
type BundleStatus struct {
	Revision    string            // of the active bundle; "" before the first
	ActivatedAt time.Time         // when it was activated; zero before the first
	LastFailure string            // the reason of the last poll if it failed, else ""
	Failures    map[string]uint64 // refused bundles by reason; every reason is present
}

// BundleSource downloads a signed OPA bundle, verifies it with OPA's bundle
// reader and hands its modules and data to the Engine's validate-then-swap.
// Create it with NewBundleSource, give it to New with WithBundle, then
// Start it. A refused bundle leaves the last good policy active.
type BundleSource struct {
	cfg    BundleConfig
	vc     *bundle.VerificationConfig // nil: InsecureSkipVerification
	client *http.Client
	engine *Engine     // set by New
	bound  atomic.Bool // New took it

	pollMu sync.Mutex // serializes polls
	etag   string     // of the active bundle, sent as If-None-Match; guarded by pollMu

	mu          sync.Mutex // guards the status fields
	revision    string
	activatedAt time.Time
	lastFailure string
	failures    map[string]uint64

	trigger chan struct{}
	lifeMu  sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewBundleSource checks cfg (URL, key) and applies its defaults. It does no
// I/O: Start or Poll downloads.
func NewBundleSource(cfg BundleConfig) (*BundleSource, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("cannot use policy bundle URL (policy.bundle.url): want an http:// or https:// URL with a host")
	}
	if cfg.MinDelay <= 0 {
		cfg.MinDelay = DefaultBundleMinDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = max(DefaultBundleMaxDelay, cfg.MinDelay)
	}
	if cfg.MaxDelay < cfg.MinDelay {
		return nil, errors.New("cannot use policy bundle polling: max_delay is below min_delay (policy.bundle.polling)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultBundleTimeout
	}
	if cfg.MaxSizeBytes <= 0 {
		cfg.MaxSizeBytes = DefaultBundleMaxSizeBytes
	}
	b := &BundleSource{cfg: cfg, client: cfg.Client, trigger: make(chan struct{}, 1), failures: map[string]uint64{}}
	for _, r := range bundleFailureReasons {
		b.failures[r] = 0
	}
	if b.client == nil {
		b.client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.InsecureSkipVerification {
		if len(cfg.PublicKey) > 0 {
			return nil, fmt.Errorf("cannot configure policy bundle verification: a public key and insecure_skip are mutually exclusive (%s)", bundleKeyConfigKey)
		}
		return b, nil
	}
	if cfg.KeyID == "" {
		b.cfg.KeyID = DefaultBundleKeyID
	}
	if cfg.Algorithm == "" {
		b.cfg.Algorithm = DefaultBundleAlgorithm
	}
	if !keys.IsSupportedAlgorithm(b.cfg.Algorithm) {
		return nil, fmt.Errorf("cannot verify policy bundles: algorithm %q is not supported (policy.bundle.verification.algorithm)", b.cfg.Algorithm)
	}
	if err := checkPublicKey(cfg.PublicKey, b.cfg.Algorithm); err != nil {
		return nil, fmt.Errorf("cannot read the bundle verification key (%s): %w", bundleKeyConfigKey, err)
	}
	// The key is given as its content, never as a path: keys.NewKeyConfig
	// would read a file named like the key.
	kc := &keys.Config{Key: string(cfg.PublicKey), Algorithm: b.cfg.Algorithm, Scope: cfg.Scope}
	b.vc = bundle.NewVerificationConfig(map[string]*keys.Config{b.cfg.KeyID: kc}, b.cfg.KeyID, cfg.Scope, nil)
	return b, nil
}

// checkPublicKey refuses a key OPA could not use, at start-up rather than at
// the first poll: a PEM public key, PKCS#1 key or certificate, or a non-empty
// secret for HS* algorithms.
func checkPublicKey(key []byte, alg string) error {
	if len(key) == 0 {
		return errors.New("no key given")
	}
	if strings.HasPrefix(alg, "HS") {
		return nil
	}
	block, _ := pem.Decode(key)
	if block == nil {
		return errors.New("no PEM block found (want a public key: openssl rsa -in private.pem -pubout)")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParseCertificate(block.Bytes); err == nil {
		return nil
	}
	return fmt.Errorf("cannot parse the %s PEM block as a public key or certificate", block.Type)
}

// Start polls at once, then after a random delay in [MinDelay, MaxDelay],
// sooner after a failure. It returns at once; Stop ends the polling. A
// second Start is a no-op.
func (b *BundleSource) Start(ctx context.Context) {
	b.lifeMu.Lock()
	defer b.lifeMu.Unlock()
	if b.done != nil {
		return
	}
	ctx, b.cancel = context.WithCancel(ctx)
	b.done = make(chan struct{})
	go b.run(ctx, b.done)
}

// Stop ends the polling started by Start, cancelling a download in flight,
// and waits for it.
func (b *BundleSource) Stop() {
	b.lifeMu.Lock()
	defer b.lifeMu.Unlock()
	if b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
	b.cancel = nil
}

// Trigger makes a started source poll now (SIGHUP).
func (b *BundleSource) Trigger() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

func (b *BundleSource) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	failed := 0
	for {
		err := b.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		var d time.Duration
		if err != nil {
			failed++
			d = backoff(failed, b.cfg.MaxDelay)
		} else {
			failed = 0
			d = b.cfg.MinDelay + rand.N(b.cfg.MaxDelay-b.cfg.MinDelay+1)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-b.trigger:
			t.Stop()
		case <-t.C:
		}
	}
}

// backoff is the delay before retry n (1, 2, ...): doubling from
// bundleBackoffBase up to maxDelay, drawn from its upper half.
func backoff(n int, maxDelay time.Duration) time.Duration {
	d := min(bundleBackoffBase<<min(n-1, 20), maxDelay)
	return d/2 + rand.N(d/2+1)
}

// Poll downloads the bundle once (If-None-Match: the active bundle's ETag),
// verifies it and activates it. A 304 keeps the active bundle. On error,
// a *BundleError, the last good policy stays active; the failure is counted
// and logged without the bundle's content.
func (b *BundleSource) Poll(ctx context.Context) error {
	if b.engine == nil {
		return errors.New("cannot poll policy bundle: the source feeds no engine (give it to policy.New with WithBundle)")
	}
	b.pollMu.Lock()
	defer b.pollMu.Unlock()
	err := b.poll(ctx)
	if err != nil && ctx.Err() != nil {
		return err // shutting down: not a bundle failure
	}
	var be *BundleError
	if err != nil && !errors.As(err, &be) {
		be = &BundleError{Reason: BundleFailDownload, Err: err}
		err = be
	}
	b.mu.Lock()
	if be != nil {
		b.failures[be.Reason]++
		b.lastFailure = be.Reason
	} else {
		b.lastFailure = ""
	}
	b.mu.Unlock()
	if be != nil {
		msg := "policy bundle refused, keeping the last good policy"
		if b.engine.Revision() == "" {
			msg = "policy bundle refused, no policy active yet"
		}
		b.engine.log.Error(msg, slog.String("reason", be.Reason),
			slog.String("policy_revision", b.engine.Revision()), slog.String("error", be.Error()))
	}
	return err
}

func (b *BundleSource) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.URL, nil)
	if err != nil {
		return fail(BundleFailDownload, "cannot build policy bundle request (policy.bundle.url): %w", err)
	}
	for k, v := range b.cfg.Headers {
		req.Header.Set(k, v)
	}
	if b.etag != "" {
		req.Header.Set("If-None-Match", b.etag)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, which may carry a
		// token in its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(BundleFailDownload, "cannot download policy bundle (policy.bundle.url): %w", err)
	}
	defer resp.Body.Close()
	max := b.cfg.MaxSizeBytes
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if b.etag == "" {
			return fail(BundleFailDownload, "cannot download policy bundle (policy.bundle.url): 304 Not Modified to a request without If-None-Match")
		}
		return nil
	default:
		return fail(BundleFailDownload, "cannot download policy bundle (policy.bundle.url): HTTP status %d", resp.StatusCode)
	}
	if resp.ContentLength > max {
		return fail(BundleFailTooLarge, "cannot accept policy bundle: %d bytes is over policy.bundle.max_size_bytes (%d)", resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fail(BundleFailDownload, "cannot download policy bundle (policy.bundle.url): %w", err)
	}
	if int64(len(body)) > max {
		return fail(BundleFailTooLarge, "cannot accept policy bundle: more than policy.bundle.max_size_bytes (%d)", max)
	}
	return b.activate(body, resp.Header.Get("ETag"))
}

func fail(reason, format string, args ...any) error {
	return &BundleError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// activate reads and verifies a downloaded tarball with OPA's bundle reader
// and hands it to the engine.
func (b *BundleSource) activate(body []byte, etag string) error {
	max := b.cfg.MaxSizeBytes
	// OPA's tar loader buffers every file and bounds each, not their sum:
	// bound the uncompressed size first (a gzip bomb).
	if err := checkUncompressed(body, max); err != nil {
		return err
	}
	loader := bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(body), b.cfg.URL).WithSizeLimitBytes(max)
	r := bundle.NewCustomReader(loader).
		WithSizeLimitBytes(max).
		WithBundleEtag(etag).
		WithRegoVersion(ast.RegoV1)
	if b.vc != nil {
		r = r.WithBundleVerificationConfig(b.vc)
	} else {
		r = r.WithSkipBundleVerification(true)
	}
	bdl, err := r.Read()
	if err != nil {
		// Modules are parsed only once every file verified: a Rego error
		// is a parse failure whatever words its source line holds.
		reason := BundleFailParse
		var astErrs ast.Errors
		if b.vc != nil && !errors.As(err, &astErrs) && isVerificationError(err) {
			reason = BundleFailVerify
		}
		return fail(reason, "cannot read policy bundle: %w", err)
	}
	if bdl.Type() != bundle.SnapshotBundleType {
		return fail(BundleFailParse, "cannot read policy bundle: delta bundles are not supported")
	}
	rev := bundleRevision(bdl.Manifest.Revision, etag, body)
	src, err := sourcesFromBundle(&bdl, &b.engine.opts, rev)
	if err != nil {
		return &BundleError{Reason: BundleFailValidate, Err: err}
	}
	e := b.engine
	changed, err := e.reloadWith(true, func() (bool, error) { return e.swap(src) })
	if err != nil {
		return fail(BundleFailValidate, "cannot activate policy bundle revision %s: %w", rev, err)
	}
	b.etag = etag
	now := time.Now()
	b.mu.Lock()
	if changed || b.revision == "" {
		b.activatedAt = now
	}
	b.revision = rev
	b.mu.Unlock()
	if changed {
		e.log.Info("policy bundle activated", slog.String("policy_revision", rev))
	}
	return nil
}

func checkUncompressed(body []byte, max int64) error {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return fail(BundleFailParse, "cannot read policy bundle: not a gzipped tarball: %w", err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(zr, max+1))
	if err != nil {
		return fail(BundleFailParse, "cannot read policy bundle: %w", err)
	}
	if n > max {
		return fail(BundleFailTooLarge, "cannot accept policy bundle: uncompressed it is more than policy.bundle.max_size_bytes (%d)", max)
	}
	return nil
}

// verificationMarkers are in every error OPA's bundle reader returns when a
// signature is missing, does not verify, or does not cover the files
// (v1/bundle verify.go, keys.go and Reader.Read); bundle_test.go pins them.
var verificationMarkers = []string{"signature", "digest mismatch", "verification", "verify", "scope mismatch", "jwt", "key id", "key corresponding"}

func isVerificationError(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, m := range verificationMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// bundleRevision is the manifest's revision, else the ETag, else a digest of
// the tarball. It becomes a metric label and an audit field: printable
// ASCII only, at most maxRevisionLength bytes.
func bundleRevision(manifest, etag string, body []byte) string {
	rev := manifest
	if rev == "" {
		rev = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	}
	if rev == "" {
		sum := sha256.Sum256(body)
		rev = "sha256:" + hex.EncodeToString(sum[:])[:12]
	}
	clean := []byte(rev)
	for i, c := range clean {
		if c <= ' ' || c > '~' || c == '"' || c == '\\' {
			clean[i] = '_'
		}
	}
	if len(clean) > maxRevisionLength {
		clean = clean[:maxRevisionLength]
	}
	return string(clean)
}

// sourcesFromBundle turns a verified bundle into the sources a directory
// reload would produce: its modules except tests (*_test.rego, which
// consentry rules test runs), its data, and the WithData document merged
// over it.
func sourcesFromBundle(b *bundle.Bundle, o *options, revision string) (*sources, error) {
	src := &sources{files: map[string][]byte{}, data: map[string]any{}}
	for _, m := range b.Modules {
		name := strings.TrimPrefix(m.Path, "/")
		if strings.HasSuffix(name, bundleTestSuffix) {
			continue
		}
		if _, dup := src.files[name]; dup {
			return nil, fmt.Errorf("cannot load policy bundle: module %s appears twice", name)
		}
		src.files[name] = m.Raw
		src.names = append(src.names, name)
	}
	if len(src.names) == 0 {
		return nil, errors.New("cannot load policy bundle: it holds no .rego modules other than tests")
	}
	slices.Sort(src.names)
	if len(b.Data) > 0 {
		data, err := normalizeJSON(b.Data)
		if err != nil {
			return nil, fmt.Errorf("cannot load policy bundle data: %w", err)
		}
		src.data = data
	}
	if err := src.finish(o); err != nil {
		return nil, err
	}
	src.revision = revision
	return src, nil
}

// Status returns the active revision and the failure counters.
func (b *BundleSource) Status() BundleStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BundleStatus{Revision: b.revision, ActivatedAt: b.activatedAt, LastFailure: b.lastFailure, Failures: make(map[string]uint64, len(b.failures))}
	if st.Revision != "" {
		// The engine swaps before b.revision is set: report what it serves,
		// so that metrics and /readyz never disagree.
		st.Revision = b.engine.Revision()
	}
	for k, v := range b.failures {
		st.Failures[k] = v
	}
	return st
}
