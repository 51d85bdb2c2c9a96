package vendorkit

import (
	"bytes"
	"sync"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// AppendQuoted appends s as a JSON string.
func AppendQuoted(dst, s []byte) []byte { return masking.AppendQuote(dst, s) }

// Header gathers the top-level members of an envelope other than its
// records, so that they are cleaned together as one "meta" record. Get one
// with GetHeader and give it back with PutHeader.
type Header struct{ obj []byte }

var headerPool = sync.Pool{New: func() any { return &Header{obj: make([]byte, 0, 512)} }}

// GetHeader returns an empty header from a pool.
func GetHeader() *Header {
	h := headerPool.Get().(*Header)
	h.obj = append(h.obj[:0], '{')
	return h
}

// PutHeader returns h to the pool unless it grew oversized.
func PutHeader(h *Header) {
	if cap(h.obj) <= 64<<10 {
		headerPool.Put(h)
	}
}

// Add appends one member; key is the decoded key, value its raw JSON.
func (h *Header) Add(key, value []byte) {
	if len(h.obj) > 1 {
		h.obj = append(h.obj, ',')
	}
	h.obj = AppendQuoted(h.obj, key)
	h.obj = append(h.obj, ':')
	h.obj = append(h.obj, value...)
}

// Clean cleans the gathered members as a "meta" record and appends the
// cleaned members, without braces, to dst. It reports whether any member was
// written.
func (h *Header) Clean(dst []byte, format string, env *formats.Env, cls masking.Classifier) ([]byte, bool, error) {
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
