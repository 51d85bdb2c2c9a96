package clevertap

// CleverTap web SDK (clevertap-wire.md §4, §6.2, §6.3, §7.3, §8.1).
//
// The web SDK sends everything in the query string of a GET: /a carries a
// payload d (LZ-String Base64 of one JSON record) and an arp object, /r
// (clicks on campaign links) carries d = LZ("guid|page|session"), /e (email
// preference pages) carries d = LZ({"id","unsubGroups",...}). CleanQuery
// rebuilds the query string parameter by parameter, in the order received;
// a parameter that does not change keeps its exact bytes.
//
//   - d is decoded, cleaned as one record (kind d.type, or the query's type:
//     "page", "ping", "data", "push"; name d.evtName; "click" on /r,
//     "subscription" on /e) and re-encoded in the SDK's exact variant; an
//     Encryption-in-Transit envelope is opened and sealed again with the
//     same key and a fresh IV. arp is cleaned as kind "meta". Subject: d.g
//     or gc, and profile.Identity; signals: profile.ct_optout and the optOut
//     flag (opting out wins), MSG-* flags, and sub=0/1 on /e.
//   - Every other parameter is a field of one record of kind "query"
//     ("link_query" on /r), so the policy decides gc (id.device), origin,
//     useIP (net.use_ip, a boolean), ... like any JSON field. useIP is
//     written "true" only when the client sent true and the policy kept it;
//     any other decision (redact, drop, ...) writes "false".
//   - URLs (d.cpg, d.referrer, the origin parameter) are split into path,
//     query parameters and fragment (with its own "?" parameters, or OAuth
//     style "#k=v&..."), the fields of a record of kind "url" named after
//     the field: parameter keys get classes by name (email → contact.email,
//     token/password/code → auth.secret, gclid/fbclid → ad.click_id, first
//     name → person.name, ...), paths, fragments and other values are
//     scanned by the default policy. User info (user:pass@) is always
//     removed; a parameter that does not percent-decode to UTF-8 is dropped.
//     The whole URL is then a field of d (web.page_url, web.referrer,
//     web.origin) that the policy may still drop.
//   - On /a an unknown parameter is dropped: the SDK's set is fixed, so
//     anything else was not put there by it and could carry anything. On /r
//     and /e, whose links are built by CleverTap's servers, an unknown
//     parameter is a field of the query record classified by its name only,
//     for the policy to decide.
//   - A second d, arp, gc, useIP, optOut, origin or type is refused (which
//     one would the backend read?).
//
// When Consentry drops the record, WebReply acknowledges it the way the
// server does, so that the SDK neither holds nor replays it; a suppressed
// subject gets a GUID ending in ":OO", which stops the SDK.

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/lzstring"
	"github.com/consentry/consentry/formats/urlclean"
	"github.com/consentry/consentry/masking"
)

// FormatWeb is the web SDK's format name, as policies see it.
const FormatWeb = "clevertap.web"

// Record kinds of the web adapter besides the payload's own.
const (
	KindQuery = "query" // the request's query parameters (/a, /e)
	// KindLinkQuery is the query of /r: a link built by CleverTap's servers,
	// whose parameters other than the SDK's own are classified by name only.
	KindLinkQuery = "link_query"
	KindURL       = "url"   // the parts of one URL (name: cpg, referrer, origin)
	KindClick     = "click" // /r: a click on a campaign link
	KindEmail     = "subscription"
)

const (
	// MaxWebPayload bounds a decompressed d or arp, in UTF-16 code units.
	MaxWebPayload = 256 << 10
	maxWebParams  = 64
	maxGUIDLen    = 256
)

// Content types of the replies Consentry makes itself.
const (
	jsonpType = "application/javascript; charset=utf-8"
)

// WebRoutes are the web SDK's endpoints. Browsers call them cross-origin
// (JSONP script tags, or fetch with a CORS preflight in fetch mode).
func WebRoutes() []formats.Route {
	mk := func(path string, clean func([]byte, formats.Request, *formats.Env) ([]byte, formats.Result, error)) formats.Route {
		return formats.Route{
			Method:              "GET",
			Path:                path,
			Format:              FormatWeb,
			Accounts:            WebAccounts,
			AccountParams:       []string{"d"},
			CleanQuery:          clean,
			Reply:               WebReply,
			Browser:             true,
			DropResponseHeaders: redirectHeaders,
		}
	}
	return []formats.Route{
		mk("/a", CleanWebIngest),
		mk("/r", CleanWebRecorder),
		mk("/e", CleanWebEmail),
	}
}

// CleanWebIngest cleans GET /a (page views, events, profiles, pings, push
// subscriptions).
func CleanWebIngest(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error) {
	return cleanWeb(dst, req, env, routeIngest)
}

// CleanWebRecorder cleans GET /r (campaign link clicks).
func CleanWebRecorder(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error) {
	return cleanWeb(dst, req, env, routeRecorder)
}

// CleanWebEmail cleans GET /e (email subscription pages).
func CleanWebEmail(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error) {
	return cleanWeb(dst, req, env, routeEmail)
}

type webRoute uint8

const (
	routeIngest webRoute = iota
	routeRecorder
	routeEmail
	routeAny // Accounts and Reply: parse leniently, keep everything
)

// paramKind says how a query parameter is cleaned.
type paramKind uint8

const (
	pDrop    paramKind = iota // not forwarded
	pField                    // a string field of the query record
	pBool                     // "true"/"false" become JSON booleans
	pUseIP                    // a boolean forced to false unless kept true
	pURL                      // cleaned part by part, then a field
	pPayload                  // d
	pARP                      // arp
)

type paramSpec struct {
	kind   paramKind
	class  string
	known  bool // one of the SDK's own parameters
	unique bool // may appear once only
}

// webParams are the parameters the SDK itself adds (clevertap-wire.md §4).
var webParams = map[string]paramSpec{
	"t":      {kind: pField, class: "record.meta"},
	"type":   {kind: pField, class: "record.meta"},
	"rn":     {kind: pField, class: "record.meta"},
	"i":      {kind: pField, class: "record.meta"},
	"sn":     {kind: pField, class: "record.meta"},
	"s":      {kind: pField, class: "record.meta"},
	"tries":  {kind: pField, class: "record.meta"},
	"r":      {kind: pField, class: "record.meta"},
	"optOut": {kind: pBool, class: "consent.optout"},
	"gc":     {kind: pField, class: "id.device"},
	"origin": {kind: pURL, class: "web.origin"},
	"useIP":  {kind: pUseIP, class: "net.use_ip"},
	"ct_pl":  {kind: pField, class: "app.info"},
	"d":      {kind: pPayload},
	"arp":    {kind: pARP},
}

// emailParams are added by the email preference page (/e). e and p are the
// recipient and profile references CleverTap put in the email link: the
// unsubscription cannot work without them.
var emailParams = map[string]paramSpec{
	"e":           {kind: pField, class: "consent.subscription_ref"},
	"p":           {kind: pField, class: "consent.subscription_ref"},
	"sub":         {kind: pField, class: "consent.marketing"},
	"fetchGroups": {kind: pField, class: "record.meta"},
	"encoded":     {kind: pField, class: "record.meta"},
	"page_type":   {kind: pField, class: "record.meta"},
}

func specFor(route webRoute, key string) paramSpec {
	if s, ok := webParams[key]; ok {
		s.known = true
		switch key {
		case "d", "arp", "gc", "useIP", "optOut", "origin", "type":
			s.unique = true
		}
		return s
	}
	if route == routeEmail || route == routeAny {
		if s, ok := emailParams[key]; ok {
			s.known = true
			return s
		}
	}
	if route == routeIngest {
		return paramSpec{kind: pDrop}
	}
	return paramSpec{kind: pField, class: urlclean.ParamClass(key)}
}

// param is one key=value of a query string. key and val are decoded views
// into the cleaner's text buffer, which is sized so that it never moves.
type param struct {
	raw    []byte // as received
	rawKey []byte
	key    []byte
	val    []byte
	hasEq  bool
	spec   paramSpec
	state  paramState
	out    []byte // new decoded value when state == psChanged
	outNil bool   // the new value is null: write the key alone
}

type paramState uint8

const (
	psKeep paramState = iota
	psChanged
	psDrop
)

// webCleaner is the per-request working memory, pooled.
type webCleaner struct {
	route  webRoute
	params []param
	text   []byte // decoded keys and values
	d, arp int    // index of the d and arp parameters, -1 if absent

	dJSON, dPre, dOut []byte
	eit               *webEIT
	arpJSON, arpOut   []byte
	rec, recOut       []byte
	outText           []byte
	url               urlclean.Cleaner
	enc, enc2         []byte
}

var cleanerPool = sync.Pool{New: func() any { return new(webCleaner) }}

func getCleaner() *webCleaner { return cleanerPool.Get().(*webCleaner) }

func (c *webCleaner) release() {
	const maxKeep = 256 << 10
	c.eit = nil
	for i := range c.params {
		c.params[i] = param{}
	}
	if cap(c.text) > maxKeep || cap(c.dJSON) > maxKeep || cap(c.dOut) > maxKeep || cap(c.dPre) > maxKeep {
		return
	}
	cleanerPool.Put(c)
}

// parse splits the raw query into parameters and decodes them.
func (c *webCleaner) parse(q []byte, route webRoute) error {
	c.route = route
	c.params = c.params[:0]
	c.d, c.arp = -1, -1
	if cap(c.text) < len(q) {
		c.text = make([]byte, 0, len(q))
	}
	c.text = c.text[:0]
	for len(q) > 0 {
		var seg []byte
		seg, q, _ = bytes.Cut(q, amp)
		if len(seg) == 0 {
			continue // "a=1&&b=2": nothing to forward
		}
		if len(c.params) == maxWebParams {
			return formats.Errorf(400, "too_many_params", "query has more than %d parameters", maxWebParams)
		}
		p := param{raw: seg, rawKey: seg}
		rawVal := []byte(nil)
		if i := bytes.IndexByte(seg, '='); i >= 0 {
			p.rawKey, rawVal, p.hasEq = seg[:i], seg[i+1:], true
		}
		var ok bool
		start := len(c.text)
		c.text, ok = appendUnescape(c.text, p.rawKey, true)
		if !ok {
			return formats.Errorf(400, "malformed_query", "query parameter %d is not percent-encoded correctly", len(c.params))
		}
		p.key = c.text[start:len(c.text):len(c.text)]
		p.spec = specFor(route, string(p.key))
		// Base64 payloads keep '+': a space is never Base64.
		plusSpace := p.spec.kind != pPayload && p.spec.kind != pARP
		start = len(c.text)
		c.text, ok = appendUnescape(c.text, rawVal, plusSpace)
		if !ok || !utf8.Valid(c.text[start:]) {
			if route == routeAny || p.spec.kind == pDrop {
				c.text = c.text[:start]
				p.spec.kind = pDrop
			} else {
				return formats.Errorf(400, "malformed_query", "query parameter %d is not percent-encoded UTF-8", len(c.params))
			}
		}
		p.val = c.text[start:len(c.text):len(c.text)]
		if p.spec.known && p.spec.unique && c.index(p.key) >= 0 {
			// The payload, the device id or a privacy flag twice is
			// ambiguous: which one would the backend read? Refuse rather
			// than guess. (r legitimately appears twice on /r and /e: the
			// link's r=1 and the SDK's cache-buster.)
			if route != routeAny {
				return formats.Errorf(400, "duplicate_param", "query parameter %q appears twice", p.key)
			}
			p.spec.kind = pDrop
		}
		switch p.spec.kind {
		case pPayload:
			c.d = len(c.params)
		case pARP:
			c.arp = len(c.params)
		}
		c.params = append(c.params, p)
	}
	return nil
}

// index returns the index of the known parameter key, or -1.
func (c *webCleaner) index(key []byte) int {
	for i := range c.params {
		if p := &c.params[i]; p.spec.known && p.spec.kind != pDrop && bytes.Equal(p.key, key) {
			return i
		}
	}
	return -1
}

// value returns the decoded value of the known parameter key, or nil.
func (c *webCleaner) value(key string) []byte {
	for i := range c.params {
		if p := &c.params[i]; p.spec.known && p.spec.kind != pDrop && string(p.key) == key {
			return p.val
		}
	}
	return nil
}

func cleanWeb(dst []byte, req formats.Request, env *formats.Env, route webRoute) ([]byte, formats.Result, error) {
	var res formats.Result
	c := getCleaner()
	defer c.release()
	if err := c.parse(req.QueryString(), route); err != nil {
		return dst, res, err
	}
	if route == routeIngest {
		switch t := string(c.value("type")); t {
		case "page", "push", "ping", "data":
		default:
			return dst, res, formats.Errorf(400, "invalid_payload", "type must be page, push, ping or data")
		}
	}
	dChanged := false
	switch {
	case c.d >= 0:
		kept, changed, err := c.cleanPayload(env, &res)
		if err != nil {
			return dst, res, err
		}
		if !kept {
			res.AllDropped = true
			return dst, res, nil
		}
		dChanged = changed
	case route != routeRecorder:
		return dst, res, formats.Errorf(400, "invalid_payload", "the request has no d parameter")
	}
	arpChanged := false
	if c.arp >= 0 {
		changed, err := c.cleanARP(env)
		if err != nil {
			return dst, res, err
		}
		arpChanged = changed
	}
	if err := c.cleanParams(env); err != nil {
		return dst, res, err
	}
	out, err := c.emit(dst, dChanged, arpChanged)
	return out, res, err
}

// ---------------------------------------------------------------------------
// Percent-encoding (package urlclean) and JSON strings

func appendUnescape(dst, s []byte, plusSpace bool) ([]byte, bool) {
	return urlclean.AppendUnescape(dst, s, plusSpace)
}

// appendComponent percent-encodes s as JavaScript's encodeURIComponent does.
func appendComponent(dst, s []byte) []byte { return urlclean.AppendComponent(dst, s) }

// amp separates query parameters.
var amp = []byte{'&'}

// appendJSONString writes s (valid UTF-8) as a JSON string.
func appendJSONString(dst, s []byte) []byte { return masking.AppendQuote(dst, s) }

// ---------------------------------------------------------------------------
// Helpers for tests, explain and end-to-end checks

// DecodeWebParam decodes the value of a d or arp parameter as it appears in
// a URL (percent-encoded LZ-String Base64) and appends the text.
func DecodeWebParam(dst, v []byte) ([]byte, error) {
	raw, ok := appendUnescape(nil, v, false)
	if !ok {
		return dst, errors.New("cannot decode the parameter: malformed percent-encoding")
	}
	return lzstring.AppendDecompressFromBase64(dst, raw, MaxWebPayload)
}

// EncodeWebParam encodes text as the web SDK does for d and arp:
// encodeURIComponent(compressToBase64(text)).
func EncodeWebParam(dst, text []byte) ([]byte, error) {
	enc, err := lzstring.AppendCompressToBase64(nil, text)
	if err != nil {
		return dst, err
	}
	return appendComponent(dst, enc), nil
}

// StaticRequest is a formats.Request over fixed values (tests, explain).
type StaticRequest struct {
	RawQuery string
	Headers  map[string]string // canonical names, e.g. "Accept"
}

// Header implements formats.Request.
func (r *StaticRequest) Header(name string) []byte {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return []byte(v)
		}
	}
	return nil
}

// Query implements formats.Request (form decoding, first occurrence).
func (r *StaticRequest) Query(name string) []byte {
	for _, seg := range strings.Split(r.RawQuery, "&") {
		k, v, _ := strings.Cut(seg, "=")
		if dk, ok := appendUnescape(nil, []byte(k), true); ok && string(dk) == name {
			dv, _ := appendUnescape(nil, []byte(v), true)
			return dv
		}
	}
	return nil
}

// QueryString implements formats.Request.
func (r *StaticRequest) QueryString() []byte { return []byte(r.RawQuery) }

var _ formats.Request = (*StaticRequest)(nil)
var _ masking.Classifier = WebClassifier{}
