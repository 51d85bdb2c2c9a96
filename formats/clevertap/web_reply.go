package clevertap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/lzstring"
)

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
