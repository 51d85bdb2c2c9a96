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
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/lzstring"
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
	maxURLParams  = 128
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
	return paramSpec{kind: pField, class: urlParamClass(key)}
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
	url               urlScratch
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
// The d payload

// cleanPayload decodes, cleans and re-encodes d into c.enc. kept=false means
// the record was dropped (suppressed subject or record policy).
func (c *webCleaner) cleanPayload(env *formats.Env, res *formats.Result) (kept, changed bool, err error) {
	p := &c.params[c.d]
	c.dJSON, err = lzstring.AppendDecompressFromBase64(c.dJSON[:0], p.val, MaxWebPayload)
	if err != nil {
		return false, false, formats.Errorf(400, "invalid_payload", "d is not LZ-String Base64: %v", err)
	}
	if e, inner, ok, err := openWebEIT(c.dJSON); err != nil {
		return false, false, err
	} else if ok {
		c.eit = e
		c.enc2 = append(c.enc2[:0], inner...)
		c.dJSON, err = lzstring.AppendDecompressFromBase64(c.dJSON[:0], c.enc2, MaxWebPayload)
		if err != nil {
			return false, false, formats.Errorf(400, "invalid_envelope", "the encrypted d is not LZ-String Base64: %v", err)
		}
		if c.route != routeRecorder {
			if id := gjson.GetBytes(c.dJSON, "id"); id.Exists() && (id.Type != gjson.String || id.Str != e.idStr) {
				return false, false, formats.Errorf(400, "account_mismatch", "the account ids of the envelope and of d disagree")
			}
		}
	}
	if c.route == routeRecorder {
		return c.cleanClick(env, res)
	}
	// Page URLs first: their parts are records of their own.
	c.dPre, err = c.cleanURLMembers(c.dPre[:0], c.dJSON, env)
	if err != nil {
		return false, false, err
	}
	rw := env.Rewriter
	end, err := rw.Parse(c.dPre, 0)
	if err != nil {
		return false, false, err
	}
	if j := masking.SkipSpace(c.dPre, end); j != len(c.dPre) {
		return false, false, formats.Errorf(400, "malformed_json", "trailing data after d")
	}
	subj, sig, err := c.subject(rw)
	if err != nil {
		return false, false, err
	}
	c.dOut, kept, err = env.CleanParsed(c.dOut[:0], FormatWeb, WebClassifier{}, subj, sig, res)
	if err != nil || !kept {
		return false, false, err
	}
	if bytes.Equal(c.dOut, c.dJSON) {
		return true, false, nil
	}
	return true, true, c.encodePayload()
}

// encodePayload encodes c.dOut into c.enc as the SDK would: LZ-String
// Base64, inside a fresh envelope when d came encrypted.
func (c *webCleaner) encodePayload() error {
	var err error
	if c.eit == nil {
		c.enc, err = lzstring.AppendCompressToBase64(c.enc[:0], c.dOut)
		return err
	}
	c.enc2, err = lzstring.AppendCompressToBase64(c.enc2[:0], c.dOut)
	if err != nil {
		return err
	}
	c.rec, err = c.eit.seal(c.rec[:0], c.enc2)
	if err != nil {
		return err
	}
	c.enc, err = lzstring.AppendCompressToBase64(c.enc[:0], c.rec)
	return err
}

// subject reads the record kind, the data subject and the rights signals
// from the parsed d.
// emailChannel is the index of "email" in formats.MarketingChannels.
const emailChannel = 2

func (c *webCleaner) subject(rw *masking.Rewriter) (formats.Subject, formats.Signals, error) {
	var subj formats.Subject
	var sig formats.Signals
	switch c.route {
	case routeEmail:
		subj.Kind = KindEmail
		switch string(c.value("sub")) {
		case "1":
			sig.Marketing[emailChannel] = 1
		case "0":
			sig.Marketing[emailChannel] = -1
		}
	default:
		t := rw.Lookup(0, "type")
		if rw.Type(t) == masking.TypeString {
			subj.Kind = formats.B2S(rw.Value(t)) // d stays unchanged until the record is emitted
		}
		switch subj.Kind {
		case "":
			subj.Kind = formats.B2S(c.value("type"))
		case KindQuery, KindLinkQuery, KindURL, KindClick, KindEmail, "meta":
			// The adapter's own kinds classify differently: never let a
			// payload borrow them.
			return subj, sig, formats.Errorf(400, "invalid_payload", "d has a reserved type")
		}
		if subj.Kind == "event" {
			subj.Name = formats.B2S(rw.Value(rw.Lookup(0, "evtName")))
		}
		if p := rw.Lookup(0, "profile"); rw.Type(p) == masking.TypeObject {
			if id := rw.Lookup(p, "Identity"); rw.Type(id) == masking.TypeString || rw.Type(id) == masking.TypeNumber {
				subj.Identity = rw.Value(id)
			}
			sig = profileSignals(rw, p)
		}
	}
	if g := rw.Lookup(0, "g"); rw.Type(g) == masking.TypeString && len(rw.Value(g)) > 0 {
		subj.Device = rw.Value(g)
	} else {
		subj.Device = c.value("gc")
	}
	// The optOut flag of a privacy push (a profile record); when both speak,
	// opting out wins. On other records it is no signal: an opt-out record
	// is forwarded, and an event must not pass for one.
	switch optOut := string(c.value("optOut")); {
	case subj.Kind != "profile":
	case optOut == "true":
		sig.OptOut = 1
	case optOut == "false":
		if sig.OptOut == 0 {
			sig.OptOut = -1
		}
	}
	return subj, sig, nil
}

// cleanClick cleans /r's d = "guid|page|session" as a record of kind click
// with fields g, p and s.
func (c *webCleaner) cleanClick(env *formats.Env, res *formats.Result) (kept, changed bool, err error) {
	parts := bytes.Split(c.dJSON, []byte("|"))
	if len(parts) != 3 || !utf8.Valid(c.dJSON) {
		return false, false, formats.Errorf(400, "invalid_payload", "the click payload is not guid|page|session")
	}
	c.rec = append(c.rec[:0], `{"g":`...)
	c.rec = appendJSONString(c.rec, parts[0])
	c.rec = append(c.rec, `,"p":`...)
	c.rec = appendJSONString(c.rec, parts[1])
	c.rec = append(c.rec, `,"s":`...)
	c.rec = appendJSONString(c.rec, parts[2])
	c.rec = append(c.rec, '}')
	rw := env.Rewriter
	if _, err := rw.Parse(c.rec, 0); err != nil {
		return false, false, err
	}
	subj := formats.Subject{Kind: KindClick, Device: parts[0]}
	if len(subj.Device) == 0 {
		subj.Device = c.value("gc")
	}
	c.recOut, kept, err = env.CleanParsed(c.recOut[:0], FormatWeb, WebClassifier{}, subj, formats.Signals{}, res)
	if err != nil || !kept {
		return false, false, err
	}
	var out [3][]byte
	c.outText = c.outText[:0]
	err = masking.EachMember(c.recOut, func(key []byte, s, e int, t masking.ValueType) error {
		i := bytes.IndexByte([]byte("gps"), keyByte(key))
		if i < 0 || t != masking.TypeString {
			return nil // dropped or turned into a non-string: leave the part empty
		}
		start := len(c.outText)
		c.outText, _ = masking.AppendUnquote(c.outText, c.recOut[s:e])
		out[i] = c.outText[start:len(c.outText):len(c.outText)]
		return nil
	})
	if err != nil {
		return false, false, err
	}
	c.dOut = append(append(append(append(append(c.dOut[:0], out[0]...), '|'), out[1]...), '|'), out[2]...)
	if bytes.Equal(c.dOut, c.dJSON) {
		return true, false, nil
	}
	return true, true, c.encodePayload()
}

func keyByte(k []byte) byte {
	if len(k) != 1 {
		return 0
	}
	return k[0]
}

// cleanARP cleans the arp object as kind "meta".
func (c *webCleaner) cleanARP(env *formats.Env) (bool, error) {
	p := &c.params[c.arp]
	var err error
	c.arpJSON, err = lzstring.AppendDecompressFromBase64(c.arpJSON[:0], p.val, MaxWebPayload)
	if err != nil {
		return false, formats.Errorf(400, "invalid_payload", "arp is not LZ-String Base64: %v", err)
	}
	c.arpOut, err = env.CleanHeader(c.arpOut[:0], c.arpJSON, FormatWeb, WebClassifier{})
	if err != nil {
		return false, err
	}
	if bytes.Equal(c.arpOut, c.arpJSON) {
		return false, nil
	}
	c.enc2, err = lzstring.AppendCompressToBase64(c.enc2[:0], c.arpOut)
	return true, err
}

// ---------------------------------------------------------------------------
// The query record

// cleanParams runs every remaining parameter through one record of kind
// "query" and records each one's fate in its state.
func (c *webCleaner) cleanParams(env *formats.Env) error {
	c.rec = append(c.rec[:0], '{')
	c.outText = c.outText[:0]
	n := 0
	for i := range c.params {
		p := &c.params[i]
		switch p.spec.kind {
		case pDrop:
			p.state = psDrop
			continue
		case pPayload, pARP:
			continue
		}
		if n > 0 {
			c.rec = append(c.rec, ',')
		}
		n++
		c.rec = appendJSONString(c.rec, p.key)
		c.rec = append(c.rec, ':')
		val := p.val
		if p.spec.kind == pURL && p.hasEq {
			start := len(c.outText)
			var err error
			c.outText, err = c.cleanURL(c.outText, val, string(p.key), env)
			if err != nil {
				return err
			}
			val = c.outText[start:len(c.outText):len(c.outText)]
		}
		switch {
		case !p.hasEq:
			c.rec = append(c.rec, "null"...)
		case (p.spec.kind == pBool || p.spec.kind == pUseIP) && (string(val) == "true" || string(val) == "false"):
			c.rec = append(c.rec, val...)
		default:
			c.rec = appendJSONString(c.rec, val)
		}
	}
	c.rec = append(c.rec, '}')
	if n == 0 {
		return nil
	}
	var err error
	kind := KindQuery
	if c.route == routeRecorder {
		kind = KindLinkQuery
	}
	c.recOut, err = auxRewrite(c.recOut[:0], c.rec, kind, "", env)
	if err != nil {
		return err
	}
	// Match the output members to the parameters: the rewriter keeps the
	// order and the keys, and drops members.
	j := 0
	next := func(key []byte) *param {
		for ; j < len(c.params); j++ {
			p := &c.params[j]
			if k := p.spec.kind; k == pDrop || k == pPayload || k == pARP {
				continue
			}
			if bytes.Equal(p.key, key) {
				j++
				return p
			}
			p.state = psDrop
		}
		return nil
	}
	err = masking.EachMember(c.recOut, func(key []byte, s, e int, t masking.ValueType) error {
		p := next(key)
		if p == nil {
			return errors.New("cannot match the cleaned query to its parameters")
		}
		return c.settle(p, c.recOut[s:e], t)
	})
	if err != nil {
		return err
	}
	for ; j < len(c.params); j++ {
		if k := c.params[j].spec.kind; k != pPayload && k != pARP {
			c.params[j].state = psDrop
		}
	}
	return nil
}

// settle compares a parameter's cleaned JSON value with what was received.
func (c *webCleaner) settle(p *param, tok []byte, t masking.ValueType) error {
	if p.spec.kind == pUseIP {
		// The server may use the client's IP only if the client allowed it
		// and the policy kept that.
		if string(tok) == "true" && string(p.val) == "true" {
			p.state = psKeep
			return nil
		}
		if string(p.val) == "false" {
			p.state = psKeep
		} else {
			p.state, p.out = psChanged, []byte("false")
		}
		return nil
	}
	var val []byte
	switch t {
	case masking.TypeNull:
		if !p.hasEq {
			p.state = psKeep
			return nil
		}
		p.state, p.outNil = psChanged, true
		return nil
	case masking.TypeString:
		start := len(c.outText)
		var err error
		c.outText, err = masking.AppendUnquote(c.outText, tok)
		if err != nil {
			return err
		}
		val = c.outText[start:len(c.outText):len(c.outText)]
	default:
		val = tok // numbers and booleans as their JSON text
	}
	if p.hasEq && bytes.Equal(val, p.val) {
		p.state = psKeep
		return nil
	}
	p.state, p.out = psChanged, val
	return nil
}

// emit writes the new query string.
func (c *webCleaner) emit(dst []byte, dChanged, arpChanged bool) ([]byte, error) {
	first := true
	sep := func() {
		if !first {
			dst = append(dst, '&')
		}
		first = false
	}
	for i := range c.params {
		p := &c.params[i]
		switch {
		case i == c.d:
			sep()
			if !dChanged {
				dst = append(dst, p.raw...)
				continue
			}
			dst = append(append(dst, p.rawKey...), '=')
			dst = appendComponent(dst, c.enc)
		case i == c.arp:
			sep()
			if !arpChanged {
				dst = append(dst, p.raw...)
				continue
			}
			dst = append(append(dst, p.rawKey...), '=')
			dst = appendComponent(dst, c.enc2)
		case p.state == psDrop:
			if p.spec.kind == pUseIP {
				sep()
				dst = append(dst, p.rawKey...)
				dst = append(dst, "=false"...)
			}
		case p.state == psKeep:
			sep()
			dst = append(dst, p.raw...)
		case p.state == psChanged:
			sep()
			dst = append(dst, p.rawKey...)
			if !p.outNil {
				dst = append(dst, '=')
				dst = appendComponent(dst, p.out)
			}
		}
	}
	return dst, nil
}

// auxRewrite cleans one of the adapter's own records (query, url): never
// suppressed or counted, only decided field by field.
func auxRewrite(dst, raw []byte, kind, name string, env *formats.Env) ([]byte, error) {
	rec := masking.Record{
		Tenant:      env.Tenant,
		Format:      FormatWeb,
		Kind:        kind,
		Name:        name,
		Classifier:  WebClassifier{},
		Planner:     env.Planner,
		Transformer: env.Applier,
	}
	if env.OnRecord != nil {
		rec.OnPlan = func(p *masking.Plan) { env.OnRecord(kind, name, p) }
	}
	if err := formats.CheckNumbers(raw); err != nil {
		return dst, err
	}
	return env.Rewriter.Rewrite(dst, raw, &rec, env.Stats)
}

// ---------------------------------------------------------------------------
// URLs

// urlScratch is the working memory of cleanURL.
type urlScratch struct {
	params   []param
	text     []byte
	rec, out []byte
	vals     []byte
}

// urlParts is a URL split for cleaning. Every part is a view into the URL.
type urlParts struct {
	prefix          []byte // "scheme://host:port" without user info, or "scheme:"
	path            []byte
	query           []byte
	frag            []byte // the fragment's path (all of it when it has no '?')
	fragQuery       []byte // the fragment's parameters
	hasQuery        bool
	hasFrag         bool
	fragHasQ        bool // the fragment is "path?params"
	fragIsParams    bool // the fragment is "k=v&..." (OAuth style)
	strippedUserinf bool
}

func isSchemeChar(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		return !first
	}
	return false
}

func splitURL(u []byte) urlParts {
	var p urlParts
	if i := bytes.IndexByte(u, '#'); i >= 0 {
		p.hasFrag = true
		f := u[i+1:]
		u = u[:i]
		switch j := bytes.IndexByte(f, '?'); {
		case j >= 0:
			p.frag, p.fragQuery, p.fragHasQ = f[:j], f[j+1:], true
		case bytes.IndexByte(f, '=') >= 0:
			p.fragQuery, p.fragIsParams = f, true
		default:
			p.frag = f
		}
	}
	if i := bytes.IndexByte(u, '?'); i >= 0 {
		p.query, p.hasQuery = u[i+1:], true
		u = u[:i]
	}
	colon := -1
	for i := 0; i < len(u); i++ {
		if u[i] == ':' && i > 0 {
			colon = i
			break
		}
		if !isSchemeChar(u[i], i == 0) {
			break
		}
	}
	if colon < 0 {
		p.path = u
		return p
	}
	rest := u[colon+1:]
	if !bytes.HasPrefix(rest, []byte("//")) {
		p.prefix, p.path = u[:colon+1], rest
		return p
	}
	auth := rest[2:]
	end := len(auth)
	if i := bytes.IndexByte(auth, '/'); i >= 0 {
		end = i
	}
	host := auth[:end]
	p.path = auth[end:]
	if i := bytes.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
		p.strippedUserinf = true
	}
	// prefix = scheme "://" host; host is contiguous with "//" unless user
	// info was removed, so build it in the caller's buffer.
	p.prefix = u[:colon+3]
	if !p.strippedUserinf {
		p.prefix = u[:colon+3+len(host)]
	} else {
		p.prefix = append(append([]byte(nil), u[:colon+3]...), host...)
	}
	return p
}

// cleanURLMembers rewrites the top-level string members cpg and referrer of
// the JSON object d, appending the result to dst. A d without them is
// copied as it is.
func (c *webCleaner) cleanURLMembers(dst, d []byte, env *formats.Env) ([]byte, error) {
	type repl struct {
		s, e int
		name string
	}
	var found [4]repl
	spans := found[:0]
	err := masking.EachMember(d, func(key []byte, s, e int, t masking.ValueType) error {
		if t != masking.TypeString {
			return nil
		}
		switch string(key) {
		case "cpg":
			spans = append(spans, repl{s, e, "cpg"})
		case "referrer":
			spans = append(spans, repl{s, e, "referrer"})
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	cursor := 0
	for _, sp := range spans {
		name := sp.name
		start := len(c.outText)
		c.outText, err = masking.AppendUnquote(c.outText, d[sp.s:sp.e])
		if err != nil {
			return dst, err
		}
		u := c.outText[start:len(c.outText):len(c.outText)]
		mark := len(c.outText)
		c.outText, err = c.cleanURL(c.outText, u, name, env)
		if err != nil {
			return dst, err
		}
		nu := c.outText[mark:]
		if bytes.Equal(nu, u) {
			continue
		}
		dst = append(dst, d[cursor:sp.s]...)
		dst = appendJSONString(dst, nu)
		cursor = sp.e
	}
	return append(dst, d[cursor:]...), nil
}

// cleanURL appends the cleaned form of the URL u to dst.
func (c *webCleaner) cleanURL(dst, u []byte, name string, env *formats.Env) ([]byte, error) {
	parts := splitURL(u)
	pathInfo := len(parts.path) > 1 || (len(parts.path) == 1 && parts.path[0] != '/')
	if !pathInfo && !parts.hasQuery && !parts.hasFrag {
		if parts.strippedUserinf {
			return append(append(dst, parts.prefix...), parts.path...), nil
		}
		return append(dst, u...), nil
	}
	s := &c.url
	s.params = s.params[:0]
	if need := 2 * len(u); cap(s.text) < need {
		s.text = make([]byte, 0, need)
	}
	s.text = s.text[:0]
	s.rec = append(s.rec[:0], '{')
	members := 0
	member := func(k string) {
		if members > 0 {
			s.rec = append(s.rec, ',')
		}
		members++
		s.rec = append(s.rec, k...)
	}
	// Paths and fragments are decoded for the detectors; one that does not
	// decode is scanned as it is.
	decoded := func(raw []byte) []byte {
		start := len(s.text)
		var ok bool
		s.text, ok = appendUnescape(s.text, raw, false)
		if !ok || !utf8.Valid(s.text[start:]) {
			s.text = append(s.text[:start], raw...) // raw is valid UTF-8: it came from JSON or a decoded parameter
		}
		return s.text[start:len(s.text):len(s.text)]
	}
	var pathDec, fragDec []byte
	if pathInfo {
		pathDec = decoded(parts.path)
		member(`"path":`)
		s.rec = appendJSONString(s.rec, pathDec)
	}
	qStart := len(s.params)
	if parts.hasQuery {
		member(`"query":`)
		s.rec = c.urlParams(s.rec, parts.query)
	}
	qEnd := len(s.params)
	if len(parts.frag) > 0 {
		fragDec = decoded(parts.frag)
		member(`"fragment":`)
		s.rec = appendJSONString(s.rec, fragDec)
	}
	if parts.fragHasQ || parts.fragIsParams {
		member(`"fragment_query":`)
		s.rec = c.urlParams(s.rec, parts.fragQuery)
	}
	s.rec = append(s.rec, '}')
	if len(s.params) > maxURLParams {
		return dst, formats.Errorf(400, "invalid_payload", "a URL has more than %d parameters", maxURLParams)
	}
	var err error
	s.out, err = auxRewrite(s.out[:0], s.rec, KindURL, name, env)
	if err != nil {
		return dst, err
	}
	// Read the decisions back.
	var newPath, newFrag []byte
	pathKept, fragKept := false, false
	s.vals = s.vals[:0]
	err = masking.EachMember(s.out, func(key []byte, st, en int, t masking.ValueType) error {
		switch string(key) {
		case "path", "fragment":
			if t != masking.TypeString {
				return nil
			}
			start := len(s.vals)
			s.vals, err = masking.AppendUnquote(s.vals, s.out[st:en])
			if err != nil {
				return err
			}
			v := s.vals[start:len(s.vals):len(s.vals)]
			if string(key) == "path" {
				newPath, pathKept = v, true
			} else {
				newFrag, fragKept = v, true
			}
		case "query":
			return c.settleURLParams(s.params[qStart:qEnd], s.out[st:en], t)
		case "fragment_query":
			return c.settleURLParams(s.params[qEnd:], s.out[st:en], t)
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	dst = append(dst, parts.prefix...)
	switch {
	case !pathInfo:
		dst = append(dst, parts.path...)
	case pathKept && bytes.Equal(newPath, pathDec):
		dst = append(dst, parts.path...)
	case pathKept:
		dst = appendPath(dst, newPath)
	}
	if parts.hasQuery {
		dst = appendURLParams(dst, '?', s.params[qStart:qEnd])
	}
	if parts.hasFrag {
		mark := len(dst)
		dst = append(dst, '#')
		switch {
		case len(parts.frag) == 0:
		case fragKept && bytes.Equal(newFrag, fragDec):
			dst = append(dst, parts.frag...)
		case fragKept:
			dst = appendPath(dst, newFrag)
		}
		if parts.fragHasQ || parts.fragIsParams {
			lead := byte('?')
			if parts.fragIsParams {
				lead = 0
			}
			dst = appendURLParams(dst, lead, s.params[qEnd:])
		}
		if len(dst) == mark+1 {
			dst = dst[:mark] // nothing left after '#'
		}
	}
	return dst, nil
}

// urlParams adds the parameters of a URL query to the url scratch and their
// JSON object to rec. Parameters that do not decode are dropped.
func (c *webCleaner) urlParams(rec, q []byte) []byte {
	s := &c.url
	rec = append(rec, '{')
	n := 0
	for len(q) > 0 {
		var seg []byte
		seg, q, _ = bytes.Cut(q, amp)
		if len(seg) == 0 {
			continue
		}
		p := param{raw: seg, rawKey: seg}
		var rawVal []byte
		if i := bytes.IndexByte(seg, '='); i >= 0 {
			p.rawKey, rawVal, p.hasEq = seg[:i], seg[i+1:], true
		}
		ks := len(s.text)
		var ok1, ok2 bool
		s.text, ok1 = appendUnescape(s.text, p.rawKey, true)
		ke := len(s.text)
		s.text, ok2 = appendUnescape(s.text, rawVal, true)
		if !ok1 || !ok2 || !utf8.Valid(s.text[ks:]) {
			s.text = s.text[:ks]
			p.state = psDrop
			p.spec.kind = pDrop
			s.params = append(s.params, p)
			continue
		}
		p.key = s.text[ks:ke:ke]
		p.val = s.text[ke:len(s.text):len(s.text)]
		p.spec.kind = pField
		if n > 0 {
			rec = append(rec, ',')
		}
		n++
		rec = appendJSONString(rec, p.key)
		rec = append(rec, ':')
		if p.hasEq {
			rec = appendJSONString(rec, p.val)
		} else {
			rec = append(rec, "null"...)
		}
		s.params = append(s.params, p)
	}
	return append(rec, '}')
}

// settleURLParams matches the members of a cleaned parameter object to
// ps, in order; a parameter without a member was dropped.
func (c *webCleaner) settleURLParams(ps []param, obj []byte, t masking.ValueType) error {
	j := 0
	if t == masking.TypeObject {
		err := masking.EachMember(obj, func(key []byte, st, en int, vt masking.ValueType) error {
			for ; j < len(ps); j++ {
				p := &ps[j]
				if p.spec.kind == pDrop {
					continue
				}
				if bytes.Equal(p.key, key) {
					j++
					return c.settleURL(p, obj[st:en], vt)
				}
				p.state = psDrop
			}
			return errors.New("cannot match the cleaned URL to its parameters")
		})
		if err != nil {
			return err
		}
	}
	for ; j < len(ps); j++ {
		ps[j].state = psDrop
	}
	return nil
}

func (c *webCleaner) settleURL(p *param, tok []byte, t masking.ValueType) error {
	s := &c.url
	switch t {
	case masking.TypeNull:
		if !p.hasEq {
			p.state = psKeep
		} else {
			p.state, p.outNil = psChanged, true
		}
		return nil
	case masking.TypeString:
		start := len(s.vals)
		var err error
		s.vals, err = masking.AppendUnquote(s.vals, tok)
		if err != nil {
			return err
		}
		v := s.vals[start:len(s.vals):len(s.vals)]
		if p.hasEq && bytes.Equal(v, p.val) {
			p.state = psKeep
		} else {
			p.state, p.out = psChanged, v
		}
		return nil
	default:
		p.state, p.out = psChanged, tok
		return nil
	}
}

// appendURLParams writes the surviving parameters, led by lead (0: none).
func appendURLParams(dst []byte, lead byte, ps []param) []byte {
	first := true
	for i := range ps {
		p := &ps[i]
		if p.state == psDrop {
			continue
		}
		if first {
			if lead != 0 {
				dst = append(dst, lead)
			}
			first = false
		} else {
			dst = append(dst, '&')
		}
		if p.state == psKeep {
			dst = append(dst, p.raw...)
			continue
		}
		dst = append(dst, p.rawKey...)
		if !p.outNil {
			dst = append(dst, '=')
			dst = appendComponent(dst, p.out)
		}
	}
	return dst
}

// urlParamClass classifies the key of a URL or query parameter by its name.
// Keys are compared lower-cased without '_', '-', '.' and spaces, so that
// user_email, userEmail and user-email are the same.
func urlParamClass(key string) string {
	var buf [48]byte
	k := buf[:0]
	for i := 0; i < len(key) && len(k) < len(buf); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			k = append(k, c+'a'-'A')
		case c == '_', c == '-', c == '.', c == ' ':
		default:
			k = append(k, c)
		}
	}
	if len(key) > len(buf) {
		return ""
	}
	s := string(k)
	if c, ok := urlExact[s]; ok {
		return c
	}
	switch {
	case strings.HasPrefix(s, "utm"):
		return "web.campaign"
	case strings.Contains(s, "email"):
		return "contact.email"
	case strings.Contains(s, "phone"), strings.Contains(s, "mobile"), strings.Contains(s, "msisdn"):
		return "contact.phone"
	case strings.Contains(s, "token"), strings.Contains(s, "password"), strings.Contains(s, "passwd"),
		strings.Contains(s, "secret"), strings.Contains(s, "apikey"), strings.Contains(s, "session"),
		strings.Contains(s, "signature"), strings.Contains(s, "auth"), strings.Contains(s, "jwt"):
		return "auth.secret"
	case strings.HasSuffix(s, "clid"), strings.HasSuffix(s, "clickid"):
		return "ad.click_id"
	case strings.HasSuffix(s, "name") && s != "pagename" && s != "hostname" && s != "filename":
		return "person.name"
	}
	return ""
}

var urlExact = map[string]string{
	"mail": "contact.email", "email": "contact.email",
	"tel": "contact.phone", "cell": "contact.phone",
	"name": "person.name", "fname": "person.name", "lname": "person.name", "surname": "person.name",
	"user": "person.name", "login": "person.name",
	"uid": "id.user", "userid": "id.user", "customerid": "id.user", "memberid": "id.user",
	"identity": "id.user", "accountid": "id.user",
	"code": "auth.secret", "pwd": "auth.secret", "pass": "auth.secret", "key": "auth.secret",
	"sig": "auth.secret", "otp": "auth.secret", "pin": "auth.secret", "nonce": "auth.secret",
	"ticket": "auth.secret", "sid": "auth.secret", "state": "auth.secret",
	"gclid": "ad.click_id", "gbraid": "ad.click_id", "wbraid": "ad.click_id", "dclid": "ad.click_id",
	"fbclid": "ad.click_id", "msclkid": "ad.click_id", "ttclid": "ad.click_id", "twclid": "ad.click_id",
	"lifatid": "ad.click_id", "yclid": "ad.click_id", "igshid": "ad.click_id", "epik": "ad.click_id",
	"sccid": "ad.click_id", "mceid": "ad.click_id", "hsenc": "ad.click_id", "mkttok": "ad.click_id",
	"ip": "net.ip", "ipaddress": "net.ip",
	"lat": "geo.lat", "latitude": "geo.lat", "lng": "geo.lng", "lon": "geo.lng", "longitude": "geo.lng",
	"dob": "person.birthdate", "birthdate": "person.birthdate", "birthday": "person.birthdate",
	"dateofbirth": "person.birthdate",
	"address":     "person.address", "street": "person.address", "zip": "person.address",
	"zipcode": "person.address", "postcode": "person.address", "postalcode": "person.address",
}

// ---------------------------------------------------------------------------
// Classes

// WebClassifier assigns classes to the web SDK's keys: those of d (which
// shares the mobile SDK's vocabulary, see Classifier), of the query record
// and of URL parts.
type WebClassifier struct{}

var webTopClasses = map[string]string{
	"cpg":      "web.page_url",
	"referrer": "web.referrer",
	"us":       "web.campaign",
	"um":       "web.campaign",
	"uc":       "web.campaign",
	"wm":       "web.campaign",
	"isOUL":    "record.meta",
	"rc":       "record.meta",
	"action":   "record.meta",
	"endpoint": "id.push_token", // a browser push subscription: needed to deliver push
	"browser":  "device.info",
}

// Classify implements masking.Classifier.
func (WebClassifier) Classify(kind, path, key string) string {
	switch kind {
	case KindQuery, KindLinkQuery:
		if s, ok := webParams[path]; ok {
			return s.class
		}
		if s, ok := emailParams[path]; ok && kind == KindQuery {
			return s.class
		}
		return urlParamClass(key)
	case KindURL:
		switch path {
		case "path":
			return "web.url_path"
		case "fragment":
			return "web.url_fragment"
		}
		return urlParamClass(key)
	case KindClick:
		switch path {
		case "g":
			return "id.device"
		case "p", "s":
			return "record.meta"
		}
		return ""
	case KindEmail:
		if path == "cUsY" || strings.HasPrefix(path, "unsubGroups") {
			return "consent.marketing"
		}
	}
	if !strings.ContainsAny(path, ".[") {
		if c, ok := webTopClasses[path]; ok {
			return c
		}
	}
	if path == "WZRK_CAMP" || strings.HasPrefix(path, "WZRK_CAMP.") {
		return "web.campaign"
	}
	if kind == "data" && (path == "keys.p256dh" || path == "keys.auth") {
		return "id.push_token"
	}
	return Classifier{}.Classify(kind, path, key)
}

// ---------------------------------------------------------------------------
// Encryption in transit (web: only d is encrypted, clevertap-wire.md §5)

type webEIT struct {
	key   []byte
	idTok []byte // the envelope's id as a JSON token
	idStr string
}

// openWebEIT recognises an EIT envelope in the decoded d and returns the
// plaintext (itself LZ-String Base64). ok=false: d is not an envelope.
func openWebEIT(d []byte) (e *webEIT, plain []byte, ok bool, err error) {
	if !gjson.GetBytes(d, "itp").Exists() {
		return nil, nil, false, nil
	}
	var itp, itk, itv []byte
	var idTok []byte
	encrypted := false
	err = masking.EachMember(d, func(key []byte, s, en int, t masking.ValueType) error {
		v := d[s:en]
		switch string(key) {
		case "itp", "itk", "itv":
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_envelope", "encrypted d field %q is not a string", key)
			}
			b, err := base64.StdEncoding.AppendDecode(nil, v[1:len(v)-1])
			if err != nil {
				return formats.Errorf(400, "invalid_envelope", "encrypted d field %q is not base64", key)
			}
			switch key[2] {
			case 'p':
				itp = b
			case 'k':
				itk = b
			default:
				itv = b
			}
		case "id":
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_envelope", "encrypted d has a non-string id")
			}
			idTok = v
		case "encrypted":
			encrypted = string(v) == "true"
		default:
			return formats.Errorf(400, "invalid_envelope", "encrypted d has keys other than itp, itk, itv, id, encrypted")
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	if !encrypted || itp == nil || len(itk) != 32 || len(itv) != 12 || idTok == nil {
		return nil, nil, false, formats.Errorf(400, "invalid_envelope", "encrypted d needs itp, a 256-bit itk, a 96-bit itv, id and encrypted:true")
	}
	aead, err := newGCM(itk)
	if err != nil {
		return nil, nil, false, err
	}
	plain, err = aead.Open(nil, itv, itp, nil)
	if err != nil {
		return nil, nil, false, formats.Errorf(400, "invalid_envelope", "encrypted d does not decrypt (wrong key, IV or tag)")
	}
	idStr, _ := masking.AppendUnquote(nil, idTok)
	return &webEIT{key: itk, idTok: idTok, idStr: string(idStr)}, plain, true, nil
}

// seal encrypts plain with the envelope's key and a fresh IV and appends the
// envelope JSON, keys in the SDK's order.
func (e *webEIT) seal(dst, plain []byte) ([]byte, error) {
	aead, err := newGCM(e.key)
	if err != nil {
		return dst, err
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return dst, fmt.Errorf("cannot draw an IV: %w", err)
	}
	ct := aead.Seal(nil, iv, plain, nil)
	dst = append(dst, `{"itp":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, ct)
	dst = append(dst, `","itk":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.key)
	dst = append(dst, `","itv":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, iv)
	dst = append(dst, `","id":`...)
	dst = append(dst, e.idTok...)
	return append(dst, `,"encrypted":true}`...), nil
}

// ---------------------------------------------------------------------------
// Accounts and replies

// WebAccounts reads the account id from d (the envelope's id when d is
// encrypted). /r carries none: its tenant is the default one.
func WebAccounts(dst [][]byte, req formats.Request, _ []byte) [][]byte {
	c := getCleaner()
	defer c.release()
	if c.parse(req.QueryString(), routeAny) != nil || c.d < 0 {
		return dst
	}
	js, err := lzstring.AppendDecompressFromBase64(nil, c.params[c.d].val, MaxWebPayload)
	if err != nil {
		return dst
	}
	if id := gjson.GetBytes(js, "id"); id.Type == gjson.String && id.Str != "" {
		dst = append(dst, []byte(id.Str))
	}
	return dst
}

// WebReply is the acknowledgement Consentry sends when it drops a web
// request, so that the SDK removes it from its backup queue and does not
// replay it: JSONP $WZRK_WR.s(guid, session, false, rn), or in fetch mode
// {"meta":{...}}. For a suppressed subject the GUID ends in ":OO", which
// makes the SDK stop sending altogether (clevertap-wire.md §8.1).
func WebReply(dst []byte, req formats.Request, res formats.Result) ([]byte, string) {
	c := getCleaner()
	defer c.release()
	_ = c.parse(req.QueryString(), routeAny) // best effort: the reply must go out
	var d gjson.Result
	var text []byte
	if c.d >= 0 {
		if js, err := lzstring.AppendDecompressFromBase64(nil, c.params[c.d].val, MaxWebPayload); err == nil {
			if _, inner, ok, err := openWebEIT(js); err == nil && ok {
				js, _ = lzstring.AppendDecompressFromBase64(nil, inner, MaxWebPayload)
			}
			text = js
			d = gjson.ParseBytes(js)
		}
	}
	guid := c.value("gc")
	if len(guid) == 0 && d.Get("g").Type == gjson.String {
		guid = []byte(d.Get("g").Str)
	}
	if i := bytes.IndexByte(text, '|'); len(guid) == 0 && i > 0 && text[0] != '{' {
		guid = text[:i] // /r: guid|page|session
	}
	if len(guid) == 0 || len(guid) > maxGUIDLen || !utf8.Valid(guid) {
		guid = newGUID()
	}
	optOut := res.Suppressed > 0
	if optOut && !bytes.HasSuffix(guid, []byte(":OO")) {
		guid = append(append([]byte(nil), guid...), ":OO"...)
	}
	var sid []byte
	switch s := d.Get("s"); s.Type {
	case gjson.Number, gjson.String:
		sid = digits([]byte(s.Raw))
	}
	if sid == nil {
		sid = digits(c.value("s"))
	}
	if sid == nil {
		sid = digits(c.value("i"))
	}
	if sid == nil {
		sid = []byte("0")
	}
	rn := digits(c.value("rn"))
	if rn == nil {
		rn = []byte("0")
	}
	if fetchMode(req) {
		dst = append(dst, `{"meta":{"g":"`...)
		dst = appendJSEscaped(dst, guid)
		dst = append(dst, `","sid":`...)
		dst = append(dst, sid...)
		dst = append(dst, `,"rf":false,"rn":"`...)
		dst = append(dst, rn...)
		dst = append(dst, `","optOut":`...)
		dst = strconv.AppendBool(dst, optOut)
		return append(dst, "}}"...), jsonType
	}
	dst = append(dst, "$WZRK_WR.s('"...)
	dst = appendJSEscaped(dst, guid)
	dst = append(dst, "', "...)
	dst = append(dst, sid...)
	dst = append(dst, ", false, "...)
	dst = append(dst, rn...)
	if optOut {
		dst = append(dst, ", true"...)
	}
	return append(dst, ");"...), jsonpType
}

// fetchMode reports whether the SDK called with fetch() and wants JSON.
func fetchMode(req formats.Request) bool {
	if bytes.EqualFold(bytes.TrimSpace(req.Header("X-CleverTap-Encryption-Enabled")), []byte("true")) {
		return true
	}
	return bytes.Contains(bytes.ToLower(req.Header("Accept")), []byte("application/json"))
}

// newGUID draws a GUID of the server's shape (32 hex characters) for a
// first request that Consentry answers itself: without one the SDK holds
// and replays its requests.
var newGUID = func() []byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.AppendEncode(nil, b[:])
}

// digits returns v without leading zeros if it is 1 to 19 ASCII digits,
// else nil: the result is a valid JSON and JavaScript number ("08" is
// neither).
func digits(v []byte) []byte {
	if len(v) == 0 || len(v) > 19 {
		return nil
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return nil
		}
	}
	for len(v) > 1 && v[0] == '0' {
		v = v[1:]
	}
	return v
}

// appendJSEscaped writes s for a single- or double-quoted JavaScript (and
// JSON) string: [A-Za-z0-9_:-] as they are, everything else as \uXXXX, so
// no input can end the string or the script.
func appendJSEscaped(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	for _, r := range string(s) {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':' || r == '-') {
			dst = append(dst, byte(r))
			continue
		}
		var units [2]rune
		n := 1
		units[0] = r
		if r >= 0x10000 {
			r -= 0x10000
			units[0], units[1], n = 0xD800+(r>>10), 0xDC00+(r&0x3FF), 2
		}
		for _, u := range units[:n] {
			dst = append(dst, '\\', 'u', hexd[u>>12&15], hexd[u>>8&15], hexd[u>>4&15], hexd[u&15])
		}
	}
	return dst
}

// ---------------------------------------------------------------------------
// Percent-encoding and JSON strings

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendUnescape percent-decodes s; plusSpace decodes '+' as a space (form
// encoding). ok=false for a malformed escape.
func appendUnescape(dst, s []byte, plusSpace bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) {
				return dst, false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, h<<4|l)
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// componentSafe are the bytes encodeURIComponent leaves as they are;
// pathSafe adds what a path may hold unescaped.
var componentSafe, pathSafe = func() (c, p [256]bool) {
	for b := 'a'; b <= 'z'; b++ {
		c[b], c[b-'a'+'A'] = true, true
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = true
	}
	for _, b := range []byte("-_.!~*'()") {
		c[b] = true
	}
	p = c
	for _, b := range []byte("/:@&=+$,;") {
		p[b] = true
	}
	return c, p
}()

// appendComponent percent-encodes s as JavaScript's encodeURIComponent does.
func appendComponent(dst, s []byte) []byte { return appendEscaped(dst, s, &componentSafe) }

func appendPath(dst, s []byte) []byte { return appendEscaped(dst, s, &pathSafe) }

func appendEscaped(dst, s []byte, safe *[256]bool) []byte {
	const hexu = "0123456789ABCDEF"
	for _, c := range s {
		if safe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexu[c>>4], hexu[c&15])
		}
	}
	return dst
}

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
