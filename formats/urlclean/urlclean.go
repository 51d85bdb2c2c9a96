package urlclean

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/consentry/consentry/masking"
)

// Kind is the record kind of a URL's parts, as policies see it.
const Kind = "url"

// MaxParams bounds the query and fragment parameters of one URL.
const MaxParams = 128

// ErrTooManyParams is returned for a URL with more than MaxParams
// parameters.
var ErrTooManyParams = fmt.Errorf("a URL has more than %d parameters", MaxParams)

// param is one key=value of a URL's query or fragment. key and val are
// decoded views into the cleaner's text buffer, sized so that it never
// moves while a URL is cleaned.
type param struct {
	raw    []byte // as received
	rawKey []byte
	key    []byte
	val    []byte
	hasEq  bool
	bad    bool // did not decode: dropped, not in the record
	state  state
	out    []byte // new decoded value when state == changed
	outNil bool   // the new value is null: write the key alone
}

type state uint8

const (
	kept state = iota
	changed
	dropped
)

// Cleaner is the working memory of Append. The zero value is ready; a
// Cleaner is not safe for concurrent use (Get one from the pool, or keep
// one per request).
type Cleaner struct {
	params   []param
	text     []byte
	rec, out []byte
	vals     []byte
	prefix   []byte // scheme and host when user info was cut out
	// Raw and Clean are scratch for callers: the URL to clean and its
	// cleaned form (package formats keeps them here to pool them).
	Raw, Clean []byte
	// Rec is scratch for the caller's record description (pooled with
	// the Cleaner, so that it does not escape per URL).
	Rec masking.Record
}

var pool = sync.Pool{New: func() any { return new(Cleaner) }}

// Get returns a pooled Cleaner; give it back with Release.
func Get() *Cleaner { return pool.Get().(*Cleaner) }

// Release returns c to the pool (unless it grew large).
func (c *Cleaner) Release() {
	const maxKeep = 64 << 10
	clear(c.params)
	c.Rec = masking.Record{}
	if cap(c.text) > maxKeep || cap(c.rec) > maxKeep || cap(c.prefix) > maxKeep || cap(c.Raw) > maxKeep || cap(c.Clean) > maxKeep || cap(c.out) > maxKeep || cap(c.vals) > maxKeep {
		return
	}
	pool.Put(c)
}

// parts is a URL split for cleaning. Every part is a view into the URL.
type parts struct {
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

// split splits u; prefix is built in *buf when user info must be cut out.
func split(u []byte, buf *[]byte) parts {
	var p parts
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
	// info was removed.
	if !p.strippedUserinf {
		p.prefix = u[:colon+3+len(host)]
	} else {
		*buf = append(append((*buf)[:0], u[:colon+3]...), host...)
		p.prefix = *buf
	}
	return p
}

// Append appends the cleaned form of the URL u (decoded text, valid UTF-8)
// to dst. The parts are rewritten by rw as one record described by rec
// (whose Kind should be Kind and Classifier a Classifier), counted in st.
// A URL with nothing but a scheme and host is appended as it is (without
// user info), without a record.
func (c *Cleaner) Append(dst, u []byte, rw *masking.Rewriter, rec *masking.Record, st *masking.Stats) ([]byte, error) {
	ps := split(u, &c.prefix)
	pathInfo := len(ps.path) > 1 || (len(ps.path) == 1 && ps.path[0] != '/')
	if !pathInfo && !ps.hasQuery && !ps.hasFrag {
		if ps.strippedUserinf {
			return append(append(dst, ps.prefix...), ps.path...), nil
		}
		return append(dst, u...), nil
	}
	c.params = c.params[:0]
	if need := 2 * len(u); cap(c.text) < need {
		c.text = make([]byte, 0, need)
	}
	c.text = c.text[:0]
	c.rec = append(c.rec[:0], '{')
	members := 0
	member := func(k string) {
		if members > 0 {
			c.rec = append(c.rec, ',')
		}
		members++
		c.rec = append(c.rec, k...)
	}
	var pathDec, fragDec []byte
	if pathInfo {
		pathDec = c.decoded(ps.path)
		member(`"path":`)
		c.rec = masking.AppendQuote(c.rec, pathDec)
	}
	qStart := len(c.params)
	if ps.hasQuery {
		member(`"query":`)
		c.addParams(ps.query)
	}
	qEnd := len(c.params)
	if len(ps.frag) > 0 {
		fragDec = c.decoded(ps.frag)
		member(`"fragment":`)
		c.rec = masking.AppendQuote(c.rec, fragDec)
	}
	if ps.fragHasQ || ps.fragIsParams {
		member(`"fragment_query":`)
		c.addParams(ps.fragQuery)
	}
	c.rec = append(c.rec, '}')
	if len(c.params) > MaxParams {
		return dst, ErrTooManyParams
	}
	var err error
	c.out, err = rw.Rewrite(c.out[:0], c.rec, rec, st)
	if err != nil {
		return dst, err
	}
	// Read the decisions back.
	var newPath, newFrag []byte
	pathKept, fragKept := false, false
	c.vals = c.vals[:0]
	err = masking.EachMember(c.out, func(key []byte, s, e int, t masking.ValueType) error {
		switch string(key) {
		case "path", "fragment":
			if t != masking.TypeString {
				return nil
			}
			start := len(c.vals)
			c.vals, err = masking.AppendUnquote(c.vals, c.out[s:e])
			if err != nil {
				return err
			}
			v := c.vals[start:len(c.vals):len(c.vals)]
			if string(key) == "path" {
				newPath, pathKept = v, true
			} else {
				newFrag, fragKept = v, true
			}
		case "query":
			return c.settleParams(c.params[qStart:qEnd], c.out[s:e], t)
		case "fragment_query":
			return c.settleParams(c.params[qEnd:], c.out[s:e], t)
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	dst = append(dst, ps.prefix...)
	switch {
	case !pathInfo:
		dst = append(dst, ps.path...)
	case pathKept && bytes.Equal(newPath, pathDec):
		dst = append(dst, ps.path...)
	case pathKept:
		dst = appendPath(dst, newPath)
	}
	if ps.hasQuery {
		dst = appendParams(dst, '?', c.params[qStart:qEnd])
	}
	if ps.hasFrag {
		mark := len(dst)
		dst = append(dst, '#')
		switch {
		case len(ps.frag) == 0:
		case fragKept && bytes.Equal(newFrag, fragDec):
			dst = append(dst, ps.frag...)
		case fragKept:
			dst = appendPath(dst, newFrag)
		}
		if ps.fragHasQ || ps.fragIsParams {
			lead := byte('?')
			if ps.fragIsParams {
				lead = 0
			}
			dst = appendParams(dst, lead, c.params[qEnd:])
		}
		if len(dst) == mark+1 {
			dst = dst[:mark] // nothing left after '#'
		}
	}
	return dst, nil
}

// decoded percent-decodes a path or fragment for the detectors; one that
// does not decode is scanned as it is.
func (c *Cleaner) decoded(raw []byte) []byte {
	start := len(c.text)
	var ok bool
	c.text, ok = AppendUnescape(c.text, raw, false)
	if !ok || !utf8.Valid(c.text[start:]) {
		c.text = append(c.text[:start], raw...) // raw is valid UTF-8: the whole URL is
	}
	return c.text[start:len(c.text):len(c.text)]
}

// addParams adds the parameters of a query to c.params and their JSON
// object to c.rec. Parameters that do not decode are dropped.
func (c *Cleaner) addParams(q []byte) {
	c.rec = append(c.rec, '{')
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
		ks := len(c.text)
		var ok1, ok2 bool
		c.text, ok1 = AppendUnescape(c.text, p.rawKey, true)
		ke := len(c.text)
		c.text, ok2 = AppendUnescape(c.text, rawVal, true)
		if !ok1 || !ok2 || !utf8.Valid(c.text[ks:]) {
			c.text = c.text[:ks]
			p.state, p.bad = dropped, true
			c.params = append(c.params, p)
			continue
		}
		p.key = c.text[ks:ke:ke]
		p.val = c.text[ke:len(c.text):len(c.text)]
		if n > 0 {
			c.rec = append(c.rec, ',')
		}
		n++
		c.rec = masking.AppendQuote(c.rec, p.key)
		c.rec = append(c.rec, ':')
		if p.hasEq {
			c.rec = masking.AppendQuote(c.rec, p.val)
		} else {
			c.rec = append(c.rec, "null"...)
		}
		c.params = append(c.params, p)
	}
	c.rec = append(c.rec, '}')
}

var amp = []byte{'&'}

var errMatch = errors.New("cannot match the cleaned URL to its parameters")

// settleParams matches the members of a cleaned parameter object to ps,
// in order; a parameter without a member was dropped.
func (c *Cleaner) settleParams(ps []param, obj []byte, t masking.ValueType) error {
	j := 0
	if t == masking.TypeObject {
		err := masking.EachMember(obj, func(key []byte, s, e int, vt masking.ValueType) error {
			for ; j < len(ps); j++ {
				p := &ps[j]
				if p.bad {
					continue
				}
				if bytes.Equal(p.key, key) {
					j++
					return c.settle(p, obj[s:e], vt)
				}
				p.state = dropped
			}
			return errMatch
		})
		if err != nil {
			return err
		}
	}
	for ; j < len(ps); j++ {
		ps[j].state = dropped
	}
	return nil
}

func (c *Cleaner) settle(p *param, tok []byte, t masking.ValueType) error {
	switch t {
	case masking.TypeNull:
		if !p.hasEq {
			p.state = kept
		} else {
			p.state, p.outNil = changed, true
		}
		return nil
	case masking.TypeString:
		start := len(c.vals)
		var err error
		c.vals, err = masking.AppendUnquote(c.vals, tok)
		if err != nil {
			return err
		}
		v := c.vals[start:len(c.vals):len(c.vals)]
		if p.hasEq && bytes.Equal(v, p.val) {
			p.state = kept
		} else {
			p.state, p.out = changed, v
		}
		return nil
	default:
		p.state, p.out = changed, tok
		return nil
	}
}

// appendParams writes the surviving parameters, led by lead (0: none).
func appendParams(dst []byte, lead byte, ps []param) []byte {
	first := true
	for i := range ps {
		p := &ps[i]
		if p.state == dropped {
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
		if p.state == kept {
			dst = append(dst, p.raw...)
			continue
		}
		dst = append(dst, p.rawKey...)
		if !p.outNil {
			dst = append(dst, '=')
			dst = AppendComponent(dst, p.out)
		}
	}
	return dst
}
