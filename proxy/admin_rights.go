package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consentry/consentry/erasure"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/rights"
)

// Admin API paths (on the admin listener). Subjects are named in POST
// bodies, never in URLs, so that identifiers stay out of access logs.
const (
	AdminSubjectsPath = "/v1/subjects/" // + suppress | unsuppress | erase | show | access
	AdminRightsLog    = "/v1/rights-log"
	// MinAdminTokenLen is the shortest admin token accepted.
	MinAdminTokenLen = 16
	maxAdminBody     = 64 << 10
)

// AdminToken is one admin API credential. Name is written to the rights
// log as the actor of every change made with it.
type AdminToken struct {
	Name   string
	Secret []byte
}

// RightsAPI is the data-subject admin API: suppress, unsuppress, erase,
// show (access report) and the rights-request log, behind bearer tokens
// compared in constant time. With no tokens it refuses every call.
type RightsAPI struct {
	p       *Proxy
	tokens  []tokenHash
	vendors map[string][]*erasure.Vendor // by tenant
	// subjects serialises the vendor deletions of one subject in this
	// process (the registry's claims do so across instances), so that a
	// second erasure waits for the first one's answers.
	subjects subjectLocks
	// instance names this process in the claims it writes on vendor
	// calls, so that the fleet's other instances leave them alone.
	instance string
	creds    map[string]VendorCredentials // CleverTap accounts of the access document
	access   []UpstreamAccess             // vendors of the access document (admin_access.go)
}

type tokenHash struct {
	name string
	sum  [sha256.Size]byte
}

// RightsAPIOption configures a RightsAPI.
type RightsAPIOption func(*RightsAPI)

// WithAdminTokens sets the accepted bearer tokens.
func WithAdminTokens(tokens ...AdminToken) RightsAPIOption {
	return func(a *RightsAPI) {
		for _, t := range tokens {
			a.tokens = append(a.tokens, hashToken(t))
		}
	}
}

// WithVendorErasure makes admin erasures also delete the subject at every
// vendor configured for its tenant (vendors, by tenant name).
func WithVendorErasure(vendors map[string][]*erasure.Vendor) RightsAPIOption {
	return func(a *RightsAPI) { a.vendors = vendors }
}

// NewRightsAPI builds the admin API over p's rights registry (which may be
// absent: the API then says so). Tokens must have a name and at least
// MinAdminTokenLen bytes.
func NewRightsAPI(p *Proxy, tokens []AdminToken, opts ...RightsAPIOption) (*RightsAPI, error) {
	var errs []error
	names := map[string]bool{}
	for i, t := range tokens {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("admin_tokens[%d].name: required (it is written to the rights log)", i))
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("admin_tokens[%d].name: %q is used twice; names tell who did what in the rights log", i, t.Name))
		case len(t.Secret) < MinAdminTokenLen:
			errs = append(errs, fmt.Errorf("admin_tokens[%d] (%s): the token has %d bytes, at least %d are needed (openssl rand -hex 32)", i, t.Name, len(t.Secret), MinAdminTokenLen))
		}
		names[t.Name] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a := &RightsAPI{p: p, instance: newInstanceID()}
	WithAdminTokens(tokens...)(a)
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// subjectLocks are mutexes by subject key, created on demand and dropped
// when unused: erasures of different subjects never wait for each other.
type subjectLocks struct {
	mu sync.Mutex
	m  map[rights.Key]*subjectLock
}

type subjectLock struct {
	sync.Mutex
	users int // holders and waiters, under subjectLocks.mu
}

// lock locks the subject k and returns its unlock.
func (l *subjectLocks) lock(k rights.Key) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[rights.Key]*subjectLock{}
	}
	e := l.m[k]
	if e == nil {
		e = &subjectLock{}
		l.m[k] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
}

// newInstanceID is a random id for this process's claims (no host name:
// it goes to the rights log).
func newInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "i-" + hex.EncodeToString(b[:])
}

// Register mounts the API on mux.
func (a *RightsAPI) Register(mux *http.ServeMux) {
	for _, action := range []string{"suppress", "unsuppress", "erase", "show"} {
		mux.HandleFunc(AdminSubjectsPath+action, a.guard(http.MethodPost, func(w http.ResponseWriter, r *http.Request, actor string) {
			a.subject(w, r, action, actor)
		}))
	}
	mux.HandleFunc(AdminRightsLog, a.guard(http.MethodGet, a.logExport))
	mux.HandleFunc(AdminAccessPath, a.guard(http.MethodPost, a.accessDoc))
}

// guard checks the method, the token and that a registry exists.
func (a *RightsAPI) guard(method string, h func(w http.ResponseWriter, r *http.Request, actor string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(a.tokens) == 0 {
			adminError(w, http.StatusForbidden, "admin_api_disabled", "the rights admin API is disabled: configure admin_tokens (each with a name and a secret) to enable it")
			return
		}
		actor, ok := a.authenticate(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="consentry-admin"`)
			if r.Header.Get("Authorization") == "" {
				adminError(w, http.StatusUnauthorized, "missing_token", "send Authorization: Bearer <admin token>")
			} else {
				adminError(w, http.StatusUnauthorized, "invalid_token", "the bearer token is not one of admin_tokens")
			}
			return
		}
		if r.Method != method {
			w.Header().Set("Allow", method)
			adminError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+method)
			return
		}
		if a.p.rights == nil {
			adminError(w, http.StatusNotFound, "rights_disabled", "the data-subject registry is disabled (rights.disabled)")
			return
		}
		h(w, r, actor)
	}
}

// authenticate compares the bearer token with every configured token in
// constant time (hashes, so that lengths leak nothing) and returns the
// matching token's name.
func (a *RightsAPI) authenticate(header string) (string, bool) {
	return authenticate(a.tokens, header)
}

func hashToken(t AdminToken) tokenHash { return tokenHash{name: t.Name, sum: sha256.Sum256(t.Secret)} }

// authenticate finds the bearer token of header among tokens, in constant
// time, and returns its name.
func authenticate(tokens []tokenHash, header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	name, found := "", 0
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]) == 1 {
			name, found = tokens[i].name, 1
		}
	}
	return name, found == 1
}

// SubjectRequest names one subject: a tenant and an identity or a device id.
type SubjectRequest struct {
	Tenant   string  `json:"tenant"`
	Identity *string `json:"identity,omitempty"`
	Device   *string `json:"device,omitempty"`
}

// SubjectResponse is the answer of the subject endpoints.
type SubjectResponse struct {
	Action string        `json:"action"`
	Report rights.Report `json:"report"`
	// Called are the vendors an erasure called this time (the others had
	// accepted before, or had nothing to delete): report.vendorErasures
	// holds every vendor's state.
	// An erase answer always has it, empty when nothing was called.
	Called []string `json:"vendorsCalled,omitzero"`
	// InProgress are the vendors another instance is calling for the
	// subject (a live claim in the registry): not called this time.
	InProgress []string `json:"vendorsInProgress,omitempty"`
	// Note says what an erasure did not do at the vendors, and why (no
	// vendor configured, a vendor no longer configured, ...), and that the
	// registry has no record of a device named.
	Note string `json:"note,omitempty"`
	// Warnings name what Consentry cannot undo: an unsuppress does not
	// lift a suppression a vendor keeps on its side.
	Warnings []string  `json:"warnings,omitempty"`
	Error    *adminErr `json:"error,omitempty"`
}

// addNote appends one sentence to the answer's note.
func (r *SubjectResponse) addNote(s string) {
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += s
}

// adminSubject is a validated subject request: the tenant, the identifier
// and its registry key.
type adminSubject struct {
	req    SubjectRequest
	tenant *Tenant
	device bool
	id     []byte
	kind   rights.Kind
	ref    rights.Ref
}

// readSubject decodes and checks a {"tenant", "identity" | "device"} body;
// on a bad one it has answered the error and reports false.
func (a *RightsAPI) readSubject(w http.ResponseWriter, r *http.Request) (adminSubject, bool) {
	var s adminSubject
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.req); err != nil {
		adminError(w, http.StatusBadRequest, "invalid_request", "the body must be a JSON object {\"tenant\", \"identity\" | \"device\"}: "+jsonProblem(err))
		return s, false
	}
	if _, err := dec.Token(); err != io.EOF {
		adminError(w, http.StatusBadRequest, "invalid_request", "trailing data after the JSON object")
		return s, false
	}
	s.tenant = a.p.tenants[s.req.Tenant]
	switch {
	case s.req.Tenant == "":
		adminError(w, http.StatusBadRequest, "invalid_subject", "name the tenant")
		return s, false
	case s.tenant == nil:
		adminError(w, http.StatusNotFound, "unknown_tenant", "the tenant is not configured")
		return s, false
	case (s.req.Identity == nil) == (s.req.Device == nil):
		adminError(w, http.StatusBadRequest, "invalid_subject", "name exactly one of identity or device")
		return s, false
	}
	s.device = s.req.Device != nil
	s.id, s.kind = []byte(ptrValue(s.req.Identity)), rights.KindIdentity
	if s.device {
		s.id, s.kind = []byte(*s.req.Device), rights.KindDevice
	}
	if err := rights.ValidateIdentifier(s.id); err != nil {
		adminError(w, http.StatusBadRequest, "invalid_identifier", err.Error())
		return s, false
	}
	reg := a.p.rights.Registry()
	s.ref = rights.Ref{Tenant: s.req.Tenant}
	if s.device {
		s.ref.Device, s.ref.HasDevice = reg.Key(s.req.Tenant, s.kind, s.id), true
	} else {
		s.ref.Identity, s.ref.HasIdentity = reg.Key(s.req.Tenant, s.kind, s.id), true
	}
	return s, true
}

// registryError answers a failed registry call: 400 for a subject the
// registry refuses, 503 when it cannot read or write.
func registryError(w http.ResponseWriter, log *slog.Logger, err error) {
	status, code := http.StatusServiceUnavailable, "rights_unavailable"
	if errors.Is(err, rights.ErrInvalidSubject) {
		status, code = http.StatusBadRequest, "invalid_subject"
	}
	log.Warn("rights admin request failed", "status", status, "error", err.Error())
	adminError(w, status, code, err.Error())
}

type adminErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *RightsAPI) subject(w http.ResponseWriter, r *http.Request, action, actor string) {
	sub, ok := a.readSubject(w, r)
	if !ok {
		return
	}
	req, tenant, device, id, kind, ref := sub.req, sub.tenant, sub.device, sub.id, sub.kind, sub.ref
	reg := a.p.rights.Registry()
	var (
		rep      rights.Report
		err      error
		warnings []string
		known    = true // erase: whether the registry held the subject before
	)
	switch action {
	case "suppress":
		rep, err = reg.Suppress(ref, actor)
	case "unsuppress":
		var before rights.Report
		if before, err = reg.Peek(ref); err == nil {
			rep, err = reg.Unsuppress(ref, actor)
			warnings = vendorSuppressions(before)
		}
	case "erase":
		var before rights.Report
		if before, err = reg.Peek(ref); err == nil {
			rep, err = reg.Erase(ref, actor, true)
			known = before.Known
		}
	case "show":
		rep, err = reg.Show(ref, actor)
	}
	log := a.p.log.With("action", action, "tenant", req.Tenant, "actor", actor, "kind", kind.String())
	if err != nil {
		registryError(w, log, err)
		return
	}
	resp := SubjectResponse{Action: action, Report: rep, Warnings: warnings}
	if device && (!known || (action == "show" && !rep.Known)) {
		resp.addNote(unknownDeviceNote)
	}
	status := http.StatusOK
	if action == "erase" {
		status = a.eraseAtVendors(&resp, ref, actor, tenant, device, id)
	}
	log.Info("rights admin request", "subject", resp.Report.Subject, "status", status)
	writeJSON(w, status, resp)
}

// eraseAtVendors deletes an erased subject at every vendor configured for
// its tenant that has not accepted the deletion yet, with the identifier
// translated as that vendor's traffic carries it, and records each
// vendor's state (requested, then accepted or failed; skipped when there is
// nothing to delete). It never undoes the local erasure: a failure is
// answered 502 and the same call retries the vendors that did not accept.
func (a *RightsAPI) eraseAtVendors(resp *SubjectResponse, ref rights.Ref, actor string, t *Tenant, device bool, id []byte) int {
	resp.Called = []string{}
	vendors := a.vendors[t.Name]
	if len(vendors) == 0 {
		resp.addNote("no vendor is configured for this tenant (tenants." + t.Name + ".rights.vendors): delete the subject at each vendor yourself, with the identifier as the policy forwarded it")
		return http.StatusOK
	}
	if a.p.policy == nil || !a.p.policy.Ready() {
		resp.Error = &adminErr{Code: "policy_unavailable", Message: "the subject is erased and suppressed in Consentry, but no valid policy is loaded to translate the identifier for the vendors; repeat the erase when the policy is loaded"}
		return http.StatusServiceUnavailable
	}
	key := ref.Identity
	if device {
		key = ref.Device
	}
	defer a.subjects.lock(key)()
	reg := a.p.rights.Registry()
	rep, err := reg.Peek(ref) // the state after any erasure that held the lock
	if err != nil {
		resp.Error = &adminErr{Code: "rights_unavailable", Message: "the subject is erased and suppressed in Consentry, but its vendor deletions cannot be read: " + err.Error()}
		return http.StatusServiceUnavailable
	}
	accepted := map[string]bool{}
	for _, v := range rep.VendorErasures {
		accepted[v.Vendor] = v.Status == rights.VendorAccepted.String()
	}

	type call struct {
		v   *erasure.Vendor
		ids [][]byte
		out erasure.Outcome
	}
	var (
		calls   []*call
		names   []string               // the vendors to call, once claimed
		decided []rights.VendorErasure // decided without a call
		byUser  []string               // vendors that cannot delete a device
	)
	rw := masking.AcquireRewriter()
	env := formats.Env{Tenant: t.Name, Planner: a.p.policy, Applier: t.Applier, Records: a.p.policy, Rewriter: rw, Stats: &masking.Stats{}}
	for _, v := range vendors {
		if accepted[v.Name()] {
			continue
		}
		ids, err := v.SubjectIDs(nil, &env, device, id)
		switch {
		case errors.Is(err, erasure.ErrDeviceUnsupported):
			decided = append(decided, rights.VendorErasure{Vendor: v.Name(), State: rights.VendorSkipped, Reason: err.Error()})
			byUser = append(byUser, v.Name())
		case err != nil:
			decided = append(decided, rights.VendorErasure{Vendor: v.Name(), State: rights.VendorFailed, Reason: "cannot translate the identifier: " + formats.AsError(err).Msg})
		case len(ids) == 0:
			decided = append(decided, rights.VendorErasure{Vendor: v.Name(), State: rights.VendorSkipped, Reason: "the policy never forwards this identifier to " + v.Name() + ": nothing to delete"})
		default:
			calls = append(calls, &call{v: v, ids: ids})
			names = append(names, v.Name())
		}
	}
	masking.ReleaseRewriter(rw)
	if len(byUser) > 0 {
		// Erasing the device erased its linked identities in Consentry,
		// but these vendors hold the person under the user id only.
		resp.addNote("the identities linked to this device (report.linkedIdentities) are erased and suppressed in Consentry but were not deleted at " + strings.Join(byUser, ", ") + ", which delete by user id only: erase each identity (identity, not device) to delete the person there")
	}
	var claim rights.Claim
	if len(decided) > 0 || len(names) > 0 {
		// Claim each call in the shared store first: an instance of the
		// fleet that erases the same subject meanwhile sees the claim and
		// leaves the vendor alone (in_progress) until it expires.
		until := time.Now().Add(a.claimTTL())
		if claim, rep, err = reg.ClaimVendors(ref, actor, a.instance, until, names, decided); err != nil {
			resp.Error = &adminErr{Code: "rights_unavailable", Message: "the subject is erased and suppressed in Consentry, but its vendor deletions cannot be recorded (nothing was sent to the vendors): " + err.Error()}
			return http.StatusServiceUnavailable
		}
		calls = slices.DeleteFunc(calls, func(c *call) bool { return !slices.Contains(claim.Claimed, c.v.Name()) })
	}
	if len(calls) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.p.timeout+5*time.Second)
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Go(func() { c.out = c.v.Do(ctx, c.ids, device) })
		}
		wg.Wait()
		cancel()
		outcomes := make([]rights.VendorErasure, 0, len(calls))
		for _, c := range calls {
			ve := rights.VendorErasure{Vendor: c.v.Name(), State: rights.VendorFailed, HTTPStatus: c.out.HTTPStatus, Job: c.out.Job, Reason: c.out.Reason}
			if c.out.Accepted {
				ve.State, ve.UnknownID = rights.VendorAccepted, c.out.UnknownID
			}
			if ve.UnknownID {
				resp.Warnings = append(resp.Warnings, ve.Vendor+" accepted the deletion but did not know the id: nothing was deleted there. The person may never have reached it, or reached it under another pseudonym (another key generation, or a policy that changed since): check report.vendorErasures and the vendor")
			}
			outcomes = append(outcomes, ve)
			resp.Called = append(resp.Called, c.v.Name())
			a.p.log.Info("vendor deletion", "tenant", t.Name, "actor", actor, "subject", rep.Subject, "vendor", ve.Vendor,
				"vendor_status", ve.State.String(), "http_status", ve.HTTPStatus, "job", ve.Job, "reason", ve.Reason)
		}
		if rep, err = reg.VendorErasures(ref, actor, outcomes); err != nil {
			resp.Error = &adminErr{Code: "rights_unavailable", Message: "the subject is erased and suppressed in Consentry and the vendors were called, but their answers cannot be recorded; repeat the erase: " + err.Error()}
			return http.StatusServiceUnavailable
		}
	}
	resp.Report = rep
	configured := map[string]bool{}
	for _, v := range vendors {
		configured[v.Name()] = true
	}
	var failed, gone []string
	for i, v := range rep.VendorErasures {
		switch {
		case v.Status == rights.VendorAccepted.String() || v.Status == rights.VendorSkipped.String():
		case slices.Contains(claim.Busy, v.Vendor):
			resp.Report.VendorErasures[i].Status = "in_progress"
			resp.InProgress = append(resp.InProgress, v.Vendor)
		case !configured[v.Vendor]:
			// Removed from the configuration since: it cannot be retried,
			// and must not hold every later erase of the subject at 502.
			gone = append(gone, v.Vendor)
		default:
			failed = append(failed, v.Vendor)
		}
	}
	if len(gone) > 0 {
		resp.addNote("not configured: " + strings.Join(gone, ", ") + " (tenants." + t.Name + ".rights.vendors no longer names them) did not accept an earlier deletion and is not retried; delete the subject there yourself, or configure the vendor again and repeat the erase")
	}
	if len(failed) > 0 {
		resp.Error = &adminErr{Code: "upstream_erase_failed", Message: "the subject is erased and suppressed in Consentry, but the deletion failed at " + strings.Join(failed, ", ") + " (see report.vendorErasures); repeat the erase to retry them: vendors that accepted are not called again"}
		return http.StatusBadGateway
	}
	if len(resp.InProgress) > 0 {
		resp.addNote("in progress: another instance is calling " + strings.Join(resp.InProgress, ", ") + " for this subject (see report.vendorErasures claimedUntil); repeat the erase after that to see the outcome")
		return http.StatusAccepted
	}
	if len(resp.Called) == 0 {
		if len(accepted) > 0 && !slices.ContainsFunc(vendors, func(v *erasure.Vendor) bool { return !accepted[v.Name()] }) {
			resp.addNote("every configured vendor had already accepted; nothing was called")
		} else if len(byUser) == 0 && len(gone) == 0 {
			resp.addNote("nothing was called: every configured vendor had already accepted or has nothing to delete (see report.vendorErasures)")
		}
	}
	return http.StatusOK
}

// unknownDeviceNote answers a device the registry holds nothing on. It
// never repeats the id: the usual cause is an id typed without the prefix
// the SDK sends.
const unknownDeviceNote = "the registry held no record of this device before this request. Consentry knows a device by its CleverTap ID exactly as the SDK sends it (header g, objectId), prefix included: " +
	"Android __g…, __…, __h…, __i…; iOS -…, -v…, -g…, -h…, -i…; web a 32-hex id (cookie WZRK_G) or _w_… for a custom id. An id without its prefix matches nothing"

// vendorSuppressions warns, for an unsuppress, about each vendor whose
// accepted deletion of the subject (in before, the report ahead of the
// unsuppress) also blocks the person's future data at the vendor: lifting
// it there is the operator's job (README "Erasure at every vendor").
func vendorSuppressions(before rights.Report) []string {
	var out []string
	for _, v := range before.VendorErasures {
		if v.Status != rights.VendorAccepted.String() || !erasure.SuppressesFutureData(v.Vendor) {
			continue
		}
		job := ""
		if v.Job != "" {
			job = " (job " + v.Job + ")"
		}
		out = append(out, v.Vendor+" still suppresses this subject: its accepted deletion"+job+" also blocks future data there, and Consentry does not lift it; "+erasure.Unsuppress[v.Vendor])
	}
	return out
}

// claimTTL is how long a claim on a vendor call holds: twice the call's
// bound, so that a live call is never taken over and a stopped instance's
// claim soon is.
func (a *RightsAPI) claimTTL() time.Duration { return 2 * (a.p.timeout + 5*time.Second) }

// logExport streams the rights-request log as {"entries":[...],
// "complete":true}. A read error after the first entry ends the array with
// "complete":false and the error.
func (a *RightsAPI) logExport(w http.ResponseWriter, r *http.Request, actor string) {
	var since time.Time
	if s := r.URL.Query().Get("since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			adminError(w, http.StatusBadRequest, "invalid_since", "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			return
		}
	}
	tenant := r.URL.Query().Get("tenant")
	if tenant != "" && a.p.tenants[tenant] == nil {
		adminError(w, http.StatusNotFound, "unknown_tenant", "the tenant is not configured")
		return
	}
	next, stop := iter.Pull2(a.p.rights.Registry().Log(since))
	defer stop()
	e, err, ok := next()
	if ok && err != nil {
		adminError(w, http.StatusServiceUnavailable, "rights_unavailable", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	buf.WriteString(`{"entries":[`)
	n := 0
	for ; ok; e, err, ok = next() {
		if err != nil {
			break
		}
		if tenant != "" && e.Tenant != tenant {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		b, _ := json.Marshal(e)
		buf.Write(b)
		n++
		if buf.Len() > 32<<10 {
			_, _ = w.Write(buf.Bytes())
			buf.Reset()
		}
	}
	if err != nil {
		b, _ := json.Marshal(adminErr{Code: "rights_unavailable", Message: err.Error()})
		fmt.Fprintf(&buf, `],"count":%d,"complete":false,"error":%s}`, n, b)
	} else {
		fmt.Fprintf(&buf, `],"count":%d,"complete":true}`, n)
	}
	_, _ = w.Write(buf.Bytes())
	a.p.log.Info("rights log exported", "actor", actor, "entries", n, "tenant", tenant)
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// jsonProblem describes a decoding error without quoting input values.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var me *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case errors.As(err, &me):
		return fmt.Sprintf("body over %d bytes", me.Limit)
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}

func adminError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]adminErr{"error": {Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
