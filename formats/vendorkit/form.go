package vendorkit

import (
	"bytes"
	"encoding/base64"
	"slices"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// MaxParams bounds the parameters of one query string or form body.
const MaxParams = 64

// Param is one key=value pair of a query string or form body. Its fields
// are views into the split input unless the key needed decoding.
type Param struct {
	Raw   []byte // as sent, without the '&'
	Key   []byte // decoded (form rules: '+' is a space)
	Value []byte // still encoded
	Data  bool   // the payload parameter ("data")
}

// SplitParams appends the parameters of s (a raw query string or form body)
// to dst. Empty segments ("a=1&&b=2") are skipped.
func SplitParams(dst []Param, s []byte) ([]Param, error) {
	for len(s) > 0 {
		var seg []byte
		if i := bytes.IndexByte(s, '&'); i >= 0 {
			seg, s = s[:i], s[i+1:]
		} else {
			seg, s = s, nil
		}
		if len(seg) == 0 {
			continue
		}
		if len(dst) == MaxParams {
			return dst, formats.Errorf(400, "invalid_payload", "more than %d parameters", MaxParams)
		}
		k, v, _ := bytes.Cut(seg, []byte("="))
		key := k // a view unless it needs decoding
		if bytes.ContainsAny(k, "%+") {
			var err error
			if key, err = Unescape(nil, k, true); err != nil {
				return dst, err
			}
		}
		dst = append(dst, Param{Raw: seg, Key: key, Value: v, Data: string(key) == "data"})
	}
	return dst, nil
}

// Unescape appends the percent-decoded s to dst; plusSpace applies the form
// rule that '+' means a space.
func Unescape(dst, s []byte, plusSpace bool) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return dst, formats.Errorf(400, "invalid_payload", "invalid percent-encoding in a parameter")
			}
			dst = append(dst, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// Escape appends s percent-encoded as encodeURIComponent does; valid in
// query strings and form bodies alike.
func Escape(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			bytes.IndexByte([]byte("-_.!~*'()"), c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&0xf])
	}
	return dst
}

// DataEncoding is how a data parameter was written, so that the cleaned
// payload is written back the same way.
type DataEncoding struct {
	json    bool             // plain JSON, not base64
	b64     *base64.Encoding // the alphabet and padding that decoded it
	escaped bool             // percent-encoded on the wire
}

var b64s = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// DecodeData decodes a data parameter's raw value into dst: base64 of JSON,
// raw (as the node client writes form bodies: '+' is a base64 digit) or
// percent-encoded, or percent-encoded plain JSON. raw is never written.
func DecodeData(dst, raw []byte) ([]byte, DataEncoding, error) {
	var enc DataEncoding
	pct := raw // a view unless it needs decoding; raw itself is never written
	if bytes.ContainsAny(raw, "% ") {
		var err error
		if pct, err = Unescape(nil, raw, false); err != nil {
			return dst, enc, err
		}
	}
	if i := masking.SkipSpace(pct, 0); i < len(pct) && (pct[i] == '{' || pct[i] == '[') {
		// Plain JSON is percent-encoded by every client that sends it; a
		// literal '+' is a space, as the form and query rules say.
		plain, err := Unescape(dst, raw, true)
		return plain, DataEncoding{json: true, escaped: true}, err
	}
	// A '+' that some hop decoded into a space is a base64 digit again
	// (pct is a copy whenever it can hold a space).
	for i, c := range pct {
		if c == ' ' {
			pct[i] = '+'
		}
	}
	for _, e := range b64s {
		out := slices.Grow(dst, e.DecodedLen(len(pct)))
		m, err := e.Decode(out[len(out):cap(out)], pct)
		if err == nil {
			enc.b64 = e
			// Raw on the wire only when it demonstrably was: literal base64
			// punctuation and no percent-escape. Otherwise escape, which
			// every decoder accepts.
			enc.escaped = bytes.IndexByte(raw, '%') >= 0 || bytes.IndexAny(raw, "+/=") < 0
			return out[:len(out)+m], enc, nil
		}
	}
	return dst, enc, formats.Errorf(400, "invalid_payload", "the data parameter is neither base64 nor JSON")
}

// EncodeData appends the cleaned payload plain in encoding enc.
func EncodeData(dst, plain []byte, enc DataEncoding) []byte {
	if enc.json {
		return Escape(dst, plain)
	}
	if !enc.escaped {
		return enc.b64.AppendEncode(dst, plain)
	}
	tmp := enc.b64.AppendEncode(nil, plain)
	return Escape(dst, tmp)
}
