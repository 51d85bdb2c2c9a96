// Package formats holds one adapter per analytics wire format. An adapter
// knows its vendor's JSON: it splits a body into records, names their kind,
// assigns canonical classes to the vendor's keys, finds the data subject of
// each record, and re-encodes the result exactly as the vendor expects. It
// never decides what to mask: that is the policy's job, applied by the
// masking rewriter.
package formats

import (
	"errors"
	"fmt"
	"github.com/consentry/consentry/budget"

	"github.com/consentry/consentry/masking"
)

// Request is what an adapter may read of an HTTP request besides its body.
// The proxy implements it over fasthttp; values are views valid only during
// the call.
type Request interface {
	Header(name string) []byte
	Query(name string) []byte
	// QueryString is the raw query string, without '?'.
	QueryString() []byte
}

// RecordPolicy gives the record-level decision (keep or drop a whole record).
type RecordPolicy interface {
	RecordDecision(tenant, format, kind, name string) masking.Decision
}

// ChargedRecordPolicy is a RecordPolicy that charges a cache miss to the
// request's budget (the policy engine); past it, the decision is drop under
// budget.Rule and the request is refused.
type ChargedRecordPolicy interface {
	RecordDecisionCharged(tenant, format, kind, name string, u *budget.Usage) masking.Decision
}

// Subject names the data subject of a record. Values are views into the
// body; implementations must copy what they keep.
type Subject struct {
	Identity []byte // the user's identity, if the record names one
	Device   []byte // the device or anonymous id
	Kind     string // record kind
	Name     string // event name
	// System marks records the vendor's SDK still sends for a subject who
	// opted out with "allow system events" (CleverTap: App Launched,
	// Notification Viewed, ..., profile pushes, pings, data records).
	System bool
}

// Signals are the rights-relevant facts a record carries.
type Signals struct {
	OptOut      int8 // +1 opted out, -1 opted back in, 0 no signal
	AllowSystem bool // ct_allow_sys_events_and_communication with the opt-out
	// Marketing holds the consent the record states per channel, indexed
	// like MarketingChannels: +1 granted, -1 revoked, 0 not stated. The
	// adapter maps its vendor's flags (CleverTap MSG-dndPhone:true is a
	// revocation of dnd-phone: "may this number be contacted at all").
	Marketing [NumMarketingChannels]int8
}

// MarketingChannels are the marketing channels, in index order; they are
// the rights registry's channels (rights.Channel) by name and order.
var MarketingChannels = [NumMarketingChannels]string{"push", "push-all", "email", "sms", "whatsapp", "dnd-phone", "dnd-email"}

// NumMarketingChannels is the number of marketing channels.
const NumMarketingChannels = 7

// HasMarketing reports whether any marketing flag was seen.
func (s *Signals) HasMarketing() bool { return s.Marketing != [NumMarketingChannels]int8{} }

// Subjects is the rights registry as the adapters use it.
type Subjects interface {
	// Admit learns what the record teaches (opt-out, opt-in, marketing
	// consent, identity-device link) and says whether it may be forwarded.
	// It never admits a suppressed subject's record. A record carrying an
	// opt-out is forwarded (so the vendor learns it) unless its subject
	// was already suppressed. An error means the state is unknown or a
	// signal could not be stored durably: the request must fail (5xx) so
	// that the SDK retries; nothing is forwarded.
	Admit(tenant string, s Subject, sig Signals) (bool, error)
}

// CampaignTarget names one target of a campaign call.
type CampaignTarget struct {
	Identity []byte
	Device   []byte
}

// Rights is the rights registry as the rights routes (erasure, campaigns)
// use it.
type Rights interface {
	Subjects
	// Erase records a deletion request for the subject; forwarded says
	// whether the deletion names it to the vendor (the policy may drop the
	// identifier). It takes effect only by authority: at once (durably,
	// before the deletion is forwarded) when the request carried the
	// tenant's vendor credential, otherwise once the vendor accepted the
	// forwarded deletion (2xx). A subject neither authorised nor forwarded
	// is refused with a *Error (403): nothing of the request is forwarded.
	Erase(tenant string, s Subject, actor string, forwarded bool) error
	// CampaignAllowed says whether a campaign on channel ("push", "email",
	// "sms", "whatsapp") may reach the target.
	CampaignAllowed(tenant string, t CampaignTarget, channel string) (bool, error)
}

// Env carries what an adapter needs to clean one request.
type Env struct {
	Tenant   string
	Planner  masking.Planner
	Applier  masking.Applier
	Records  RecordPolicy
	Subjects Subjects // nil: no rights registry
	// Rights is the same registry for the rights routes (nil: none).
	Rights   Rights
	Rewriter *masking.Rewriter
	Stats    *masking.Stats
	// OnRecord, when set, sees each record's plan (explain uses it).
	OnRecord func(kind, name string, p *masking.Plan)

	urls urlApplier // the Applier of the record being cleaned (see applier)
}

// Result counts what happened to the records of one request.
type Result struct {
	RecordsIn     int
	RecordsOut    int
	Suppressed    int // dropped for a data subject's rights
	PolicyDropped int // dropped by record_decision
	// AllDropped means the request carried data records and none is left:
	// the proxy answers with the vendor's own success reply instead of
	// forwarding.
	AllDropped bool
	// Verbose is set by adapters whose vendor answers differently when the
	// request body asked for a verbose reply (Mixpanel's verbose=1 in a
	// form body); Route.Reply reads it.
	Verbose bool
}

// Dropped is the number of records removed.
func (r Result) Dropped() int { return r.Suppressed + r.PolicyDropped }

// Error is a client error in a request body: malformed or inconsistent
// input that must be answered with a 4xx and never forwarded.
type Error struct {
	Status int
	Code   string // stable, snake_case
	Msg    string // never contains payload values
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds a client error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// AsError converts any error from an adapter into a client error: syntax
// errors become 400 malformed_json; other errors 400 invalid_payload.
func AsError(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	var se *masking.SyntaxError
	if errors.As(err, &se) {
		return &Error{Status: 400, Code: "malformed_json", Msg: se.Error()}
	}
	return &Error{Status: 400, Code: "invalid_payload", Msg: err.Error()}
}

// Route tells the proxy how to handle one vendor endpoint. The proxy owns
// HTTP; the route owns the vendor's knowledge.
type Route struct {
	Method string
	Path   string
	Format string // policy input.format, and the key of per-format upstreams
	// Accounts appends to dst every vendor account id the request names
	// (headers, query, body). They must all agree; none means "unknown".
	Accounts func(dst [][]byte, req Request, body []byte) [][]byte
	// AccountParams are query parameters whose payload names the account
	// and that Accounts reads through QueryString (CleverTap web's d,
	// Mixpanel's data). The proxy refuses a request that repeats one, as
	// it refuses every header and parameter Accounts reads by name twice.
	AccountParams []string
	// Unwrap removes a transport envelope (e.g. encryption in transit) and
	// returns the inner body and a function that wraps the cleaned body the
	// same way. nil: no envelope.
	Unwrap func(body []byte) (inner []byte, wrap func([]byte) ([]byte, error), err error)
	// Detect, when several routes share a method and path (Segment and
	// RudderStack both use /v1/batch), says whether the request is this
	// route's format. The first route that matches, or the only one, wins.
	Detect func(req Request, body []byte) bool
	// Clean rewrites the body; nil means the route carries no body to clean
	// (a handshake) and is forwarded without one.
	Clean func(dst, body []byte, env *Env) ([]byte, Result, error)
	// CleanQuery cleans a payload carried in the query string (GET-style
	// SDKs such as CleverTap web) and returns the new raw query string.
	CleanQuery func(dst []byte, req Request, env *Env) ([]byte, Result, error)
	// Reply builds the vendor's own success reply for a request whose
	// records were all dropped.
	Reply func(dst []byte, req Request, res Result) (body []byte, contentType string)
	// Query lists the query parameters forwarded as they are on routes
	// without CleanQuery; every other parameter is removed (a query string
	// is personal data waiting to happen: ?email=...).
	Query []string
	// Browser marks routes that browsers call cross-origin: the proxy answers
	// their CORS preflights and adds CORS headers to replies it makes itself.
	Browser bool
	// DropResponseHeaders are removed from upstream replies (e.g. redirects
	// that would make SDKs bypass the proxy).
	DropResponseHeaders []string
	// CredentialHeader names the request header that carries the vendor
	// credential (CleverTap's X-CleverTap-Passcode) on routes that change
	// rights: a request whose header matches the tenant's configured
	// credential is authorised to erase before it is forwarded.
	CredentialHeader string
	// Access marks a route that reads what the vendor holds on people (a
	// data-subject access request by server code). The proxy refuses it
	// unless the tenant switched access on and the request carries both the
	// tenant's vendor credential (CredentialHeader) and its Consentry access
	// token, forwards only what Access rebuilt, and opens the vendor's reply
	// for the controller (tokens of the tenant, pseudonyms of the
	// identifiers named).
	Access *Access
}

// Access rebuilds an access request for the vendor.
type Access struct {
	// Query appends the query string to send: identifiers translated as
	// uploads carry them. For each identifier whose pseudonym differs from
	// it, names gets pseudonym text → the identifier as a JSON string, so
	// that the reply can name the person as the caller did.
	Query func(dst []byte, req Request, env *Env, names map[string][]byte) ([]byte, error)
	// Body appends the body to forward, after checking it; nil: the route
	// takes no body.
	Body func(dst, body []byte) ([]byte, error)
}
