package mixpanel

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/vendorkit"
	"github.com/consentry/consentry/masking"
)

// Format is the policy's input.format for Mixpanel.
const Format = "mixpanel"

// Record kinds.
const (
	KindEvent   = "event"   // /track and /import
	KindProfile = "profile" // /engage
	KindGroup   = "group"   // /groups
)

var endpoints = []struct {
	path, kind string
	get        bool
}{
	{"/track", KindEvent, true},
	{"/engage", KindProfile, true},
	{"/groups", KindGroup, true},
	{"/import", KindEvent, false},
}

// Routes are Mixpanel's ingestion endpoints, with and without the trailing
// slash that mixpanel-js adds. GET requests carry the payload in the query
// (CleanQuery); POST requests in the body (Clean) and sometimes in the
// query too.
func Routes() []formats.Route {
	var rs []formats.Route
	for _, ep := range endpoints {
		kind := ep.kind
		for _, path := range []string{ep.path, ep.path + "/"} {
			post := formats.Route{
				Method:        "POST",
				Path:          path,
				Format:        Format,
				Accounts:      accounts(kind),
				AccountParams: []string{"data"},
				CleanQuery:    cleanQuery(kind, false),
				Clean: func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
					return Clean(dst, body, env, kind)
				},
				Reply:   replyFor(ep.path == "/import"),
				Browser: true,
			}
			rs = append(rs, post)
			if ep.get {
				get := post
				get.Method, get.Clean, get.CleanQuery = "GET", nil, cleanQuery(kind, true)
				rs = append(rs, get)
			}
		}
	}
	return rs
}

// state is one request's scratch space.
type state struct {
	params []vendorkit.Param
	plain  []byte // decoded data payload
	recs   []byte // cleaned records (JSON)
	hdr    []byte // {"key":value,...} of the other parameters
	spans  [][2]int
	hout   []byte // cleaned hdr
	keys   []byte // keys of the cleaned hdr members
	cms    []cleanedParam
	val    []byte // a decoded parameter value
}

type cleanedParam struct{ key, val [2]int } // spans in keys and hout

var statePool = sync.Pool{New: func() any { return new(state) }}

func getState() *state { return statePool.Get().(*state) }

func putState(st *state) {
	if cap(st.plain) > 1<<20 || cap(st.recs) > 1<<20 {
		return // let the GC take oversized buffers
	}
	st.params = st.params[:0]
	statePool.Put(st)
}

// Clean cleans a POST body of kind's endpoint and appends it to dst: a form
// body (data=... and other parameters) or a JSON or NDJSON body.
func Clean(dst, body []byte, env *formats.Env, kind string) ([]byte, formats.Result, error) {
	var res formats.Result
	if isJSON(body) {
		out, err := cleanRecords(dst, body, env, kind, &res)
		if err != nil {
			return dst, res, err
		}
		res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
		return out, res, nil
	}
	st := getState()
	defer putState(st)
	out, err := st.cleanParams(dst, body, env, kind, true, &res)
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return out, res, nil
}

// CleanQuery cleans a raw query string of kind's endpoint (the data
// parameter, if any, and the others) and appends the new query to dst.
// needData refuses a query without data (GET requests carry nothing else).
func CleanQuery(dst, query []byte, env *formats.Env, kind string, needData bool) ([]byte, formats.Result, error) {
	var res formats.Result
	if len(query) == 0 && !needData {
		return dst, res, nil
	}
	st := getState()
	defer putState(st)
	out, err := st.cleanParams(dst, query, env, kind, needData, &res)
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return out, res, nil
}

func cleanQuery(kind string, needData bool) func(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error) {
	return func(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error) {
		return CleanQuery(dst, req.QueryString(), env, kind, needData)
	}
}

func isJSON(b []byte) bool {
	i := masking.SkipSpace(b, 0)
	return i < len(b) && (b[i] == '{' || b[i] == '[')
}

// cleanParams cleans the parameters in src and appends them to dst in their
// order: data re-encoded as it came, the others cleaned as one header.
func (st *state) cleanParams(dst, src []byte, env *formats.Env, kind string, needData bool, res *formats.Result) ([]byte, error) {
	var err error
	if st.params, err = vendorkit.SplitParams(st.params[:0], src); err != nil {
		return dst, err
	}
	data := -1
	st.hdr = append(st.hdr[:0], '{')
	st.spans = st.spans[:0]
	for i := range st.params {
		p := &st.params[i]
		if p.Data {
			if data >= 0 {
				return dst, formats.Errorf(400, "invalid_payload", "two data parameters")
			}
			data = i
			st.spans = append(st.spans, [2]int{-1, -1})
			continue
		}
		if string(p.Key) == "verbose" && isSet(p.Value) {
			res.Verbose = true // form bodies (mixpanel-python) ask for the verbose reply here
		}
		if st.hdr, st.val, err = appendParamMember(st.hdr, st.val[:0], p, &st.spans); err != nil {
			return dst, err
		}
	}
	if data < 0 && needData {
		return dst, formats.Errorf(400, "invalid_payload", "the request has no data parameter")
	}

	// The payload first, so that a refusal leaves dst untouched.
	var enc vendorkit.DataEncoding
	if data >= 0 {
		st.plain, enc, err = vendorkit.DecodeData(st.plain[:0], st.params[data].Value)
		if err != nil {
			return dst, err
		}
		if st.recs, err = cleanRecords(st.recs[:0], st.plain, env, kind, res); err != nil {
			return dst, err
		}
	}
	st.cms = st.cms[:0]
	if len(st.hdr) > 1 {
		st.hdr = append(st.hdr, '}')
		if st.hout, err = env.CleanHeader(st.hout[:0], st.hdr, Format, paramClassifier{}); err != nil {
			return dst, err
		}
		st.keys = st.keys[:0]
		err = masking.EachMember(st.hout, func(key []byte, s, e int, _ masking.ValueType) error {
			ks := len(st.keys)
			st.keys = append(st.keys, key...)
			st.cms = append(st.cms, cleanedParam{key: [2]int{ks, len(st.keys)}, val: [2]int{s, e}})
			return nil
		})
		if err != nil {
			return dst, err
		}
	}

	// Emit in the original order. The rewriter only removes members, so the
	// cleaned parameters are a subsequence of the original ones.
	mark := len(dst)
	j := 0
	for i := range st.params {
		p := &st.params[i]
		if i == data {
			dst = appendSep(dst, mark)
			dst = append(dst, "data="...)
			dst = vendorkit.EncodeData(dst, st.recs, enc)
			continue
		}
		if j >= len(st.cms) || !bytes.Equal(st.keys[st.cms[j].key[0]:st.cms[j].key[1]], p.Key) {
			continue // dropped by the policy
		}
		c := st.cms[j]
		j++
		val := st.hout[c.val[0]:c.val[1]]
		dst = appendSep(dst, mark)
		if sp := st.spans[i]; bytes.Equal(val, st.hdr[sp[0]:sp[1]]) {
			dst = append(dst, p.Raw...) // unchanged: as sent
			continue
		}
		dst = vendorkit.Escape(dst, p.Key)
		dst = append(dst, '=')
		if dst, err = appendParamValue(dst, val); err != nil {
			return dst[:mark], err
		}
	}
	return dst, nil
}

func appendSep(dst []byte, mark int) []byte {
	if len(dst) > mark {
		return append(dst, '&')
	}
	return dst
}

// appendParamMember appends `"key":value` for p to a header object and
// records the value's span. Short decimal values become JSON numbers so that
// the policy can act on flags such as ip=1 by type.
func appendParamMember(obj, scratch []byte, p *vendorkit.Param, spans *[][2]int) ([]byte, []byte, error) {
	if !utf8.Valid(p.Key) {
		return obj, scratch, formats.Errorf(400, "invalid_payload", "a parameter name is not UTF-8")
	}
	v, err := vendorkit.Unescape(scratch, p.Value, true)
	if err != nil {
		return obj, v, err
	}
	if !utf8.Valid(v) {
		return obj, v, formats.Errorf(400, "invalid_payload", "a parameter value is not UTF-8")
	}
	if len(obj) > 1 {
		obj = append(obj, ',')
	}
	obj = vendorkit.AppendQuoted(obj, p.Key)
	obj = append(obj, ':')
	s := len(obj)
	if isSmallInt(v) {
		obj = append(obj, v...)
	} else {
		obj = vendorkit.AppendQuoted(obj, v)
	}
	*spans = append(*spans, [2]int{s, len(obj)})
	return obj, v, nil
}

func isSmallInt(v []byte) bool {
	if len(v) == 0 || len(v) > 15 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// appendParamValue appends a cleaned JSON scalar as a parameter value.
func appendParamValue(dst, val []byte) ([]byte, error) {
	switch {
	case len(val) > 0 && val[0] == '"':
		s, err := masking.AppendUnquote(nil, val)
		if err != nil {
			return dst, err
		}
		return vendorkit.Escape(dst, s), nil
	case string(val) == "null":
		return dst, nil
	}
	return vendorkit.Escape(dst, val), nil
}

// cleanRecords cleans a decoded payload: one record object, an array of
// them, or NDJSON (objects one after another).
func cleanRecords(dst, plain []byte, env *formats.Env, kind string, res *formats.Result) ([]byte, error) {
	i := masking.SkipSpace(plain, 0)
	if i < len(plain) && plain[i] == '[' {
		return vendorkit.CleanArray(dst, plain, "record", func(dst, raw []byte, _ int) ([]byte, bool, error) {
			return cleanRecord(dst, raw, env, kind, res)
		})
	}
	// One object, or NDJSON.
	mark := len(dst)
	n := 0
	for i < len(plain) {
		end, t, err := masking.SkipValue(plain, i)
		if err != nil {
			return dst[:mark], err
		}
		if t != masking.TypeObject {
			return dst[:mark], formats.Errorf(400, "invalid_payload", "record %d is a %s, want an object", n, t)
		}
		out, kept, err := cleanRecord(dst, plain[i:end], env, kind, res)
		if err != nil {
			return dst[:mark], err
		}
		if kept {
			dst = append(out, '\n')
		}
		n++
		i = masking.SkipSpace(plain, end)
	}
	if n == 0 {
		return dst[:mark], formats.Errorf(400, "invalid_payload", "the payload is empty")
	}
	if n == 1 && len(dst) > mark {
		dst = dst[:len(dst)-1] // a single object: no newline
	}
	return dst, nil
}

// cleanRecord reads one record's subject and cleans it.
func cleanRecord(dst, raw []byte, env *formats.Env, kind string, res *formats.Result) ([]byte, bool, error) {
	if _, err := env.Rewriter.Parse(raw, 0); err != nil {
		return dst, false, err
	}
	p := vendorkit.Parsed{RW: env.Rewriter}
	subj := formats.Subject{Kind: kind}
	obj, token := int32(0), "$token" // where the ids and the token are
	if kind == KindEvent {
		if p.RW.Type(p.Node(0, "event")) != masking.TypeString {
			return dst, false, formats.Errorf(400, "invalid_payload", "an event has no \"event\" name")
		}
		subj.Name = p.Str(0, "event")
		obj, token = p.Node(0, "properties"), "token"
		if obj >= 0 && p.RW.Type(obj) != masking.TypeObject {
			return dst, false, formats.Errorf(400, "invalid_payload", "event \"properties\" must be an object")
		}
	}
	distinct := "$distinct_id"
	if kind == KindEvent {
		distinct = "distinct_id"
	}
	var ids [3][]byte
	for i, k := range [...]string{"$user_id", distinct, "$device_id"} {
		var err error
		if ids[i], err = p.ID(obj, k); err != nil {
			return dst, false, err
		}
	}
	if obj >= 0 {
		if err := p.Unique(obj, token); err != nil {
			return dst, false, err
		}
	}
	if kind != KindGroup {
		subj.Identity, subj.Device = ids[0], ids[2]
		if subj.Identity == nil {
			subj.Identity = ids[1]
		}
	}
	return env.CleanParsed(dst, Format, Classifier{}, subj, formats.Signals{}, res)
}

// accounts returns the Accounts function of kind's routes: the project
// token of every record, in the query's data and in the body.
func accounts(kind string) func(dst [][]byte, req formats.Request, body []byte) [][]byte {
	tokenPath := "$token"
	if kind == KindEvent {
		tokenPath = "properties.token"
	}
	return func(dst [][]byte, req formats.Request, body []byte) [][]byte {
		dst = paramTokens(dst, req.QueryString(), tokenPath)
		if isJSON(body) {
			return jsonTokens(dst, body, tokenPath)
		}
		return paramTokens(dst, body, tokenPath)
	}
}

func paramTokens(dst [][]byte, src []byte, tokenPath string) [][]byte {
	ps, err := vendorkit.SplitParams(nil, src)
	if err != nil {
		return dst
	}
	for _, p := range ps {
		if !p.Data {
			continue
		}
		if plain, _, err := vendorkit.DecodeData(nil, p.Value); err == nil {
			dst = jsonTokens(dst, plain, tokenPath)
		}
	}
	return dst
}

// jsonTokens appends the token of each record in a payload (object, array
// or NDJSON). plain must outlive the returned views.
func jsonTokens(dst [][]byte, plain []byte, tokenPath string) [][]byte {
	add := func(r gjson.Result) {
		if t := r.Get(tokenPath); t.Exists() {
			if t.Type == gjson.String {
				dst = append(dst, []byte(t.Str))
			} else {
				dst = append(dst, []byte(t.Raw))
			}
		}
	}
	i := masking.SkipSpace(plain, 0)
	if i < len(plain) && plain[i] == '[' {
		gjson.ParseBytes(plain).ForEach(func(_, r gjson.Result) bool { add(r); return true })
		return dst
	}
	for i < len(plain) {
		end, _, err := masking.SkipValue(plain, i)
		if err != nil {
			return dst
		}
		add(gjson.ParseBytes(plain[i:end]))
		i = masking.SkipSpace(plain, end)
	}
	return dst
}

// replyFor builds Mixpanel's success reply: "1", {"status":1,"error":null}
// with verbose=1, the import API's JSON with strict=1, wrapped in the JSONP
// callback when the request names one.
func replyFor(isImport bool) func(dst []byte, req formats.Request, res formats.Result) ([]byte, string) {
	return func(dst []byte, req formats.Request, res formats.Result) ([]byte, string) {
		cb := req.Query("callback")
		jsonp := validCallback(cb)
		if jsonp {
			dst = append(append(dst, cb...), '(')
		}
		switch {
		case isImport && isSet(req.Query("strict")):
			dst = append(dst, `{"code":200,"num_records_imported":`...)
			dst = strconv.AppendInt(dst, int64(res.RecordsIn), 10)
			dst = append(dst, `,"status":"OK"}`...)
		case res.Verbose || isSet(req.Query("verbose")):
			dst = append(dst, `{"status":1,"error":null}`...)
		default:
			dst = append(dst, '1')
		}
		if jsonp {
			return append(dst, ')'), "application/javascript; charset=utf-8"
		}
		return dst, "application/json; charset=utf-8"
	}
}

func isSet(v []byte) bool { return string(v) == "1" || string(v) == "true" }

// validCallback accepts JSONP callback names such as
// "mixpanel._jsc.abc123" and nothing that could inject script.
func validCallback(cb []byte) bool {
	if len(cb) == 0 || len(cb) > 128 {
		return false
	}
	for _, c := range cb {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '$') {
			return false
		}
	}
	return true
}
