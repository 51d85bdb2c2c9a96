package posthog

import (
	"bytes"
	"sync"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// parsed reads fields of the record the rewriter has just parsed. Lookup
// takes the last of duplicate keys, as the vendors' decoders do, so the
// subject is read from the value the vendor will use.
type parsed struct{ rw *masking.Rewriter }

// node is the member key of object node obj (0 is the record), or -1.
func (p parsed) node(obj int32, key string) int32 {
	if obj < 0 {
		return -1
	}
	return p.rw.Lookup(obj, key)
}

// id is the value of a string or number member: a subject identifier. An
// object or array there is refused: the rights check could not read it and
// would treat the record as anonymous.
func (p parsed) id(obj int32, key string) ([]byte, error) {
	n := p.node(obj, key)
	switch p.rw.Type(n) {
	case masking.TypeString, masking.TypeNumber:
		return p.rw.Value(n), nil
	case masking.TypeObject, masking.TypeArray:
		return nil, formats.Errorf(400, "invalid_payload", "%q must be a string", key)
	}
	return nil, nil
}

// str is the value of a string member as a string view, or "".
func (p parsed) str(obj int32, key string) string {
	n := p.node(obj, key)
	if p.rw.Type(n) != masking.TypeString {
		return ""
	}
	return formats.B2S(p.rw.Value(n))
}

// unique refuses an object whose credential key occurs twice with different
// values: Accounts reads the first, the vendor the last.
func (p parsed) unique(obj int32, key string) error {
	var first []byte
	var err error
	p.rw.Children(obj, func(k []byte, child int32) {
		if string(k) != key || err != nil {
			return
		}
		v := p.rw.Raw(child)
		if first != nil && !bytes.Equal(first, v) {
			err = formats.Errorf(400, "duplicate_key", "a record has two different %q values", key)
		}
		first = v
	})
	return err
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
