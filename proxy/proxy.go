package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Policy is what the proxy needs of the policy engine.
type Policy interface {
	masking.Planner
	formats.RecordPolicy
	Revision() string
	Ready() bool
	TenantOption(tenant, name string) (any, bool)
}

// Tenant is one configured customer, resolved at start-up.
type Tenant struct {
	Name      string
	Applier   masking.Applier
	upstreams map[string]*upstream // by format; "" is the default
	formats   map[string]bool      // accepted formats; nil accepts all
	accepts   string               // the accepted formats, for the refusal
	honorGPC  bool
	account   string // the first configured account id ("" if none)
}

func (t *Tenant) upstreamFor(format string) *upstream {
	if u, ok := t.upstreams[format]; ok {
		return u
	}
	return t.upstreams[""]
}

// upstream is one pooled connection target.
type upstream struct {
	client *fasthttp.HostClient
	host   string
	prefix string // path prefix of the configured URL, without trailing '/'
	tls    bool   // https: requests must say so, or the HostClient refuses them
}

func newUpstream(raw string, opts config.UpstreamOpts) (*upstream, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot parse upstream URL: %w", err)
	}
	addr := u.Host
	isTLS := u.Scheme == "https"
	if u.Port() == "" {
		if isTLS {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	hc := &fasthttp.HostClient{
		Addr:                     addr,
		IsTLS:                    isTLS,
		MaxConns:                 opts.MaxConns,
		MaxIdleConnDuration:      5 * time.Second, // below common upstream idle timeouts
		ReadTimeout:              opts.Timeout,
		WriteTimeout:             opts.Timeout,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxResponseBodySize:      budget.MaxUpstreamReplyBytes,
		// Never resend on our own: fasthttp retries GET requests after a
		// connection error, and an upstream that read the request and then
		// reset the connection would receive every copy. The client gets
		// 502 and its SDK decides whether to retry.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                noRetry,
	}
	if isTLS {
		hc.TLSConfig = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: opts.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in for tests
	}
	return &upstream{client: hc, host: u.Host, prefix: strings.TrimRight(u.EscapedPath(), "/"), tls: isTLS}, nil
}

// noRetry refuses every automatic retry of an upstream request.
func noRetry(*fasthttp.Request, int, error) (resetTimeout, retry bool) { return false, false }

type routeKey struct{ method, path string }

// Proxy serves the vendor routes.
type Proxy struct {
	cfg      *config.Config
	policy   Policy
	rights   *RightsAdapter
	tenants  map[string]*Tenant
	accounts map[string]*Tenant
	def      *Tenant
	routes   map[routeKey][]*formats.Route
	paths    map[string][]*formats.Route
	audit    *audit.Logger
	metrics  *Metrics
	log      *slog.Logger
	server   *fasthttp.Server
	draining atomic.Bool
	silent   silentConns // connections with nothing received yet, closed at shutdown
	timeout  time.Duration
	errLog   everySecond
	watch    watchdog

	// Requests and body bytes being processed (limits.max_in_flight_*).
	inFlight, inFlightBytes atomic.Int64
	panics                  atomic.Uint64 // handler panics recovered
}

// quietLogger discards fasthttp's own log lines: they quote the bytes of
// requests it could not read (query strings, headers), which may hold
// personal data. Those requests are answered, counted and audited by
// readError.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// everySecond lets one event through per second.
type everySecond struct{ last atomic.Int64 }

func (e *everySecond) allow() bool {
	now := time.Now().Unix()
	last := e.last.Load()
	return now != last && e.last.CompareAndSwap(last, now)
}

// Option configures a Proxy.
type Option func(*Proxy)

// WithRights enables the rights registry: suppressed subjects' records are
// dropped, signals learned, erasures and campaigns filtered.
func WithRights(r *RightsAdapter) Option { return func(p *Proxy) { p.rights = r } }

// WithAudit sets the audit logger (default: none).
func WithAudit(a *audit.Logger) Option { return func(p *Proxy) { p.audit = a } }

// WithLogger sets the operational logger.
func WithLogger(l *slog.Logger) Option { return func(p *Proxy) { p.log = l } }

// WithMetrics shares a metrics set (the admin listener serves it).
func WithMetrics(m *Metrics) Option { return func(p *Proxy) { p.metrics = m } }

// TenantSpec is a tenant as the proxy needs it: name, accounts, applier and
// upstream URLs by format ("" for the default).
type TenantSpec struct {
	Name      string
	Accounts  []string
	Applier   masking.Applier
	Upstreams map[string]string
	Formats   []string // accepted formats; empty accepts all
	HonorGPC  bool     // Sec-GPC: 1 drops the request's records
}

// New builds a Proxy over routes. defaultTenant, if not empty, serves
// requests whose account is unknown.
func New(cfg *config.Config, pol Policy, tenants []TenantSpec, defaultTenant string, routes []formats.Route, opts ...Option) (*Proxy, error) {
	p := &Proxy{
		cfg:      cfg,
		policy:   pol,
		tenants:  map[string]*Tenant{},
		accounts: map[string]*Tenant{},
		routes:   map[routeKey][]*formats.Route{},
		paths:    map[string][]*formats.Route{},
		log:      slog.Default(),
		timeout:  cfg.Upstream.Timeout,
	}
	p.watch.interval, p.watch.stale, p.watch.stall = HeartbeatInterval, HeartbeatStale, cfg.Upstream.Timeout+stallSlack
	for _, o := range opts {
		o(p)
	}
	if p.metrics == nil {
		p.metrics = NewMetrics(pol)
	}
	for _, ts := range tenants {
		t := &Tenant{Name: ts.Name, Applier: ts.Applier, upstreams: map[string]*upstream{}, honorGPC: ts.HonorGPC}
		if len(ts.Formats) > 0 {
			t.formats = map[string]bool{}
			for _, f := range ts.Formats {
				t.formats[f] = true
			}
			t.accepts = strings.Join(ts.Formats, ", ")
		}
		for f, raw := range ts.Upstreams {
			u, err := newUpstream(raw, cfg.Upstream)
			if err != nil {
				return nil, fmt.Errorf("tenant %s: %w", ts.Name, err)
			}
			t.upstreams[f] = u
		}
		p.tenants[ts.Name] = t
		if len(ts.Accounts) > 0 {
			t.account = ts.Accounts[0]
		}
		for _, a := range ts.Accounts {
			p.accounts[a] = t
		}
	}
	if defaultTenant != "" {
		if p.def = p.tenants[defaultTenant]; p.def == nil {
			return nil, fmt.Errorf("default tenant %q is not configured", defaultTenant)
		}
	}
	for i := range routes {
		r := &routes[i]
		k := routeKey{r.Method, r.Path}
		p.routes[k] = append(p.routes[k], r)
		p.paths[r.Path] = append(p.paths[r.Path], r)
	}
	lim := &cfg.Limits
	// Bodies that grew beyond the pooling bound go to the garbage
	// collector instead of staying in fasthttp's pools (process-wide).
	fasthttp.SetBodySizePoolLimit(lim.MaxPooledBufferBytes, lim.MaxPooledBufferBytes)
	p.server = &fasthttp.Server{
		Handler:                      p.Handle,
		ErrorHandler:                 p.readError,
		Logger:                       quietLogger{},
		Name:                         "consentry",
		MaxRequestBodySize:           lim.MaxBodyBytes,
		ReadBufferSize:               lim.MaxHeaderBytes,
		Concurrency:                  lim.MaxConnections,
		MaxConnsPerIP:                lim.MaxConnsPerIP,
		MaxRequestsPerConn:           lim.MaxRequestsPerConn,
		ReadTimeout:                  lim.ReadTimeout,
		WriteTimeout:                 lim.WriteTimeout,
		IdleTimeout:                  lim.IdleTimeout,
		CloseOnShutdown:              true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
	}
	return p, nil
}

// Serve accepts connections on ln until Shutdown. With cert and key files
// it terminates TLS.
func (p *Proxy) Serve(ln net.Listener) error {
	if c := p.cfg.TLS; c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("cannot load tls.cert_file and tls.key_file: %w", err)
		}
		// Connections are tracked above TLS (see silentConns).
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	return p.server.Serve(p.silent.listener(ln))
}

// OpenConnections counts the client connections being served.
func (p *Proxy) OpenConnections() int32 { return p.server.GetOpenConnectionsCount() }

// Draining reports whether shutdown has begun.
func (p *Proxy) Draining() bool { return p.draining.Load() }

// Shutdown fails readiness, waits drainDelay so load balancers move away,
// then stops accepting and waits for in-flight requests until ctx ends.
// Connections that never sent a byte are closed as it stops (see
// silentConns); idle keep-alive connections are closed by fasthttp.
func (p *Proxy) Shutdown(ctx context.Context, drainDelay time.Duration) error {
	p.draining.Store(true)
	if drainDelay > 0 {
		select {
		case <-time.After(drainDelay):
		case <-ctx.Done():
		}
	}
	stopped := make(chan struct{})
	go func() {
		// Until the listener is closed a silent connection can still
		// arrive: close them as fasthttp polls its own idle ones.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			p.silent.closeAll()
			select {
			case <-stopped:
				return
			case <-tick.C:
			}
		}
	}()
	defer close(stopped)
	return p.server.ShutdownWithContext(ctx)
}

// Metrics returns the proxy's metrics.
func (p *Proxy) Metrics() *Metrics { return p.metrics }

// reqState is the pooled per-request scratch.
type reqState struct {
	body     []byte
	out      []byte
	zipped   []byte
	query    []byte
	uri      []byte // the upstream request URI
	accounts [][]byte
	subjects requestSubjects
	stats    masking.Stats
	env      formats.Env
	view     requestView
	audit    audit.Record
}

var statePool = sync.Pool{New: func() any { return &reqState{} }}

// releaseState returns st to the pool without the buffers that grew beyond
// limit bytes (one huge request must not pin its memory for good).
func releaseState(st *reqState, limit int) {
	for _, b := range []*[]byte{&st.body, &st.out, &st.zipped, &st.query, &st.uri} {
		if cap(*b) > limit {
			*b = nil
		}
	}
	statePool.Put(st)
}

type requestView struct {
	ctx *fasthttp.RequestCtx
	// strict is set while the route reads the request's account ids: a
	// header or query parameter read then must occur once, under its
	// canonical name, or repeated is set.
	strict, repeated bool
}

func (v *requestView) Header(name string) []byte {
	if v.strict && len(v.ctx.Request.Header.PeekAll(name)) > 1 {
		v.repeated = true
	}
	return v.ctx.Request.Header.Peek(name)
}

func (v *requestView) Query(name string) []byte {
	if v.strict && !singleParam(v.ctx, name) {
		v.repeated = true
	}
	return v.ctx.QueryArgs().Peek(name)
}

func (v *requestView) QueryString() []byte { return v.ctx.URI().QueryString() }

// singleParam reports whether the query parameter name occurs at most once
// and only under its canonical spelling: "z=A&z=A" and "%7A=A" (which
// fasthttp reads as z, but the byte-exact query filter does not forward)
// are refused.
func singleParam(ctx *fasthttp.RequestCtx, name string) bool {
	decoded := 0
	for k := range ctx.QueryArgs().All() {
		if string(k) == name {
			decoded++
		}
	}
	exact := 0
	for q := ctx.URI().QueryString(); len(q) > 0; {
		var part []byte
		part, q, _ = bytes.Cut(q, []byte{'&'})
		if k, _, _ := bytes.Cut(part, []byte{'='}); string(k) == name {
			exact++
		}
	}
	return decoded <= 1 && exact == decoded
}

// Handle is the fasthttp handler.
func (p *Proxy) Handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	p.watch.enter(start)
	defer func() { p.watch.leave(time.Now()) }()
	st := statePool.Get().(*reqState)
	defer func() {
		// A bug in a cleaner must not take the process (and every other
		// client) down: answer 500, forward nothing more, and do not pool
		// the state the panic left behind.
		if r := recover(); r != nil {
			p.panics.Add(1)
			what := fmt.Sprintf("%T", r) // a panic's own text may quote data
			if re, ok := r.(runtime.Error); ok {
				what = re.Error()
			}
			p.log.Error("request handler panicked; answered 500", "route", st.audit.Route, "panic", what)
			ctx.Response.Reset()
			p.fail(ctx, &st.audit, fasthttp.StatusInternalServerError, "internal_error", "Consentry failed on this request; nothing of it was forwarded after the failure")
			p.finish(&st.audit, start)
			return
		}
		releaseState(st, p.cfg.Limits.MaxPooledBufferBytes)
	}()
	st.stats.Reset()
	st.stats.Budget.Active = true // this request's budgets
	st.audit = audit.Record{Time: start, Stats: &st.stats}
	ar := &st.audit

	cands := p.routes[routeKey{formats.B2S(ctx.Method()), formats.B2S(ctx.Path())}]
	if len(cands) == 0 {
		switch on := p.paths[string(ctx.Path())]; {
		case len(on) > 0 && ctx.IsOptions():
			p.preflight(ctx, on, ar)
		case len(on) > 0:
			p.fail(ctx, ar, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "this route does not accept "+string(ctx.Method()))
		default:
			p.fail(ctx, ar, fasthttp.StatusNotFound, "unknown_route", "Consentry does not serve this path; it is not an open proxy")
		}
		p.finish(ar, start)
		return
	}
	ar.Route, ar.Format = cands[0].Path, cands[0].Format
	size := int64(len(ctx.PostBody()))
	n := p.inFlight.Add(1)
	reserved := p.inFlightBytes.Add(size)
	switch {
	case n > int64(p.cfg.Limits.MaxInFlightRequests):
		p.overloaded(ctx, st, budget.InFlightRequests)
	case reserved > p.cfg.Limits.MaxInFlightBodyBytes:
		p.overloaded(ctx, st, budget.InFlightBytes)
	default:
		p.serveRoute(ctx, cands, st)
	}
	p.inFlight.Add(-1)
	p.inFlightBytes.Add(-size)
	p.finish(ar, start)
}

// overloaded refuses a request over a server-wide budget, at once: 503 and
// Retry-After, so that clients back off and the others stay fast.
func (p *Proxy) overloaded(ctx *fasthttp.RequestCtx, st *reqState, k budget.Kind) {
	st.stats.Budget.Add(k, 1)
	p.fail(ctx, &st.audit, fasthttp.StatusServiceUnavailable, "overloaded", "the proxy is at limits.max_in_flight_requests or limits.max_in_flight_body_bytes; retry later")
	ctx.Response.Header.Set("Retry-After", "1")
}

// preflight answers a CORS preflight for browser routes.
func (p *Proxy) preflight(ctx *fasthttp.RequestCtx, on []*formats.Route, ar *audit.Record) {
	browser := false
	for _, r := range on {
		browser = browser || r.Browser
	}
	origin := ctx.Request.Header.Peek("Origin")
	if !browser || len(origin) == 0 {
		p.fail(ctx, ar, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "this route does not accept OPTIONS")
		return
	}
	h := &ctx.Response.Header
	h.SetBytesV("Access-Control-Allow-Origin", origin)
	h.Set("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
	h.Set("Access-Control-Max-Age", "600")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	ar.Status = fasthttp.StatusNoContent
}

func (p *Proxy) finish(ar *audit.Record, start time.Time) {
	ar.Duration = time.Since(start)
	if ar.PolicyRevision == "" && p.policy != nil {
		ar.PolicyRevision = p.policy.Revision()
	}
	p.metrics.observe(ar)
	p.audit.Write(ar)
}

func (p *Proxy) serveRoute(ctx *fasthttp.RequestCtx, cands []*formats.Route, st *reqState) {
	ar := &st.audit
	if p.policy == nil || !p.policy.Ready() {
		p.fail(ctx, ar, fasthttp.StatusServiceUnavailable, "policy_unavailable", "no valid policy is loaded")
		return
	}
	ar.PolicyRevision = p.policy.Revision()

	// Body: decompress with limits.
	body := ctx.PostBody()
	gz := false
	switch enc := ctx.Request.Header.Peek("Content-Encoding"); {
	case len(enc) == 0, bytes.EqualFold(enc, []byte("identity")):
	case bytes.EqualFold(enc, []byte("gzip")):
		gz = true
	default:
		p.fail(ctx, ar, fasthttp.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding must be gzip or identity")
		return
	}
	if !gz && len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
		gz = true // gzip labelled as something else: sniff, do not trust the header
	}
	if gz {
		var err error
		st.body, err = gunzip(st.body[:0], body, p.cfg.Limits.MaxDecompressed, p.cfg.Limits.MaxCompressionRatio)
		if err != nil {
			code, status := "invalid_gzip", fasthttp.StatusBadRequest
			if err != errBadGzip {
				code, status = "body_too_large", fasthttp.StatusRequestEntityTooLarge
			}
			p.fail(ctx, ar, status, code, err.Error())
			return
		}
		body = st.body
		// Decompressed bytes count against the in-flight budget too.
		n := int64(len(body))
		reserved := p.inFlightBytes.Add(n)
		defer p.inFlightBytes.Add(-n)
		if reserved > p.cfg.Limits.MaxInFlightBodyBytes {
			p.overloaded(ctx, st, budget.InFlightBytes)
			return
		}
	}

	// Routes sharing a path (Segment and RudderStack) tell their format.
	st.view.ctx = ctx
	rt := cands[0]
	if len(cands) > 1 {
		rt = nil
		for _, c := range cands {
			if c.Detect == nil || c.Detect(&st.view, body) {
				rt = c
				break
			}
		}
		if rt == nil {
			st.view.ctx = nil
			p.fail(ctx, ar, fasthttp.StatusBadRequest, "unknown_format", "cannot tell which SDK sent this request")
			return
		}
		ar.Format = rt.Format
	}
	st.view.ctx = nil

	var wrap func([]byte) ([]byte, error)
	if rt.Unwrap != nil && len(body) > 0 {
		inner, w, err := rt.Unwrap(body)
		if err != nil {
			p.failErr(ctx, ar, err)
			return
		}
		body, wrap = inner, w
	}

	// Tenant: every account id the request names must agree, and every
	// header or parameter that names one must occur once.
	st.view = requestView{ctx: ctx, strict: true}
	for _, name := range rt.AccountParams {
		if !singleParam(ctx, name) {
			st.view.repeated = true
		}
	}
	st.accounts = rt.Accounts(st.accounts[:0], &st.view, body)
	repeated := st.view.repeated
	st.view = requestView{}
	if repeated {
		p.fail(ctx, ar, fasthttp.StatusBadRequest, "account_mismatch", "an account id header or query parameter occurs more than once or under a non-canonical name")
		return
	}
	if rt.Access != nil && len(st.accounts) == 0 {
		// default_tenant is never used on the access routes (serveAccess).
		p.fail(ctx, ar, fasthttp.StatusForbidden, "unknown_tenant", accessNeedsAccount)
		return
	}
	tenant, ferr := p.resolveTenant(st.accounts)
	if ferr != nil {
		p.failErr(ctx, ar, ferr)
		return
	}
	ar.Tenant = tenant.Name
	if tenant.formats != nil && !tenant.formats[rt.Format] {
		// Routes sharing a path (Segment and RudderStack) read the same
		// account: prefer the format this tenant accepts over detection.
		for _, c := range cands {
			if tenant.formats[c.Format] {
				rt = c
				ar.Format = c.Format
				break
			}
		}
	}
	if tenant.formats != nil && !tenant.formats[rt.Format] {
		p.fail(ctx, ar, fasthttp.StatusForbidden, "format_not_allowed",
			"tenant "+tenant.Name+" does not accept format "+rt.Format+" (it accepts "+tenant.accepts+"); nothing was forwarded")
		return
	}
	up := tenant.upstreamFor(rt.Format)
	if up == nil {
		p.fail(ctx, ar, fasthttp.StatusForbidden, "no_upstream", "tenant has no upstream for format "+rt.Format)
		return
	}
	if rt.Access != nil {
		p.serveAccess(ctx, rt, tenant, up, body, st)
		return
	}

	out := body
	query := ctx.URI().QueryString()
	if rt.CleanQuery == nil && len(query) > 0 {
		st.query = filterQuery(st.query[:0], query, rt.Query)
		query = st.query
	}
	if rt.Clean != nil || rt.CleanQuery != nil {
		if rt.Clean != nil && len(body) == 0 {
			p.fail(ctx, ar, fasthttp.StatusBadRequest, "empty_body", "request body is empty")
			return
		}
		if tenant.honorGPC && string(ctx.Request.Header.Peek("Sec-GPC")) == "1" && rt.Reply != nil {
			// Global Privacy Control: nothing of this request is shared.
			st.view.ctx = ctx
			reply, ctype := rt.Reply(st.zipped[:0], &st.view, formats.Result{AllDropped: true, Suppressed: 1})
			st.view.ctx = nil
			p.answer(ctx, rt, reply, ctype)
			ar.Status, ar.Answered, ar.Error = fasthttp.StatusOK, true, ""
			return
		}
		rw := masking.AcquireRewriter()
		rw.SetLimits(&p.cfg.Limits)
		st.env = formats.Env{
			Tenant:   tenant.Name,
			Planner:  p.policy,
			Applier:  tenant.Applier,
			Records:  p.policy,
			Rewriter: rw,
			Stats:    &st.stats,
		}
		if p.rights != nil {
			st.subjects.reset(p.rights, tenant.Name)
			if rt.CredentialHeader != "" {
				st.subjects.authorised = p.rights.authorised(tenant.Name, ctx.Request.Header.Peek(rt.CredentialHeader))
			}
			st.env.Subjects, st.env.Rights = &st.subjects, &st.subjects
		}
		var res formats.Result
		var err error
		if rt.CleanQuery != nil {
			st.view.ctx = ctx
			st.query, res, err = rt.CleanQuery(st.query[:0], &st.view, &st.env)
			st.view.ctx = nil
			query = st.query
		}
		if err == nil && rt.Clean != nil {
			var r2 formats.Result
			st.out, r2, err = rt.Clean(st.out[:0], body, &st.env)
			res = mergeResults(res, r2)
		}
		masking.ReleaseRewriter(rw)
		st.env = formats.Env{}
		ar.RecordsIn, ar.RecordsOut, ar.Suppressed, ar.PolicyDropped = res.RecordsIn, res.RecordsOut, res.Suppressed, res.PolicyDropped
		if err != nil {
			p.failErr(ctx, ar, err)
			return
		}
		if st.stats.Budget.Refused {
			p.refuseShapes(ctx, ar)
			return
		}
		if res.AllDropped {
			// Answer as the vendor would, so that SDKs do not retry.
			st.view.ctx = ctx
			reply, ctype := rt.Reply(st.zipped[:0], &st.view, res)
			st.view.ctx = nil
			p.answer(ctx, rt, reply, ctype)
			ar.Status, ar.Answered = fasthttp.StatusOK, true
			return
		}
		if rt.Clean != nil {
			out = st.out
		}
		if wrap != nil {
			sealed, err := wrap(out)
			if err != nil {
				p.fail(ctx, ar, fasthttp.StatusInternalServerError, "reencrypt_failed", "cannot re-encrypt the cleaned body")
				return
			}
			out = sealed
		}
		if gz {
			st.zipped = appendGzip(st.zipped[:0], out)
			out = st.zipped
		}
	}
	if rt.Clean == nil && len(body) > 0 {
		p.fail(ctx, ar, fasthttp.StatusBadRequest, "unexpected_body", "this route carries no body")
		return
	}
	status := p.forward(ctx, rt, tenant, up, query, out, gz, ar, &st.uri)
	if p.rights != nil && st.subjects.pending() {
		p.vendorAnswered(ctx, ar, tenant, &st.subjects, status)
	}
}

// vendorAnswered applies what waited for the vendor's answer to a forwarded
// request (erasures without a credential, opt-out acknowledgements): only
// on 2xx. A vendor-accepted erasure that cannot be recorded locally turns
// the answer into 503, so that the client retries the (idempotent)
// deletion.
func (p *Proxy) vendorAnswered(ctx *fasthttp.RequestCtx, ar *audit.Record, tenant *Tenant, subj *requestSubjects, status int) {
	if status < 200 || status > 299 {
		subj.reset(subj.a, subj.tenant)
		return
	}
	ackErr, eraseErr := subj.accepted()
	if ackErr != nil && p.errLog.allow() {
		p.log.Warn("cannot record the vendor's acknowledgement of an opt-out; the next copy is forwarded again", "tenant", tenant.Name, "error", ackErr.Error())
	}
	if eraseErr != nil {
		ctx.Response.Reset()
		p.fail(ctx, ar, fasthttp.StatusServiceUnavailable, "rights_unavailable", "the vendor accepted the deletion but it cannot be recorded; retry the request")
	}
}

// answer replies for the vendor (all records dropped): 200 with the
// vendor's own success body, so that SDKs do not retry.
func (p *Proxy) answer(ctx *fasthttp.RequestCtx, rt *formats.Route, reply []byte, ctype string) {
	ctx.Response.Header.SetContentType(ctype)
	if origin := ctx.Request.Header.Peek("Origin"); rt.Browser && len(origin) > 0 {
		ctx.Response.Header.SetBytesV("Access-Control-Allow-Origin", origin)
		ctx.Response.Header.Set("Vary", "Origin")
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(reply)
}

// filterQuery appends to dst the parameters of query whose name is in
// allowed, byte-exact and in order.
func filterQuery(dst, query []byte, allowed []string) []byte {
	for len(query) > 0 {
		var part []byte
		part, query, _ = bytes.Cut(query, []byte{'&'})
		name, _, _ := bytes.Cut(part, []byte{'='})
		for _, a := range allowed {
			if string(name) == a {
				if len(dst) > 0 {
					dst = append(dst, '&')
				}
				dst = append(dst, part...)
				break
			}
		}
	}
	return dst
}

func mergeResults(a, b formats.Result) formats.Result {
	r := formats.Result{
		Verbose:       a.Verbose || b.Verbose,
		RecordsIn:     a.RecordsIn + b.RecordsIn,
		RecordsOut:    a.RecordsOut + b.RecordsOut,
		Suppressed:    a.Suppressed + b.Suppressed,
		PolicyDropped: a.PolicyDropped + b.PolicyDropped,
	}
	r.AllDropped = (a.AllDropped || a.RecordsIn == 0) && (b.AllDropped || b.RecordsIn == 0) && r.RecordsIn > 0
	return r
}

func (p *Proxy) resolveTenant(ids [][]byte) (*Tenant, error) {
	for i := 1; i < len(ids); i++ {
		if !bytes.Equal(ids[i], ids[0]) {
			return nil, formats.Errorf(fasthttp.StatusBadRequest, "account_mismatch", "the account ids in header, query and body disagree")
		}
	}
	if len(ids) > 0 {
		if t := p.accounts[formats.B2S(ids[0])]; t != nil {
			return t, nil
		}
	}
	if p.def != nil {
		return p.def, nil
	}
	if len(ids) == 0 {
		return nil, formats.Errorf(fasthttp.StatusForbidden, "unknown_tenant", "the request names no account id and no default tenant is configured")
	}
	return nil, formats.Errorf(fasthttp.StatusForbidden, "unknown_tenant", "the account id is not configured for any tenant")
}

var http11 = []byte("HTTP/1.1")

// hopByHop are removed in both directions (RFC 7230 §6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}

// clientIPHeaders reveal the user's address; they are forwarded only when
// the tenant's policy data says client_ip: keep.
var clientIPHeaders = []string{"X-Forwarded-For", "X-Real-IP", "Forwarded", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP"}

// forwardedHeaders are the request headers the vendors' SDKs send and their
// backends read: content negotiation, credentials, vendor headers.
var forwardedHeaders = []string{
	"Content-Type", "Content-Encoding", "Accept", "Accept-Encoding", "Accept-Language",
	"User-Agent", "Authorization", "Origin", "Referer",
}

// forwardedPrefixes are vendor header families (CleverTap's account,
// token, passcode and encryption flags; RudderStack's node headers).
var forwardedPrefixes = []string{"X-Clevertap-", "Rs-"}

func forwardHeader(name []byte, keepIP bool) bool {
	for _, h := range forwardedHeaders {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	for _, p := range forwardedPrefixes {
		if len(name) >= len(p) && bytes.EqualFold(name[:len(p)], []byte(p)) {
			return true
		}
	}
	if keepIP {
		for _, h := range clientIPHeaders {
			if bytes.EqualFold(name, []byte(h)) {
				return true
			}
		}
	}
	return false
}

// forward sends the cleaned request upstream and copies the answer back. It
// returns the upstream's status, or 0 if the upstream did not answer.
// uri is scratch space for the upstream request URI, kept across requests.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, rt *formats.Route, tenant *Tenant, up *upstream, query, body []byte, gz bool, ar *audit.Record, uri *[]byte) int {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	// A Content-Type goes upstream only if the client sent one: fasthttp
	// would otherwise add application/octet-stream to every body.
	req.Header.SetNoDefaultContentType(true)

	// Only headers on the allow-list go upstream: a proxy, mesh or CDN in
	// front of Consentry adds its own (client addresses, user names).
	keepIP := false
	if v, ok := p.policy.TenantOption(tenant.Name, "client_ip"); ok && v == "keep" {
		keepIP = true
	}
	req.Header.SetMethodBytes(ctx.Method())
	for k, v := range ctx.Request.Header.All() {
		if forwardHeader(k, keepIP) {
			req.Header.AddBytesKV(k, v)
		}
	}
	req.Header.Del("Content-Length")
	{
		// Cookies never pass (not on the allow-list); the Referer can carry
		// the page URL with personal data in it: only its origin passes.
		// The User-Agent header names the device model and build as the
		// body's user agents do: it is cut to browser family, major
		// version and OS family, like device.user_agent fields.
		if ua := req.Header.Peek("User-Agent"); len(ua) > 0 {
			var buf [128]byte
			req.Header.SetBytesV("User-Agent", masking.AppendUserAgent(buf[:0], ua))
		}
		if ref := req.Header.Peek("Referer"); len(ref) > 0 {
			if o := refererOrigin(ref); o != "" {
				req.Header.Set("Referer", o)
			} else {
				req.Header.Del("Referer")
			}
		}
	}
	req.Header.SetHost(up.host)
	u := append(append(append((*uri)[:0], up.prefix...), ctx.Path()...), '?')
	u = append(u, query...)
	if u[len(u)-1] == '?' {
		u = u[:len(u)-1]
	}
	*uri = u
	req.SetRequestURIBytes(u)
	req.URI().DisablePathNormalizing = true
	if up.tls {
		req.URI().SetScheme("https") // a request read on a plain listener is http
	}
	if len(body) > 0 || rt.Clean != nil {
		req.SetBodyRaw(body)
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}

	t0 := time.Now()
	err := up.client.DoTimeout(req, resp, p.timeout)
	p.metrics.upstreamLatency.Observe(time.Since(t0).Seconds())
	if err != nil {
		status, code := fasthttp.StatusBadGateway, "upstream_unavailable"
		if errors.Is(err, fasthttp.ErrTimeout) {
			status, code = fasthttp.StatusGatewayTimeout, "upstream_timeout"
		}
		p.log.Warn("upstream request failed", "tenant", tenant.Name, "route", rt.Path, "error", err.Error())
		p.fail(ctx, ar, status, code, "the upstream did not answer; retry later")
		return 0
	}
	ar.UpstreamStatus = resp.StatusCode()
	resp.Header.CopyTo(&ctx.Response.Header)
	// The reply is Consentry's: HTTP/1.1 with the standard reason phrase,
	// whatever the upstream spoke, and Consentry's own Server header (the
	// server's Name), not the upstream's, which names the vendor's software.
	ctx.Response.Header.SetProtocol(http11)
	ctx.Response.Header.SetStatusMessage(nil)
	cleanReplyHeaders(&ctx.Response.Header, rt.DropResponseHeaders)
	if origin := ctx.Request.Header.Peek("Origin"); rt.Browser && len(origin) > 0 && len(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) == 0 {
		ctx.Response.Header.SetBytesV("Access-Control-Allow-Origin", origin)
		ctx.Response.Header.Set("Vary", "Origin")
	}
	ctx.SetStatusCode(resp.StatusCode())
	ctx.SetBody(resp.Body())
	ar.Status = resp.StatusCode()
	return ar.Status
}

// refererOrigin cuts a Referer to its origin ("https://shop.example/").
func refererOrigin(ref []byte) string {
	u, err := url.Parse(string(ref))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

// cleanReplyHeaders removes from an upstream reply's headers the Server
// header, the hop-by-hop ones, those its Connection header names, drop,
// and Content-Length (set from the body when the reply is written).
func cleanReplyHeaders(h *fasthttp.ResponseHeader, drop []string) {
	h.Del("Server")
	if anyHeader(h, hopByHop, drop) {
		// Each Del copies and normalizes its key: only a reply that
		// carries one of these headers pays for the deletions.
		removeConnectionHeaders(h)
		for _, name := range drop {
			h.Del(name)
		}
	}
	h.Del("Content-Length")
}

// anyHeader reports whether h holds a header named in one of the lists
// (case-insensitive).
func anyHeader(h *fasthttp.ResponseHeader, lists ...[]string) bool {
	for k := range h.All() {
		for _, l := range lists {
			for _, name := range l {
				if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
					return true
				}
			}
		}
	}
	return false
}

type headerDeleter interface {
	Peek(key string) []byte
	Del(key string)
}

func removeConnectionHeaders(h headerDeleter) {
	if c := h.Peek("Connection"); len(c) > 0 {
		for _, tok := range bytes.Split(c, []byte(",")) {
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				h.Del(string(tok))
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// fail answers with a JSON error; nothing is forwarded.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, ar *audit.Record, status int, code, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	b := append(ctx.Response.Body()[:0], `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, "}}"...)
	ctx.Response.SetBodyRaw(b)
	ar.Status, ar.Error = status, code
}

func (p *Proxy) failErr(ctx *fasthttp.RequestCtx, ar *audit.Record, err error) {
	fe := formats.AsError(err)
	if fe.Status >= 500 && p.errLog.allow() {
		// Server-side failures (the rights store) need an operator; logged
		// at most once a second, with the code only.
		p.log.Error("request failed closed", "code", fe.Code, "status", fe.Status)
	}
	p.fail(ctx, ar, fe.Status, fe.Code, fe.Msg)
}

// readError answers requests fasthttp could not read (body or headers over
// the limit, malformed HTTP).
func (p *Proxy) readError(ctx *fasthttp.RequestCtx, err error) {
	ar := &audit.Record{Time: time.Now(), Route: "-"}
	var status int
	var code, msg string
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds limits.max_body_bytes"
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		status, code, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "request headers exceed limits.max_header_bytes"
	case isTimeout(err):
		status, code, msg = fasthttp.StatusRequestTimeout, "request_timeout", "the request was not received in time"
	default:
		status, code, msg = fasthttp.StatusBadRequest, "bad_request", "cannot read the HTTP request"
	}
	p.fail(ctx, ar, status, code, msg)
	p.finish(ar, ar.Time)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func appendJSONString(b []byte, s string) []byte { return masking.AppendQuote(b, []byte(s)) }

// refuseShapes answers a request that met the tenant's new-shape budget:
// nothing is forwarded, and the SDK keeps the data and retries.
func (p *Proxy) refuseShapes(ctx *fasthttp.RequestCtx, ar *audit.Record) {
	p.fail(ctx, ar, fasthttp.StatusServiceUnavailable, "shape_budget_exceeded",
		"the tenant sent more new record shapes this minute than limits.max_new_shapes_per_tenant_minute; retry later")
	ctx.Response.Header.Set("Retry-After", "60")
}
