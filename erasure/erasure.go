// Package erasure deletes a data subject at the analytics vendors a tenant
// sends to, through each vendor's documented deletion API: CleverTap
// (/1/delete/profiles.json), Segment (Public API regulations), RudderStack
// (/v2/regulations), Amplitude (/api/2/deletions/users), Mixpanel (GDPR
// data-deletions v3.0) and PostHog (persons bulk_delete).
//
// Consentry pseudonymised the subject's identifiers before the vendor saw
// them, so the vendor knows the person only by the pseudonym: a Vendor
// translates the identifier through the tenant's policy as that vendor's
// own traffic carries it (formats/<vendor> IDCarriers) and names the
// person by exactly that value. A Vendor never logs; outcomes carry the
// vendor's HTTP status and a short reason, never the vendor's answer text.
package erasure

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/amplitude"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/formats/mixpanel"
	"github.com/consentry/consentry/formats/posthog"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
)

// Vendor names, as in tenants.<t>.rights.vendors.
const (
	CleverTap   = "clevertap"
	Segment     = "segment"
	RudderStack = "rudderstack"
	Amplitude   = "amplitude"
	Mixpanel    = "mixpanel"
	PostHog     = "posthog"
)

// Names lists the supported vendors in the order erasures call them.
var Names = []string{Amplitude, CleverTap, Mixpanel, PostHog, RudderStack, Segment}

// Unsuppress says how to lift, at the vendor, the suppression of future
// data that its deletion also created (Segment's and RudderStack's
// SUPPRESS_WITH_DELETE); only vendors listed here keep one.
var Unsuppress = map[string]string{
	Segment:     "create an UNSUPPRESS regulation for the same subjectIds (Segment Public API POST /regulations, the subjects are listed by GET /regulations), or remove the user under Privacy > Deletion & Suppression",
	RudderStack: "cancel the regulation with that id (DELETE /v2/regulations/{id}), or remove the user from the suppression list in the RudderStack dashboard",
}

// SuppressesFutureData says whether the vendor's deletion also blocks data
// sent later under the same user id.
func SuppressesFutureData(vendor string) bool { _, ok := Unsuppress[vendor]; return ok }

// Requester is what Amplitude records as the requester of a deletion.
const Requester = "consentry"

// maxAnswer bounds how much of a vendor's answer is read.
const maxAnswer = 64 << 10

// Config is one tenant's account at one vendor.
type Config struct {
	// BaseURL is the API's scheme and host (and a path prefix, if any);
	// empty: the vendor's default (DefaultBaseURL).
	BaseURL string
	// Token is the API credential: CleverTap's passcode, Segment's Public
	// API token, RudderStack's service access token, Amplitude's secret
	// key, Mixpanel's GDPR OAuth token, PostHog's personal API key.
	Token []byte
	// Account is CleverTap's account id.
	Account string
	// APIKey is Amplitude's project API key (the user of Basic auth).
	APIKey string
	// ProjectToken is Mixpanel's project token (the token query parameter).
	ProjectToken string
	// ProjectID is PostHog's project id.
	ProjectID string
	// SourceID limits a Segment regulation to one source (optional).
	SourceID string
	// DestinationIDs are the RudderStack destinations to delete from.
	DestinationIDs []string
}

// DefaultBaseURL is each vendor's API host when Config.BaseURL is empty.
// CleverTap has none: its REST host is the tenant's clevertap.rest upstream.
var DefaultBaseURL = map[string]string{
	Segment:     "https://api.segmentapis.com",
	RudderStack: "https://api.rudderstack.com",
	Amplitude:   "https://amplitude.com",
	Mixpanel:    "https://mixpanel.com",
	PostHog:     "https://us.posthog.com",
}

// Request is one HTTP call to a vendor's deletion API.
type Request struct {
	Method string
	URL    string
	Header [][2]string
	Body   []byte
}

// Outcome is what a vendor answered to one deletion call.
type Outcome struct {
	Accepted bool
	// Job is the vendor's id for the deletion (Segment regulateId,
	// RudderStack regulation id, Amplitude job day, Mixpanel task_id);
	// empty for vendors that give none (CleverTap, PostHog).
	Job string
	// HTTPStatus is the vendor's status code; 0 when it did not answer.
	HTTPStatus int
	// Reason says briefly why a call failed, or what an accepted one did
	// (PostHog's counts); it never holds the vendor's answer text.
	Reason string
	// UnknownID: the vendor accepted the call but said it knew none of the
	// ids (Amplitude invalid_ids, PostHog persons_found 0): nothing was
	// deleted there.
	UnknownID bool
}

// UnknownIDReason is the start of an accepted Outcome's reason when the
// vendor did not know the id.
const UnknownIDReason = "unknown id: the vendor did not know the id"

// Vendor calls one tenant's deletion API at one vendor. It is safe for
// concurrent use.
type Vendor struct {
	name   string
	cfg    Config
	spec   *spec
	client *http.Client
}

type spec struct {
	ids   func(dst [][]byte, env *formats.Env, device bool, id []byte) ([][]byte, error)
	build func(c *Config, ids [][]byte) Request
	parse func(body []byte, n int) Outcome // a 2xx answer to a call naming n ids
	// devices says whether the vendor can delete by a device id.
	devices bool
}

// Option configures a Vendor.
type Option func(*Vendor)

// WithTimeout bounds each call (default 15 s).
func WithTimeout(d time.Duration) Option { return func(v *Vendor) { v.client.Timeout = d } }

// WithHTTPClient replaces the HTTP client (tests).
func WithHTTPClient(c *http.Client) Option { return func(v *Vendor) { v.client = c } }

// New returns the vendor named name with cfg; it checks that cfg has what
// the vendor needs, with errors that name the configuration key.
func New(name string, cfg Config, opts ...Option) (*Vendor, error) {
	sp, ok := specs[name]
	if !ok {
		return nil, fmt.Errorf("unknown vendor %q: use one of %s", name, strings.Join(Names, ", "))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL[name]
	}
	var errs []error
	if cfg.BaseURL == "" {
		errs = append(errs, errors.New("base_url: required"))
	} else if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, errors.New("base_url: must be an http(s) URL without query, such as https://api.example.com"))
	} else if u.Scheme == "http" && !loopback(u.Hostname()) {
		hint := ""
		if name == CleverTap {
			hint = " (CleverTap's default is the tenant's clevertap.rest upstream: set base_url to its https URL)"
		}
		errs = append(errs, fmt.Errorf("base_url: %s is plain http to a host that is not loopback: the token would travel in clear; use https://%s", cfg.BaseURL, hint))
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if len(cfg.Token) == 0 {
		errs = append(errs, errors.New("token: required (value, env or file)"))
	}
	need := func(v, key string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required for %s", key, name))
		}
	}
	switch name {
	case CleverTap:
		need(cfg.Account, "account")
	case Amplitude:
		need(cfg.APIKey, "api_key")
	case Mixpanel:
		need(cfg.ProjectToken, "project_token")
	case PostHog:
		need(cfg.ProjectID, "project_id")
	case RudderStack:
		if len(cfg.DestinationIDs) == 0 {
			errs = append(errs, errors.New("destination_ids: required for rudderstack (the destinations to delete from)"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	v := &Vendor{name: name, cfg: cfg, spec: sp, client: &http.Client{
		Timeout: 15 * time.Second,
		// A redirect is an answer to report, not to follow with the token.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// loopback says whether host is this machine (plain http is allowed there:
// a local test server or an egress sidecar on the pod).
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name is the vendor's name.
func (v *Vendor) Name() string { return v.name }

// ErrDeviceUnsupported is returned by SubjectIDs for a device subject at a
// vendor that deletes by user id only.
var ErrDeviceUnsupported = errors.New("deletes by user id only: erase the person's identity")

// SubjectIDs appends the identifiers (JSON tokens) under which the vendor
// holds the subject, translated by env's policy as the vendor's traffic
// carries them. None: the policy never lets the identifier reach the vendor.
func (v *Vendor) SubjectIDs(dst [][]byte, env *formats.Env, device bool, id []byte) ([][]byte, error) {
	if device && !v.spec.devices {
		return dst, fmt.Errorf("%s %w", v.name, ErrDeviceUnsupported)
	}
	return v.spec.ids(dst, env, device, id)
}

// Request builds the deletion call for ids (JSON tokens from SubjectIDs;
// device says they are device ids).
func (v *Vendor) Request(ids [][]byte, device bool) Request {
	c := v.cfg
	if device && v.name == CleverTap {
		return buildCleverTap(&c, ids, "guid")
	}
	return v.spec.build(&c, ids)
}

// Do sends the deletion call and reads the vendor's answer.
func (v *Vendor) Do(ctx context.Context, ids [][]byte, device bool) Outcome {
	r := v.Request(ids, device)
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Outcome{Reason: "cannot build the request (check base_url)"}
	}
	for _, h := range r.Header {
		req.Header.Set(h[0], h[1])
	}
	resp, err := v.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return Outcome{Reason: "no answer in time"}
		}
		return Outcome{Reason: "cannot reach the vendor"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Outcome{HTTPStatus: resp.StatusCode, Reason: "the answer broke off"}
	}
	return v.answer(resp.StatusCode, body, len(ids))
}

// answer interprets a vendor's HTTP answer to a call naming n ids.
func (v *Vendor) answer(status int, body []byte, n int) Outcome {
	switch {
	case status == http.StatusTooManyRequests:
		return Outcome{HTTPStatus: status, Reason: "rate limited (HTTP 429)"}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Outcome{HTTPStatus: status, Reason: fmt.Sprintf("credentials refused (HTTP %d): check the token", status)}
	case status < 200 || status > 299:
		return Outcome{HTTPStatus: status, Reason: fmt.Sprintf("HTTP %d", status)}
	}
	o := v.spec.parse(body, n)
	o.HTTPStatus = status
	return o
}

var specs = map[string]*spec{
	CleverTap:   {ids: clevertap.SubjectIDs, build: func(c *Config, ids [][]byte) Request { return buildCleverTap(c, ids, "identity") }, parse: parseCleverTap, devices: true},
	Segment:     {ids: carriers(segment.IDCarriers(segment.FormatSegment)), build: buildSegment, parse: parseSegment},
	RudderStack: {ids: carriers(segment.IDCarriers(segment.FormatRudderStack)), build: buildRudderStack, parse: parseRudderStack},
	Amplitude:   {ids: carriers(amplitude.IDCarriers()), build: buildAmplitude, parse: parseAmplitude},
	Mixpanel:    {ids: carriers(mixpanel.IDCarriers()), build: buildMixpanel, parse: parseMixpanel},
	PostHog:     {ids: carriers(posthog.IDCarriers()), build: buildPostHog, parse: parsePostHog},
}

func carriers(cs []formats.IDCarrier) func(dst [][]byte, env *formats.Env, device bool, id []byte) ([][]byte, error) {
	return func(dst [][]byte, env *formats.Env, _ bool, id []byte) ([][]byte, error) {
		if err := checkID(id); err != nil {
			return dst, err
		}
		return env.TranslateIDs(dst, cs, id)
	}
}

// checkID refuses identifiers no vendor could hold; the message never
// quotes the value.
func checkID(id []byte) error {
	if len(id) == 0 || len(id) > 1024 {
		return formats.Errorf(400, "invalid_identifier", "an identifier has 1 to 1024 bytes")
	}
	return nil
}

func jsonHeader() [2]string { return [2]string{"Content-Type", "application/json"} }

func bearer(tok []byte) [2]string { return [2]string{"Authorization", "Bearer " + string(tok)} }

// appendIDs appends ids as a JSON array; strings says every value must be
// a JSON string (a number token is quoted).
func appendIDs(dst []byte, ids [][]byte, quote bool) []byte {
	dst = append(dst, '[')
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendID(dst, id, quote)
	}
	return append(dst, ']')
}

func appendID(dst, id []byte, str bool) []byte {
	if str && len(id) > 0 && id[0] != '"' {
		return masking.AppendQuote(dst, id)
	}
	return append(dst, id...)
}

// buildCleverTap: POST /1/delete/profiles.json {"identity": v | [v...]} or
// {"guid": ...}, headers X-CleverTap-Account-Id and X-CleverTap-Passcode.
func buildCleverTap(c *Config, ids [][]byte, key string) Request {
	body := []byte(`{"` + key + `":`)
	if len(ids) == 1 {
		body = append(body, ids[0]...)
	} else {
		body = appendIDs(body, ids, false)
	}
	body = append(body, '}')
	h := clevertap.DeleteAuthHeaders(c.Account, c.Token)
	return Request{Method: http.MethodPost, URL: c.BaseURL + clevertap.DeletePath, Header: h, Body: body}
}

// parseCleverTap: the answer's body is not documented; a 2xx is accepted
// unless it says {"status":"fail"} (CleverTap answers some failures with
// 200) or is not JSON at all.
func parseCleverTap(body []byte, _ int) Outcome {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return Outcome{Accepted: true}
	}
	if !gjson.ValidBytes(b) {
		return Outcome{Reason: "the answer is not JSON"}
	}
	if gjson.GetBytes(b, "status").Str == "fail" {
		return Outcome{Reason: "the vendor answered status fail"}
	}
	return Outcome{Accepted: true}
}

// buildSegment: POST /regulations (or /regulations/sources/{id})
// {"regulationType":"SUPPRESS_WITH_DELETE","subjectType":"USER_ID","subjectIds":[...]}.
func buildSegment(c *Config, ids [][]byte) Request {
	path := "/regulations"
	if c.SourceID != "" {
		path += "/sources/" + url.PathEscape(c.SourceID)
	}
	body := []byte(`{"regulationType":"SUPPRESS_WITH_DELETE","subjectType":"USER_ID","subjectIds":`)
	body = append(appendIDs(body, ids, true), '}')
	return Request{Method: http.MethodPost, URL: c.BaseURL + path, Body: body, Header: [][2]string{
		bearer(c.Token), {"Content-Type", "application/vnd.segment.v1+json"}, {"Accept", "application/vnd.segment.v1+json"},
	}}
}

// parseSegment: {"data":{"regulateId":"..."}}.
func parseSegment(body []byte, _ int) Outcome {
	id := gjson.GetBytes(body, "data.regulateId")
	if !gjson.ValidBytes(body) || id.Type != gjson.String || id.Str == "" {
		return Outcome{Reason: "the answer has no data.regulateId"}
	}
	return Outcome{Accepted: true, Job: limit(id.Str)}
}

// buildRudderStack: POST /v2/regulations
// {"regulationType":"suppress_with_delete","destinationIds":[...],"users":[{"userId":...}]}.
func buildRudderStack(c *Config, ids [][]byte) Request {
	body := []byte(`{"regulationType":"suppress_with_delete","destinationIds":[`)
	for i, d := range c.DestinationIDs {
		if i > 0 {
			body = append(body, ',')
		}
		body = masking.AppendQuote(body, []byte(d))
	}
	body = append(body, `],"users":[`...)
	for i, id := range ids {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"userId":`...)
		body = append(appendID(body, id, true), '}')
	}
	body = append(body, "]}"...)
	return Request{Method: http.MethodPost, URL: c.BaseURL + "/v2/regulations", Body: body, Header: [][2]string{bearer(c.Token), jsonHeader()}}
}

// parseRudderStack: the answer's shape is only partly documented (an
// array of regulation objects); any JSON 2xx is accepted, with the first
// regulation's id as the job when there is one.
func parseRudderStack(body []byte, _ int) Outcome {
	if !gjson.ValidBytes(body) {
		return Outcome{Reason: "the answer is not JSON"}
	}
	r := gjson.ParseBytes(body)
	for _, p := range []string{"0.id", "id", "data.0.id", "data.id"} {
		if id := r.Get(p); id.Exists() && id.String() != "" {
			return Outcome{Accepted: true, Job: limit(id.String())}
		}
	}
	return Outcome{Accepted: true}
}

// buildAmplitude: POST /api/2/deletions/users, Basic api_key:secret_key,
// {"user_ids":[...],"requester":"consentry","ignore_invalid_id":"true"}.
func buildAmplitude(c *Config, ids [][]byte) Request {
	body := []byte(`{"user_ids":`)
	body = appendIDs(body, ids, true)
	body = append(body, `,"requester":"`+Requester+`","ignore_invalid_id":"true"}`...)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.APIKey+":"+string(c.Token)))
	return Request{Method: http.MethodPost, URL: c.BaseURL + "/api/2/deletions/users", Body: body, Header: [][2]string{{"Authorization", auth}, jsonHeader()}}
}

// parseAmplitude: {"day":"YYYY-MM-DD","status":"staging",...}; the job is
// the day it runs.
func parseAmplitude(body []byte, n int) Outcome {
	day := gjson.GetBytes(body, "day")
	if !gjson.ValidBytes(body) || day.Type != gjson.String || day.Str == "" {
		return Outcome{Reason: "the answer has no deletion job day"}
	}
	o := Outcome{Accepted: true, Job: limit(day.Str)}
	// ignore_invalid_id: ids Amplitude never saw come back in invalid_ids
	// (the string and number forms of one id are sent; one may be unknown).
	switch bad := len(gjson.GetBytes(body, "invalid_ids").Array()); {
	case bad > 0 && bad >= n:
		o.UnknownID, o.Reason = true, UnknownIDReason
	case bad > 0:
		o.Reason = fmt.Sprintf("%d of %d ids unknown to the vendor", bad, n)
	}
	return o
}

// buildMixpanel: POST /api/app/data-deletions/v3.0/?token=<project token>,
// Bearer OAuth token, {"distinct_ids":[...],"compliance_type":"GDPR"}.
func buildMixpanel(c *Config, ids [][]byte) Request {
	body := []byte(`{"distinct_ids":`)
	body = append(appendIDs(body, ids, true), `,"compliance_type":"GDPR"}`...)
	u := c.BaseURL + "/api/app/data-deletions/v3.0/?token=" + url.QueryEscape(c.ProjectToken)
	return Request{Method: http.MethodPost, URL: u, Body: body, Header: [][2]string{bearer(c.Token), jsonHeader()}}
}

// parseMixpanel: {"status":"ok","results":{"task_id":"..."}}.
func parseMixpanel(body []byte, _ int) Outcome {
	id := gjson.GetBytes(body, "results.task_id")
	if !gjson.ValidBytes(body) || id.String() == "" {
		return Outcome{Reason: "the answer has no results.task_id"}
	}
	return Outcome{Accepted: true, Job: limit(id.String())}
}

// buildPostHog: POST /api/projects/{id}/persons/bulk_delete/, Bearer
// personal API key, {"distinct_ids":[...],"delete_events":true}.
func buildPostHog(c *Config, ids [][]byte) Request {
	body := []byte(`{"distinct_ids":`)
	body = append(appendIDs(body, ids, true), `,"delete_events":true}`...)
	u := c.BaseURL + "/api/projects/" + url.PathEscape(c.ProjectID) + "/persons/bulk_delete/"
	return Request{Method: http.MethodPost, URL: u, Body: body, Header: [][2]string{bearer(c.Token), jsonHeader()}}
}

// parsePostHog: {"persons_found":n,"persons_deleted":n,...,"deletion_errors":[...]}.
func parsePostHog(body []byte, _ int) Outcome {
	r := gjson.ParseBytes(body)
	found := r.Get("persons_found")
	if !gjson.ValidBytes(body) || found.Type != gjson.Number {
		return Outcome{Reason: "the answer has no persons_found"}
	}
	if n := len(r.Get("deletion_errors").Array()); n > 0 {
		return Outcome{Reason: fmt.Sprintf("%d persons could not be deleted", n)}
	}
	if found.Int() == 0 {
		return Outcome{Accepted: true, UnknownID: true, Reason: UnknownIDReason + " (persons found 0)"}
	}
	return Outcome{Accepted: true, Reason: fmt.Sprintf("persons found %d, deleted %d", found.Int(), r.Get("persons_deleted").Int())}
}

// limit bounds a vendor-given job id to what the rights log keeps, and
// keeps only printable ASCII so that a hostile answer cannot forge lines.
func limit(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return '?'
			}
			return r
		}, s)
	}
	return s
}
