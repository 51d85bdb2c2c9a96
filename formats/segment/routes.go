package segment

import (
	"bytes"
	"encoding/base64"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// singlePaths maps each single-message path to its message kind: the long
// paths of the HTTP API and server SDKs, and the one-letter paths of
// Segment's browser library (analytics.js).
var singlePaths = []struct{ path, kind string }{
	{"/v1/identify", "identify"}, {"/v1/track", "track"}, {"/v1/page", "page"},
	{"/v1/screen", "screen"}, {"/v1/group", "group"}, {"/v1/alias", "alias"},
	{"/v1/i", "identify"}, {"/v1/t", "track"}, {"/v1/p", "page"},
	{"/v1/s", "screen"}, {"/v1/g", "group"}, {"/v1/a", "alias"},
}

// batchPaths carry {"batch":[...]}; /v1/b is analytics.js's batching path.
var batchPaths = []string{"/v1/batch", "/v1/b"}

// Routes are the Segment and RudderStack endpoints. Both formats share every
// path: the RudderStack route comes first and claims requests with
// RudderStack markers (Detect), the Segment route takes the others.
func Routes() []formats.Route {
	var rs []formats.Route
	add := func(path string, clean func(format string) func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error)) {
		rs = append(rs,
			formats.Route{
				Method: "POST", Path: path, Format: FormatRudderStack,
				Accounts: Accounts, Detect: IsRudderStack,
				Clean: clean(FormatRudderStack), Reply: rudderReply, Browser: true,
			},
			formats.Route{
				Method: "POST", Path: path, Format: FormatSegment,
				Accounts: Accounts, Detect: func(req formats.Request, body []byte) bool { return !IsRudderStack(req, body) },
				Clean: clean(FormatSegment), Reply: segmentReply, Browser: true,
			})
	}
	for _, p := range batchPaths {
		add(p, func(format string) func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
			return func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
				return CleanBatch(dst, body, env, format)
			}
		})
	}
	for _, sp := range singlePaths {
		kind := sp.kind
		add(sp.path, func(format string) func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
			return func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
				return CleanMessage(dst, body, env, format, kind)
			}
		})
	}
	return rs
}

const jsonType = "application/json; charset=utf-8"

// Reply bodies for requests whose messages were all dropped. The SDKs judge
// success by the HTTP status (200) only.
func segmentReply(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) {
	return append(dst, `{"success":true}`...), jsonType
}

// rudderReply is what RudderStack's gateway answers: a plain "OK".
func rudderReply(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) {
	return append(dst, "OK"...), "text/plain; charset=utf-8"
}

// Accounts appends the write keys a request names: the Basic auth user name
// and every writeKey in the body (top level and per message). The proxy
// refuses requests whose keys disagree.
func Accounts(dst [][]byte, req formats.Request, body []byte) [][]byte {
	if u := basicUser(req.Header("Authorization")); u != nil {
		dst = append(dst, u)
	}
	js := formats.B2S(body)
	if r := gjson.Get(js, "writeKey"); r.Exists() {
		dst = append(dst, valueBytes(body, r, r.Index))
	}
	if r := gjson.Get(js, "batch.#.writeKey"); r.IsArray() {
		i := 0
		r.ForEach(func(_, v gjson.Result) bool {
			at := -1
			if i < len(r.Indexes) {
				at = r.Indexes[i]
			}
			i++
			dst = append(dst, valueBytes(body, v, at))
			return true
		})
	}
	return dst
}

// valueBytes is the text of a string (unquoted) or other scalar found at
// body[at:]; a view when possible.
func valueBytes(body []byte, r gjson.Result, at int) []byte {
	if at > 0 && at+len(r.Raw) <= len(body) && string(body[at:at+len(r.Raw)]) == r.Raw {
		v := body[at : at+len(r.Raw)]
		if r.Type != gjson.String {
			return v
		}
		if bytes.IndexByte(v, '\\') < 0 && len(v) >= 2 {
			return v[1 : len(v)-1]
		}
	}
	if r.Type == gjson.String {
		return []byte(r.Str)
	}
	return []byte(r.Raw)
}

// IsRudderStack reports whether a request comes from a RudderStack SDK:
// RudderStack's own headers (RS-* from the Go SDK, AnonymousId from the
// JavaScript SDK), a "channel" in the messages (every RudderStack SDK sets
// it; Segment's add none), or a library name that says rudder. Everything
// else is Segment. Both formats are cleaned with the same classes, so a
// misdetection changes the upstream, never what is masked.
func IsRudderStack(req formats.Request, body []byte) bool {
	for _, h := range [...]string{"RS-targetNode", "RS-nodeCount", "RS-userAgent", "AnonymousId"} {
		if len(req.Header(h)) > 0 {
			return true
		}
	}
	js := formats.B2S(body)
	msg := gjson.Get(js, "batch.0")
	if !msg.Exists() {
		msg = gjson.Parse(js)
	}
	if !msg.IsObject() {
		return false
	}
	if msg.Get("channel").Exists() {
		return true
	}
	lib := msg.Get("context.library.name").Str
	if lib == "" {
		lib = gjson.Get(js, "context.library.name").Str
	}
	return containsFold(lib, "rudder")
}

func containsFold(s, sub string) bool {
	return bytes.Contains(bytes.ToLower([]byte(s)), []byte(sub))
}

// basicUser returns the user name of an "Authorization: Basic" header (the
// write key; the password is empty), or nil.
func basicUser(h []byte) []byte {
	const prefix = "basic "
	if len(h) <= len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return nil
	}
	enc := bytes.TrimSpace(h[len(prefix):])
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(dec, enc)
	if err != nil {
		return nil
	}
	dec = dec[:n]
	if i := bytes.IndexByte(dec, ':'); i >= 0 {
		dec = dec[:i]
	}
	if len(dec) == 0 {
		return nil
	}
	return dec
}

var _ masking.Classifier = Classifier{}
