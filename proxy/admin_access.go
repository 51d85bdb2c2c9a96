package proxy

import (
	"encoding/json"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/rights"
)

// AdminAccessPath answers a data-subject access request with one document:
// Consentry's own report and what each vendor holds on the subject.
const AdminAccessPath = AdminSubjectsPath + "access"

// maxAccessLogEntries bounds the rights-log entries of one access document
// (the most recent are kept).
const maxAccessLogEntries = 1000

// UpstreamAccess tells the admin API how to ask a vendor what it holds on
// a subject; the format package knows the wire (clevertap.AppendProfileQuery).
type UpstreamAccess struct {
	Vendor string // the part's name in the document ("clevertap")
	Format string // the tenant upstream and policy format to use ("clevertap.rest")
	Path   string // the vendor's lookup path
	// Query appends the lookup's query string for one subject (a device id
	// when device is true) with the identifier translated as uploads carry
	// it; names learns pseudonym → identifier. ok false: the policy removes
	// the identifier, the vendor never received it.
	Query func(dst []byte, env *formats.Env, device bool, id []byte, names map[string][]byte) (query []byte, ok bool, err error)
	// Headers are the vendor's authentication headers for a call on behalf
	// of account.
	Headers func(account string, secret []byte) [][2]string
}

// WithUpstreamAccess adds a vendor to the access document, for tenants
// that have credentials in creds.
func WithUpstreamAccess(u UpstreamAccess, creds map[string]VendorCredentials) RightsAPIOption {
	return func(a *RightsAPI) {
		a.access = append(a.access, u)
		if a.creds == nil {
			a.creds = creds
		}
	}
}

// AccessDocument is the answer of AdminAccessPath. Parts has one entry per
// source, Consentry first; a vendor that fails has an error part and the
// document is still answered.
type AccessDocument struct {
	Action  string       `json:"action"` // "access"
	Tenant  string       `json:"tenant"`
	Subject string       `json:"subject"` // the keyed-hash prefix, never the identifier
	Time    time.Time    `json:"time"`
	Parts   []AccessPart `json:"parts"`
	// Note: the registry has no record of the device named (the id is
	// probably not as the SDK sends it).
	Note string `json:"note,omitempty"`
}

// AccessPart is what one source holds on the subject.
type AccessPart struct {
	Vendor string    `json:"vendor"` // "consentry", "clevertap", ...
	Time   time.Time `json:"time"`   // when the source answered
	// Status: "ok" (data holds the answer; found false: the vendor holds
	// nothing on the subject, and there is no data), "requested" (the
	// vendor exports asynchronously: it accepted the request, job names
	// it, data holds its answer; the export reaches the controller through
	// the vendor's own channel), "error" (the source failed: error says
	// how; data holds the vendor's own error body when it sent JSON),
	// "skipped" (nothing to ask: error says why).
	Status     string `json:"status"`
	HTTPStatus int    `json:"httpStatus,omitempty"` // the vendor's HTTP status
	Found      *bool  `json:"found,omitempty"`      // vendor parts answered "ok"
	Job        string `json:"job,omitempty"`        // "requested" parts: the vendor's task id
	// Dropped counts the records of the vendor's answer that were about
	// someone other than the pseudonym asked for (a vendor that ignored
	// the filter, merged persons): removed unopened.
	Dropped int             `json:"dropped,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *adminErr       `json:"error,omitempty"`
}

// ConsentryAccess is the data of Consentry's own part.
type ConsentryAccess struct {
	Report rights.Report `json:"report"`
	// RightsLog are the subject's rights-log entries, oldest first (at most
	// maxAccessLogEntries, the most recent; RightsLogTruncated says so).
	RightsLog          []rights.LogEntry `json:"rightsLog"`
	RightsLogTruncated bool              `json:"rightsLogTruncated,omitempty"`
}

// accessDoc serves AdminAccessPath.
func (a *RightsAPI) accessDoc(w http.ResponseWriter, r *http.Request, actor string) {
	sub, ok := a.readSubject(w, r)
	if !ok {
		return
	}
	req, tenant, device, id, kind, ref := sub.req, sub.tenant, sub.device, sub.id, sub.kind, sub.ref
	reg := a.p.rights.Registry()
	log := a.p.log.With("action", "access", "tenant", req.Tenant, "actor", actor, "kind", kind.String())
	rep, err := reg.Show(ref, actor)
	if err != nil {
		registryError(w, log, err)
		return
	}
	own := ConsentryAccess{Report: rep}
	// The rights package reads its log in order only (no per-subject
	// index): one pass, keeping the subject's most recent entries.
	var logErr error
	own.RightsLog, own.RightsLogTruncated, logErr = lastEntries(reg.Log(time.Time{}), func(e rights.LogEntry) bool {
		return e.Tenant == req.Tenant && e.Subject == rep.Subject
	}, maxAccessLogEntries)
	if logErr != nil {
		log.Warn("rights admin request failed", "status", http.StatusServiceUnavailable, "error", logErr.Error())
		adminError(w, http.StatusServiceUnavailable, "rights_unavailable", logErr.Error())
		return
	}
	data, _ := json.Marshal(own)
	doc := AccessDocument{Action: "access", Tenant: req.Tenant, Subject: rep.Subject, Time: time.Now().UTC()}
	if device && !rep.Known {
		doc.Note = unknownDeviceNote
	}
	doc.Parts = append(doc.Parts, AccessPart{Vendor: "consentry", Time: time.Now().UTC(), Status: "ok", Data: data})
	others := a.startVendorParts(tenant, device, id) // rights.vendors but CleverTap, concurrently
	for _, u := range a.access {
		part, held := a.vendorPart(tenant, u, device, id)
		defer a.p.inFlightBytes.Add(-held) // the opened answer counts until it is written
		doc.Parts = append(doc.Parts, part)
	}
	parts, held := others()
	defer a.p.inFlightBytes.Add(-held)
	doc.Parts = append(doc.Parts, parts...)
	for _, part := range doc.Parts[1:] {
		code := ""
		if part.Error != nil {
			code = part.Error.Code
		}
		log.Info("vendor access part", "vendor", part.Vendor, "part_status", part.Status, "http_status", part.HTTPStatus, "code", code)
	}
	log.Info("rights admin request", "subject", rep.Subject, "status", http.StatusOK)
	writeJSON(w, http.StatusOK, doc)
	for _, part := range doc.Parts {
		clear(part.Data) // opened values: Consentry's buffers are wiped once written
	}
}

// lastEntries returns the last max entries of log that match, oldest
// first, and whether there were more. A ring buffer: each match costs O(1)
// however long the log.
func lastEntries(log iter.Seq2[rights.LogEntry, error], match func(rights.LogEntry) bool, max int) ([]rights.LogEntry, bool, error) {
	var ring []rights.LogEntry
	n := 0 // matches seen
	for e, err := range log {
		if err != nil {
			return nil, false, err
		}
		if !match(e) {
			continue
		}
		if len(ring) < max {
			ring = append(ring, e)
		} else {
			ring[n%max] = e
		}
		n++
	}
	if n <= max {
		return ring, false, nil
	}
	// ring[n%max] is the oldest kept entry.
	k := n % max
	out := make([]rights.LogEntry, 0, max)
	return append(append(out, ring[k:]...), ring[:k]...), true, nil
}

// vendorPart asks one vendor for what it holds on the subject. held bytes
// of the part count in the in-flight budget until the caller subtracts them.
func (a *RightsAPI) vendorPart(t *Tenant, u UpstreamAccess, device bool, id []byte) (_ AccessPart, held int64) {
	part := AccessPart{Vendor: u.Vendor}
	done := func(status, code, msg string) (AccessPart, int64) {
		part.Time, part.Status = time.Now().UTC(), status
		if code != "" {
			part.Error = &adminErr{Code: code, Message: msg}
		}
		return part, held
	}
	cred, ok := a.creds[t.Name]
	if !ok || len(cred.Secret) == 0 {
		return done("skipped", "no_vendor_credentials", "the tenant has no vendor credentials (tenants."+t.Name+".rights.clevertap_passcode): Consentry cannot ask "+u.Vendor)
	}
	up := t.upstreamFor(u.Format)
	if up == nil {
		return done("error", "no_upstream", "the tenant has no upstream for "+u.Format)
	}
	if a.p.policy == nil || !a.p.policy.Ready() {
		return done("error", "policy_unavailable", "no valid policy is loaded to translate the identifier")
	}
	rw := masking.AcquireRewriter()
	rw.SetLimits(&a.p.cfg.Limits)
	env := formats.Env{Tenant: t.Name, Planner: a.p.policy, Applier: t.Applier, Records: a.p.policy, Rewriter: rw, Stats: &masking.Stats{}}
	names := map[string][]byte{}
	query, ok, err := u.Query(nil, &env, device, id, names)
	masking.ReleaseRewriter(rw)
	switch {
	case err != nil:
		fe := formats.AsError(err)
		return done("error", fe.Code, "cannot build the vendor lookup: "+fe.Msg)
	case !ok:
		return done("skipped", "identifier_not_forwarded", "the tenant's policy removes this identifier from uploads: "+u.Vendor+" never received it")
	}
	reply, ferr := a.p.fetchAccess(t, up, http.MethodGet, u.Path, query, nil, u.Headers(cred.Account, cred.Secret), names, nil, nil)
	held = reply.Held
	part.HTTPStatus = reply.Status
	if ferr != nil {
		if k, ok := accessBudget(ferr); ok {
			a.p.metrics.budgetCtrs[k].Inc() // as the proxied access routes count it
		}
		return done("error", ferr.Code, ferr.Msg)
	}
	// CleverTap answers some failures with HTTP 200 and "status":"fail".
	var answer vendorAnswer
	_ = json.Unmarshal(reply.Body, &answer) // a JSON array or scalar has no status
	found := true
	switch {
	case answer.notFound(reply.Status):
		found = false
		clear(reply.Body) // nothing of the subject in it; not returned
	case reply.Status/100 != 2 || answer.Status == "fail":
		part.Data = json.RawMessage(reply.Body)
		return done("error", "vendor_error", u.Vendor+" refused the lookup (see data for its answer)")
	default:
		part.Data = json.RawMessage(reply.Body)
	}
	part.Found = &found
	return done("ok", "", "")
}

// VendorCredentials let Consentry call a tenant's vendor account itself.
type VendorCredentials struct {
	Account string
	Secret  []byte
}

// vendorAnswer is what the document reads of a vendor's JSON answer.
type vendorAnswer struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Code   any    `json:"code"`
}

// notFound reports whether the answer says the vendor holds no profile:
// "status":"fail" with code 404 or an error that says "not found", in an
// HTTP 200 or 404. CleverTap's exact wording is not documented (UNVERIFIED),
// so both are accepted; any other failure stays an error.
func (v vendorAnswer) notFound(httpStatus int) bool {
	if v.Status != "fail" || (httpStatus != 200 && httpStatus != 404) {
		return false
	}
	switch c := v.Code.(type) {
	case float64:
		if c == 404 {
			return true
		}
	case string:
		if c == "404" {
			return true
		}
	}
	return strings.Contains(strings.ToLower(v.Error), "not found")
}
