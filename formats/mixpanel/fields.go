package mixpanel

import (
	"bytes"
	"sync"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// member is one top-level member's value as found by pick.
type member struct {
	raw []byte // the JSON token
	t   masking.ValueType
	ok  bool
}

// pick validates obj (a JSON object) and finds the top-level members named
// by keys; out[i] receives keys[i]. Keys written with escapes match their
// plain twins. A key that occurs twice with different values is refused:
// the vendors' decoders keep the last occurrence, so reading the first one
// would check a subject's rights against the wrong identity.
func pick(obj []byte, keys []string, out []member) error {
	for i := range out {
		out[i] = member{}
	}
	return masking.EachMember(obj, func(key []byte, s, e int, t masking.ValueType) error {
		for i, k := range keys {
			if string(key) != k {
				continue
			}
			v := obj[s:e]
			if out[i].ok && !bytes.Equal(out[i].raw, v) {
				return formats.Errorf(400, "duplicate_key", "a record has two different values for %q; send each key once", k)
			}
			out[i] = member{raw: v, t: t, ok: true}
		}
		return nil
	})
}

// text is the value of a string (unquoted) or number member, or nil. It is a
// view into the body unless the string has escapes.
func (m member) text() []byte {
	switch {
	case !m.ok:
		return nil
	case m.t == masking.TypeNumber:
		return m.raw
	case m.t != masking.TypeString:
		return nil
	}
	s := m.raw[1 : len(m.raw)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	out, err := masking.AppendUnquote(nil, m.raw)
	if err != nil {
		return nil
	}
	return out
}

// str is text as a string view; valid while the body is.
func (m member) str() string {
	if m.t != masking.TypeString {
		return ""
	}
	return formats.B2S(m.text())
}

// appendQuoted appends s as a JSON string.
func appendQuoted(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// header gathers the top-level members of an envelope other than its
// records, so that they are cleaned together as one "meta" record.
type header struct{ obj []byte }

var headerPool = sync.Pool{New: func() any { return &header{obj: make([]byte, 0, 512)} }}

func getHeader() *header {
	h := headerPool.Get().(*header)
	h.obj = append(h.obj[:0], '{')
	return h
}

func putHeader(h *header) {
	if cap(h.obj) <= 64<<10 {
		headerPool.Put(h)
	}
}

// add appends one member; key is the decoded key.
func (h *header) add(key, value []byte) {
	if len(h.obj) > 1 {
		h.obj = append(h.obj, ',')
	}
	h.obj = appendQuoted(h.obj, key)
	h.obj = append(h.obj, ':')
	h.obj = append(h.obj, value...)
}

// clean cleans the gathered members as a "meta" record and appends the
// cleaned members, without braces, to dst. It reports whether any member was
// written.
func (h *header) clean(dst []byte, format string, env *formats.Env, cls masking.Classifier) ([]byte, bool, error) {
	if len(h.obj) == 1 {
		return dst, false, nil
	}
	h.obj = append(h.obj, '}')
	mark := len(dst)
	out, err := env.CleanHeader(dst, h.obj, format, cls)
	if err != nil {
		return dst, false, err
	}
	// out[mark:] is "{...}": keep the members only.
	inner := out[mark+1 : len(out)-1]
	if len(bytes.TrimSpace(inner)) == 0 {
		return out[:mark], false, nil
	}
	n := copy(out[mark:], inner)
	return out[:mark+n], true, nil
}
