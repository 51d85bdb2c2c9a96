// Package vendoraccess speaks each analytics vendor's data-subject access
// API for the access document (consentry subjects access): it builds the
// calls that ask a vendor account what it holds on a person, named by the
// pseudonyms the vendor received (erasure.Vendor.SubjectIDs), and reads
// the answers. It makes no HTTP call and opens nothing: the proxy sends
// the calls, bounded and budgeted like its other access requests, and
// opens the answers with the tenant's keys before reading them.
//
// What each vendor offers differs:
//   - PostHog (Lookup): GET /api/projects/{id}/persons/?distinct_id=…,
//     one call per pseudonym; an empty results list means not found.
//   - Amplitude (Lookup): the User Profile API, GET
//     https://profile-api.amplitude.com/v1/userprofile?user_id=…
//     (user properties and cohort ids); unavailable in Amplitude's EU
//     region.
//   - Mixpanel (Export): the GDPR data retrieval is asynchronous; the
//     call starts it and the answer names the task.
//   - Segment, RudderStack (None): no access API in their public APIs.
//
// Nothing here logs; an Answer's reason never quotes the vendor's answer.
package vendoraccess

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/masking"
)

// Mode is how a vendor answers an access request.
type Mode int

const (
	// Lookup: the answer holds what the vendor has on the person.
	Lookup Mode = iota + 1
	// Export: the answer names a job; the export reaches the controller
	// through the vendor's own channel.
	Export
	// None: Consentry has no access API to call (Vendor.Reason says what
	// the controller must do).
	None
)

func (m Mode) String() string {
	switch m {
	case Lookup:
		return "lookup"
	case Export:
		return "export"
	case None:
		return "none"
	}
	return "unknown"
}

// Config is one tenant's account at a vendor (the account of
// tenants.<t>.rights.vendors.<vendor>, as erasure.Vendor.Account has it).
type Config struct {
	// BaseURL is the vendor API's scheme and host (and a path prefix):
	// the deletion API's, which the access API shares except at Amplitude
	// (see New).
	BaseURL string
	// Token is the credential: PostHog's personal API key, Amplitude's
	// secret key, Mixpanel's GDPR OAuth token.
	Token []byte
	// ProjectID is PostHog's project id.
	ProjectID string
	// ProjectToken is Mixpanel's project token.
	ProjectToken string
}

// AmplitudeProfileUS is the User Profile API's host: an account whose
// base_url is any US host of Amplitude's (https://amplitude.com, the
// deletion API's default) is asked there; one on an EU host
// (https://analytics.eu.amplitude.com) is not asked.
const AmplitudeProfileUS = "https://profile-api.amplitude.com"

// amplitudeUS are Amplitude's US hosts (erasure's default base_url is
// https://amplitude.com): their accounts' profiles are at
// AmplitudeProfileUS.
var amplitudeUS = map[string]bool{
	"amplitude.com": true, "www.amplitude.com": true, "app.amplitude.com": true,
	"api.amplitude.com": true, "api2.amplitude.com": true, "analytics.amplitude.com": true,
	"profile-api.amplitude.com": true,
}

// Paths of the access calls.
const (
	AmplitudeProfilePath = "/v1/userprofile"
	MixpanelRetrievePath = "/api/app/data-retrievals/v3.0/"
)

// Vendor asks one vendor account for what it holds on a subject.
type Vendor struct {
	name   string
	cfg    Config
	mode   Mode
	base   string
	reason string
}

// New returns the access client of vendor name (erasure's vendor names)
// with cfg. A vendor without an access API, or an account whose region
// has none, has Mode None and a Reason.
func New(name string, cfg Config) *Vendor {
	v := &Vendor{name: name, cfg: cfg, mode: None, base: strings.TrimRight(cfg.BaseURL, "/")}
	switch name {
	case "posthog":
		v.mode = Lookup
	case "amplitude":
		// The deletion API's host is the account's base_url; the profile
		// API has its own host. A base_url that is not one of Amplitude's
		// (a test server, a forward proxy) serves both.
		host := ""
		if u, err := url.Parse(v.base); err == nil {
			host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		}
		amp := v.base == "" || host == "amplitude.com" || strings.HasSuffix(host, ".amplitude.com")
		switch {
		case amp && (host == "eu.amplitude.com" || strings.HasSuffix(host, ".eu.amplitude.com")):
			v.reason = "Amplitude's User Profile API is unavailable in its EU region: request the person's data with Amplitude's DSAR API (organisation key) or in Amplitude, naming the person by the user id Amplitude holds (heldAs)"
		case v.base == "" || amplitudeUS[host]:
			v.mode, v.base = Lookup, AmplitudeProfileUS
		case amp:
			// Another region's host: its key and pseudonyms must not be
			// sent to the US profile API.
			v.reason = "rights.vendors.amplitude.base_url is an Amplitude host of no region Consentry knows the User Profile API of: request the person's data in Amplitude, naming the person by the user id Amplitude holds (heldAs)"
		default:
			v.mode = Lookup
		}
	case "mixpanel":
		v.mode = Export
	case "segment":
		v.reason = "Segment's Public API has no access (export) call: if the workspace licenses Unify, read the profile with Segment's Profile API (not called by Consentry); otherwise export from the warehouses and destinations Segment fed, naming the person by the userId Segment holds (heldAs)"
	case "rudderstack":
		v.reason = "RudderStack documents no access API: export from the destinations and warehouses RudderStack fed, naming the person by the userId RudderStack holds (heldAs)"
	default:
		v.reason = fmt.Sprintf("Consentry has no access client for %s", name)
	}
	return v
}

// Name is the vendor's name.
func (v *Vendor) Name() string { return v.name }

// Mode is how the vendor answers.
func (v *Vendor) Mode() Mode { return v.mode }

// Reason says why a vendor of Mode None is not asked, and what the
// controller can do instead.
func (v *Vendor) Reason() string { return v.reason }

// BaseURL is where the calls go (scheme, host and path prefix).
func (v *Vendor) BaseURL() string { return v.base }

// Request is one call to a vendor's access API, relative to BaseURL.
type Request struct {
	Method string
	Path   string
	Query  []byte // percent-encoded, without '?'
	Header [][2]string
	Body   []byte
	// ID is the pseudonym a Lookup asks for (its JSON token): Filter
	// keeps of the answer only what is about it.
	ID []byte
}

// Requests builds the calls for ids, the JSON tokens (quoted strings or
// numbers) under which the vendor holds the subject: one call per id for
// a Lookup, one for all ids for an Export, none for None.
func (v *Vendor) Requests(ids [][]byte) []Request {
	var out []Request
	switch v.name {
	case "posthog":
		path := "/api/projects/" + url.PathEscape(v.cfg.ProjectID) + "/persons/"
		for _, id := range ids {
			q := append([]byte("distinct_id="), url.QueryEscape(string(Text(id)))...)
			out = append(out, Request{Method: http.MethodGet, Path: path, Query: q, Header: [][2]string{bearer(v.cfg.Token), accept()}, ID: id})
		}
	case "amplitude":
		if v.mode != Lookup {
			return nil
		}
		for _, id := range ids {
			q := append([]byte("user_id="), url.QueryEscape(string(Text(id)))...)
			q = append(q, "&get_amp_props=true&get_cohort_ids=true"...)
			out = append(out, Request{Method: http.MethodGet, Path: AmplitudeProfilePath, Query: q, Header: [][2]string{{"Authorization", "Api-Key " + string(v.cfg.Token)}, accept()}, ID: id})
		}
	case "mixpanel":
		if len(ids) == 0 {
			return nil
		}
		body := []byte(`{"distinct_ids":[`)
		for i, id := range ids {
			if i > 0 {
				body = append(body, ',')
			}
			// Always quoted from the id's text: distinct ids are strings,
			// and a token that only starts like one is not spliced in.
			body = masking.AppendQuote(body, Text(id))
		}
		body = append(body, `],"compliance_type":"GDPR"}`...)
		q := append([]byte("token="), url.QueryEscape(v.cfg.ProjectToken)...)
		out = append(out, Request{Method: http.MethodPost, Path: MixpanelRetrievePath, Query: q, Body: body,
			Header: [][2]string{bearer(v.cfg.Token), {"Content-Type", "application/json"}, accept()}})
	}
	return out
}

// Text is the text of a JSON token: a quoted string unquoted, a number
// as it is.
func Text(id []byte) []byte {
	if len(id) > 0 && id[0] == '"' {
		if s, err := masking.AppendUnquote(nil, id); err == nil {
			return s
		}
	}
	return id
}

func bearer(tok []byte) [2]string { return [2]string{"Authorization", "Bearer " + string(tok)} }

func accept() [2]string { return [2]string{"Accept", "application/json"} }

// ErrOtherSubject: a Lookup's answer is about someone other than the
// pseudonym asked for; nothing of it may be opened.
var ErrOtherSubject = errors.New("the answer is about another subject")

// Filter keeps of a Lookup's 2xx answer, still sealed (before the
// tenant's tokens in it are opened), only what is about id, the
// pseudonym asked for: PostHog's results whose distinct_ids hold id
// (the others are dropped and counted), Amplitude's userData whose
// user_id is id (an answer about anyone else is ErrOtherSubject). A
// vendor that ignored the filter, or merged persons, must not reveal
// another person's data in this one's document. Other answers are
// returned as they are (Read judges them).
func (v *Vendor) Filter(req Request, status int, body []byte) (kept []byte, dropped int, err error) {
	if status < 200 || status > 299 || req.ID == nil || !gjson.ValidBytes(body) {
		return body, 0, nil
	}
	want := string(Text(req.ID))
	r := gjson.ParseBytes(body)
	switch v.name {
	case "posthog":
		res := r.Get("results")
		if !res.IsArray() {
			return body, 0, nil
		}
		var keep []gjson.Result
		for _, p := range res.Array() {
			mine, ds := false, p.Get("distinct_ids")
			if !ds.IsArray() { // ForEach would visit a lone value
				dropped++
				continue
			}
			ds.ForEach(func(_, d gjson.Result) bool {
				mine = d.Type == gjson.String && d.Str == want
				return !mine
			})
			if mine {
				keep = append(keep, p)
			} else {
				dropped++
			}
		}
		if dropped == 0 {
			return body, 0, nil
		}
		var out []byte
		if res.Index > 0 && res.Index+len(res.Raw) <= len(body) && body[res.Index] == '[' {
			out = append(make([]byte, 0, len(body)), body[:res.Index]...)
		} else {
			out, body, res.Index = []byte(`{"results":`), []byte("}"), 0 // keep only the list
		}
		out = append(out, '[')
		for i, p := range keep {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, p.Raw...)
		}
		out = append(out, ']')
		if res.Index == 0 {
			return append(out, body...), dropped, nil
		}
		return append(out, body[res.Index+len(res.Raw):]...), dropped, nil
	case "amplitude":
		u := r.Get("userData")
		if !u.Exists() {
			return body, 0, nil
		}
		if id := u.Get("user_id"); id.Type != gjson.String || id.Str != want {
			return nil, 0, ErrOtherSubject
		}
	}
	return body, 0, nil
}

// Answer is what one call's answer says.
type Answer struct {
	// Found: a Lookup found the person under the id.
	Found bool
	// Job is an Export's task id at the vendor.
	Job string
	// Failed: the vendor refused or failed; Reason says how, briefly,
	// without the vendor's answer text (it may name the person).
	Failed bool
	Reason string
}

// Read interprets one answer: status is the vendor's HTTP status, body
// its JSON answer.
func (v *Vendor) Read(status int, body []byte) Answer {
	if !gjson.ValidBytes(body) {
		return Answer{Failed: true, Reason: fmt.Sprintf("%s answered HTTP %d with a body that is not JSON", v.name, status)}
	}
	r := gjson.ParseBytes(body)
	// Amplitude answers an id it never saw with this error (its documented
	// text; the HTTP status is not documented).
	if v.name == "amplitude" && status != 401 && status != 403 && status != 429 && status < 500 &&
		strings.Contains(r.Get("error").String(), "not seen before") {
		return Answer{}
	}
	switch {
	case status == http.StatusTooManyRequests:
		return Answer{Failed: true, Reason: v.name + " is rate limiting the account (HTTP 429): retry later"}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Answer{Failed: true, Reason: fmt.Sprintf("%s refused the credentials (HTTP %d): check rights.vendors.%s.token%s", v.name, status, v.name, scopeHint(v.name))}
	case status < 200 || status > 299:
		return Answer{Failed: true, Reason: fmt.Sprintf("%s refused the request (HTTP %d; see data for its answer)", v.name, status)}
	}
	switch v.name {
	case "posthog":
		res := r.Get("results")
		if !res.IsArray() {
			return Answer{Failed: true, Reason: "posthog's answer has no results list"}
		}
		return Answer{Found: len(res.Array()) > 0}
	case "amplitude":
		if !r.Get("userData").IsObject() {
			return Answer{Failed: true, Reason: "amplitude's answer has no userData"}
		}
		return Answer{Found: true}
	case "mixpanel":
		// The reference gives two shapes: {"results":{"task_id"}} (OpenAPI)
		// and [{"tracking_id"}] (the API page's example).
		for _, p := range []string{"results.task_id", "results.tracking_id", "results.0.tracking_id", "results.0.task_id"} {
			if id := r.Get(p); id.Exists() && id.String() != "" {
				return Answer{Job: printable(id.String())}
			}
		}
		return Answer{Failed: true, Reason: "mixpanel's answer names no retrieval task"}
	}
	return Answer{Failed: true, Reason: "no access client for " + v.name}
}

func scopeHint(name string) string {
	switch name {
	case "posthog":
		return " (a personal API key with scope person:read)"
	case "amplitude":
		return " (the project's secret key)"
	case "mixpanel":
		return " (a GDPR OAuth token of a project owner or admin; it expires after a year)"
	}
	return ""
}

// printable bounds a vendor-given id and keeps printable ASCII only.
func printable(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
