package proxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/consentry/consentry/audit"
	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Access requests (formats.Route.Access): server code asks the vendor what
// it holds on a person. Consentry checks the tenant's two credentials
// (CleverTap passcode and Consentry access token), forwards only the query
// and body the route rebuilt (identifiers translated as uploads carry them),
// and opens the reply for the controller: the tenant's tokens become the
// values they seal, pseudonyms of the identifiers named become those
// identifiers. Replies are never logged or written to disk, and the buffers
// Consentry owns are zeroed after use; the audit line carries counts only.

// accessHeaders are the client headers an access request forwards: the
// vendor's passcode and content negotiation (no Accept-Encoding: the reply
// must be opened, so it is asked for uncompressed). The account id is the
// tenant's configured one (accessAccountHeader), never the client's bytes.
var accessHeaders = []string{"X-CleverTap-Passcode", "Content-Type", "Accept"}

const accessAccountHeader = "X-CleverTap-Account-Id"

// accessAccount is the account id an access request names upstream.
func (p *Proxy) accessAccount(t *Tenant) string {
	if p.rights != nil {
		if a := p.rights.tenants[t.Name].AccountID; a != "" {
			return a
		}
	}
	if t.account != "" {
		return t.account
	}
	return t.Name
}

// AccessTokenHeader carries the tenant's rights.access_token on the access
// routes. The CleverTap passcode alone is not enough: CleverTap issues it
// and shows it in its dashboard, so it would let the vendor (the party the
// tokens keep data from) have Consentry open every token of the tenant.
const AccessTokenHeader = "X-Consentry-Access-Token"

// MaxAccessAuthFailures failed authentications per tenant and minute are
// tolerated on the access routes; after that every access request of the
// tenant is answered 429 for the rest of the minute.
const MaxAccessAuthFailures = 10

// accessGate counts failed access authentications per tenant in one-minute
// windows.
type accessGate struct {
	mu  sync.Mutex
	win map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

// blocked reports whether the tenant used up its failures this minute and,
// if so, when it may retry.
func (g *accessGate) blocked(tenant string, now time.Time) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.win[tenant]
	if w == nil || now.Sub(w.start) >= time.Minute || w.n < MaxAccessAuthFailures {
		return false, 0
	}
	return true, w.start.Add(time.Minute).Sub(now)
}

// fail counts one failed authentication.
func (g *accessGate) fail(tenant string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.win == nil {
		g.win = map[string]*failWindow{}
	}
	w := g.win[tenant]
	if w == nil || now.Sub(w.start) >= time.Minute {
		w = &failWindow{start: now}
		g.win[tenant] = w
	}
	w.n++
}

// accessSecrets are the tenant's passcode and access token (nil when the
// access routes are off).
func (a *RightsAdapter) accessSecrets(tenant string) (passcode, token []byte) {
	if a == nil {
		return nil, nil
	}
	o := a.tenants[tenant]
	if len(o.Passcode) == 0 || len(o.AccessToken) == 0 {
		return nil, nil
	}
	return o.Passcode, o.AccessToken
}

// equalSecret compares in constant time over hashes (so that lengths leak
// nothing).
func equalSecret(got, want []byte) bool {
	g, w := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// accessAuth checks both credentials of an access request: the vendor's
// passcode (CleverTap needs it) and the tenant's access token (only
// Consentry and the controller hold it). Failures count against the
// tenant's MaxAccessAuthFailures.
// retry, when positive, is the Retry-After of a 429 in seconds.
func (p *Proxy) accessAuth(ctx *fasthttp.RequestCtx, tenant string, header string, st *reqState) (retry int, err *formats.Error) {
	pass, token := p.rights.accessSecrets(tenant)
	if token == nil {
		return 0, formats.Errorf(fasthttp.StatusNotFound, "access_not_configured",
			"the access routes are off for this tenant: configure tenants.%s.rights.access_token and clevertap_passcode (and keep the rights registry enabled) to switch them on", tenant)
	}
	now := time.Now()
	gate := &p.rights.gate
	if blocked, wait := gate.blocked(tenant, now); blocked {
		st.stats.Budget.Add(budget.AccessAuth, 1)
		return int(wait/time.Second) + 1, formats.Errorf(fasthttp.StatusTooManyRequests, "access_rate_limited",
			"%d failed authentications for this tenant this minute; access requests are refused until the minute is over", MaxAccessAuthFailures)
	}
	gotPass, gotToken := ctx.Request.Header.Peek(header), ctx.Request.Header.Peek(AccessTokenHeader)
	if len(gotPass) == 0 || len(gotToken) == 0 {
		gate.fail(tenant, now)
		return 0, formats.Errorf(fasthttp.StatusUnauthorized, "missing_credential",
			"send the tenant's CleverTap passcode in %s and its Consentry access token in %s; nothing was forwarded", header, AccessTokenHeader)
	}
	okPass, okToken := equalSecret(gotPass, pass), equalSecret(gotToken, token)
	if !okPass || !okToken {
		gate.fail(tenant, now)
		return 0, formats.Errorf(fasthttp.StatusForbidden, "invalid_credential",
			"%s or %s is not the tenant's; nothing was forwarded", header, AccessTokenHeader)
	}
	return 0, nil
}

// accessNeedsAccount answers an access request whose account id is missing
// or not one the tenant configured.
const accessNeedsAccount = "the X-CleverTap-Account-Id header is required on the access routes and must name one of the tenant's accounts (default_tenant is not used on them); nothing was forwarded"

// serveAccess answers an access route for tenant.
func (p *Proxy) serveAccess(ctx *fasthttp.RequestCtx, rt *formats.Route, tenant *Tenant, up *upstream, body []byte, st *reqState) {
	ar := &st.audit
	unopened := 0
	defer func() { p.logAccess(ctx, ar, unopened) }()
	// No default tenant here: the account id must be one the tenant
	// configured, or the request names an account Consentry knows nothing
	// about.
	if len(st.accounts) == 0 || p.accounts[formats.B2S(st.accounts[0])] != tenant {
		p.fail(ctx, ar, fasthttp.StatusForbidden, "unknown_tenant", accessNeedsAccount)
		return
	}
	if retry, err := p.accessAuth(ctx, tenant.Name, rt.CredentialHeader, st); err != nil {
		p.failErr(ctx, ar, err)
		if retry > 0 {
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(retry))
		}
		return
	}
	a := rt.Access
	switch {
	case a.Body == nil && len(body) > 0:
		p.fail(ctx, ar, fasthttp.StatusBadRequest, "unexpected_body", "this route carries no body")
		return
	case a.Body != nil && len(body) == 0:
		p.fail(ctx, ar, fasthttp.StatusBadRequest, "empty_body", "request body is empty")
		return
	}
	rw := masking.AcquireRewriter()
	rw.SetLimits(&p.cfg.Limits)
	env := formats.Env{Tenant: tenant.Name, Planner: p.policy, Applier: tenant.Applier, Records: p.policy, Rewriter: rw, Stats: &st.stats}
	names := map[string][]byte{}
	st.view.ctx = ctx
	var err error
	st.query, err = a.Query(st.query[:0], &st.view, &env, names)
	st.view.ctx = nil
	masking.ReleaseRewriter(rw)
	if err != nil {
		p.failErr(ctx, ar, err)
		return
	}
	if st.stats.Budget.Refused {
		p.refuseShapes(ctx, ar)
		return
	}
	if a.Body != nil {
		if st.out, err = a.Body(st.out[:0], body); err != nil {
			p.failErr(ctx, ar, err)
			return
		}
		body = st.out
	}
	hdr := [][2]string{{accessAccountHeader, p.accessAccount(tenant)}}
	for _, h := range accessHeaders {
		if v := ctx.Request.Header.Peek(h); len(v) > 0 {
			hdr = append(hdr, [2]string{h, string(v)})
		}
	}
	ar.RecordsIn = len(names)
	// The answer goes into a buffer of its own, not a pooled one: it is
	// wiped once fasthttp has written it (answerBody).
	reply, ferr := p.fetchAccess(tenant, up, string(ctx.Method()), rt.Path, st.query, body, hdr, names, nil, nil)
	held := reply.Held
	answer := &answerBody{b: reply.Body, release: func() { p.inFlightBytes.Add(-held) }}
	if ferr != nil {
		answer.Close()
		if k, ok := accessBudget(ferr); ok {
			st.stats.Budget.Add(k, 1)
		}
		ar.UpstreamStatus = reply.Status
		p.failErr(ctx, ar, ferr)
		if ferr.Code == "overloaded" {
			ctx.Response.Header.Set("Retry-After", "1")
		}
		return
	}
	ar.UpstreamStatus = reply.Status
	ar.RecordsOut = reply.Stats.Opened + reply.Stats.Restored
	unopened = reply.Stats.Unopened
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(reply.Status)
	// Streamed from answer rather than copied into fasthttp's pooled body
	// buffer, which is never wiped; fasthttp closes it once written (or
	// when the response is dropped), and Close wipes it.
	ctx.Response.SetBodyStream(answer, len(answer.b))
	ar.Status = reply.Status
}

// answerBody is an opened answer being written: Close (fasthttp calls it
// once the body is written or the response dropped) wipes it and releases
// its bytes from the in-flight budget.
type answerBody struct {
	b       []byte
	off     int
	release func()
}

func (a *answerBody) Read(p []byte) (int, error) {
	if a.off >= len(a.b) {
		return 0, io.EOF
	}
	n := copy(p, a.b[a.off:])
	a.off += n
	return n, nil
}

// WriteTo writes the rest without a copy buffer of fasthttp's pool.
func (a *answerBody) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(a.b[a.off:])
	a.off += n
	return int64(n), err
}

func (a *answerBody) Close() error {
	clear(a.b)
	a.b, a.off = nil, 0
	if a.release != nil {
		a.release()
		a.release = nil
	}
	return nil
}

// logAccess writes one line per access request: tenant, method, route,
// outcome and counts, never the query or a value. Refusals are logged at
// most once a second (a guessing client must not flood the log); each is in
// the audit trail and consentry_request_errors_total.
func (p *Proxy) logAccess(ctx *fasthttp.RequestCtx, ar *audit.Record, unopened int) {
	if ar.Status >= 400 && ar.Status < 500 && ar.UpstreamStatus == 0 && !p.errLog.allow() {
		return
	}
	p.log.Info("access request", "tenant", ar.Tenant, "method", string(ctx.Method()), "route", ar.Route,
		"status", ar.Status, "code", ar.Error, "upstream_status", ar.UpstreamStatus,
		"identifiers_translated", ar.RecordsIn, "values_opened", ar.RecordsOut, "tokens_not_opened", unopened)
}

// accessReply is a vendor's answer to an access request, opened.
type accessReply struct {
	Status int    // the vendor's HTTP status; 0: no answer
	Body   []byte // the opened JSON document
	Stats  masking.ReverseStats
	// Held bytes of Body count in the in-flight budget until the caller
	// has answered and subtracts them from p.inFlightBytes.
	Held int64
}

// accessBudget is the budget a failed access request ran out of.
func accessBudget(err *formats.Error) (budget.Kind, bool) {
	switch err.Code {
	case "access_response_too_large":
		return budget.AccessResponse, true
	case "overloaded":
		return budget.InFlightBytes, true
	}
	return 0, false
}

// fetchAccess sends one access request to the tenant's upstream and opens
// the reply into dst. The vendor's own 4xx/5xx JSON answers are returned as
// they are (opened); a reply that is not JSON, over the budget, or no reply
// is a *formats.Error, and nothing of the reply is returned.
func (p *Proxy) fetchAccess(t *Tenant, up *upstream, method, path string, query, body []byte, headers [][2]string, names map[string][]byte, check func(status int, raw []byte) ([]byte, *formats.Error), dst []byte) (accessReply, *formats.Error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer func() {
		clear(resp.Body())
		fasthttp.ReleaseResponse(resp)
	}()
	req.Header.SetNoDefaultContentType(true)
	req.Header.SetMethod(method)
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	uri := append([]byte(up.prefix+path), '?')
	uri = append(uri, query...)
	if uri[len(uri)-1] == '?' {
		uri = uri[:len(uri)-1]
	}
	req.Header.SetHost(up.host) // before the URI: a parsed host-less URI would drop it
	req.SetRequestURIBytes(uri)
	req.URI().DisablePathNormalizing = true
	if up.tls {
		req.URI().SetScheme("https") // fasthttp refuses an http request on a TLS HostClient
	}
	if len(body) > 0 {
		req.SetBodyRaw(body)
	}
	limit := p.cfg.Limits.MaxAccessResponseBytes
	if limit <= 0 {
		limit = budget.DefaultMaxAccessResponseBytes
	}
	tooLarge := formats.Errorf(fasthttp.StatusBadGateway, "access_response_too_large",
		"the vendor's reply, or the answer opened from it, is larger than limits.max_access_response_bytes (%d); nothing of it was returned: narrow the request (a smaller batch_size) or raise the limit", limit)
	overloaded := formats.Errorf(fasthttp.StatusServiceUnavailable, "overloaded",
		"the proxy is at limits.max_in_flight_body_bytes (access replies count: read, decompressed and opened); retry later")
	// The reply read, decompressed and opened counts in the in-flight
	// budget like request bodies do; read and decompressed bytes until
	// this function returns, the opened answer until the caller is done.
	var held int64
	defer func() { p.inFlightBytes.Add(-held) }()
	reserve := func(n int) bool {
		held += int64(n)
		return p.inFlightBytes.Add(int64(n)) <= p.cfg.Limits.MaxInFlightBodyBytes
	}

	t0 := time.Now()
	err := up.client.DoTimeout(req, resp, p.timeout)
	p.metrics.upstreamLatency.Observe(time.Since(t0).Seconds())
	out := accessReply{Body: dst}
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return out, tooLarge
	case errors.Is(err, fasthttp.ErrTimeout):
		return out, formats.Errorf(fasthttp.StatusGatewayTimeout, "upstream_timeout", "the vendor did not answer within upstream.timeout; retry later")
	case err != nil:
		if p.errLog.allow() {
			p.log.Warn("vendor access request failed", "tenant", t.Name, "route", path, "error", err.Error())
		}
		return out, formats.Errorf(fasthttp.StatusBadGateway, "upstream_unavailable", "the vendor did not answer; retry later")
	}
	out.Status = resp.StatusCode()
	raw := resp.Body()
	if !reserve(len(raw)) {
		return out, overloaded
	}
	switch enc := resp.Header.Peek("Content-Encoding"); {
	case len(enc) == 0, bytes.EqualFold(enc, []byte("identity")):
	case bytes.EqualFold(enc, []byte("gzip")):
		plain, err := gunzip(nil, raw, limit, limit) // the byte limit bounds a bomb; no ratio bound
		defer clear(plain)
		if errors.Is(err, errTooLarge) {
			return out, tooLarge
		}
		if err != nil {
			return out, formats.Errorf(fasthttp.StatusBadGateway, "vendor_invalid_reply", "the vendor answered HTTP %d with a body that is not valid gzip; nothing of it is returned", out.Status)
		}
		raw = plain
		if !reserve(len(raw)) {
			return out, overloaded
		}
	default:
		return out, formats.Errorf(fasthttp.StatusBadGateway, "vendor_invalid_reply", "the vendor answered HTTP %d in an encoding Consentry cannot open; nothing of it is returned", out.Status)
	}
	if len(raw) > limit {
		return out, tooLarge
	}
	if check != nil {
		// Before anything is opened: what the answer may hold.
		var cerr *formats.Error
		if raw, cerr = check(out.Status, raw); cerr != nil {
			return out, cerr
		}
	}
	r := masking.Reverser{Names: names, Max: limit}
	r.Tokens, _ = t.Applier.(masking.TokenOpener)
	opened, st, rerr := r.Append(dst, raw)
	switch {
	case errors.Is(rerr, masking.ErrReverseTooLarge):
		return out, tooLarge
	case rerr != nil:
		return out, formats.Errorf(fasthttp.StatusBadGateway, "vendor_invalid_reply", "the vendor answered HTTP %d with a body that is not JSON; nothing of it is returned", out.Status)
	}
	n := int64(len(opened) - len(dst))
	out.Held = n
	if p.inFlightBytes.Add(n) > p.cfg.Limits.MaxInFlightBodyBytes {
		clear(opened[len(dst):])
		return out, overloaded
	}
	out.Body, out.Stats = opened, st
	return out, nil
}
