package masking

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// ErrReverseTooLarge: the opened document would be larger than
// Reverser.Max. Opening makes a document larger (a 66-byte pseudonym can
// stand for a 2 KB identifier), so a bound on the vendor's reply does not
// bound the answer.
var ErrReverseTooLarge = errors.New("the opened document is larger than the limit")

// TokenOpener opens tokens issued under one tenant's token key.
type TokenOpener interface {
	// OpenToken appends the JSON token (a quoted string or a number) sealed
	// in text (the token's contents, without quotes) and reports true, or
	// leaves dst unchanged and reports false when text is not a token issued
	// under this key: another key id, another tenant's key, or bytes that
	// only look like a token.
	OpenToken(dst, text []byte) ([]byte, bool)
}

var _ TokenOpener = (*Transformer)(nil)

// OpenToken implements TokenOpener. Only the Transformer's own key id is
// tried: a token under a retired or unknown key id is never opened by
// guess, and one under another tenant's key with the same id fails
// authentication.
func (t *Transformer) OpenToken(dst, text []byte) ([]byte, bool) {
	if t.siv == nil || !bytes.HasPrefix(text, t.tokPrefix) {
		return dst, false
	}
	body := text[len(t.tokPrefix):]
	sc := t.get()
	defer t.put(sc)
	enc := base64.RawURLEncoding.Strict()
	n := enc.DecodedLen(len(body))
	if cap(sc.seal) < n {
		sc.seal = make([]byte, n)
	}
	m, err := enc.Decode(sc.seal[:n], body)
	if err != nil {
		return dst, false
	}
	out, err := t.siv.open(dst, &sc.siv, &t.sivD, sc.seal[:m])
	if err != nil {
		return dst, false
	}
	// The plaintext authenticated, so Consentry sealed it; still, only a
	// JSON string or number may take a string's place in the document.
	plain := out[len(dst):]
	end, typ, _, err := scanScalar(plain, 0)
	if err != nil || end != len(plain) || (typ != TypeString && typ != TypeNumber) {
		clear(plain)
		return dst, false
	}
	return out, true
}

// Reverser opens, for the data controller, what Consentry wrote into values
// that reached a vendor: tokens issued under the tenant's token key become
// the values they seal, and pseudonyms of identifiers the controller named
// become those identifiers. Every other byte, keys included, is copied as
// the vendor sent it.
type Reverser struct {
	// Tokens opens tokens; nil opens none.
	Tokens TokenOpener
	// Names maps the text of a pseudonym to the JSON token (a quoted
	// string) that replaces it.
	Names map[string][]byte
	// Max, if positive, bounds the opened document: Append stops with
	// ErrReverseTooLarge as soon as the output would pass it.
	Max int

	text []byte // decoded string scratch
}

// ReverseStats counts what a Reverser did to one document.
type ReverseStats struct {
	Opened   int // tokens opened
	Restored int // pseudonyms mapped back to the named identifier
	Unopened int // strings that start like a token but were not issued under the tenant's key
}

// Append validates the JSON document js and appends it to dst with every
// string value that is a token or a named pseudonym replaced. On a syntax
// error (or ErrReverseTooLarge) dst is returned unchanged: nothing is
// partially opened.
func (r *Reverser) Append(dst, js []byte) ([]byte, ReverseStats, error) {
	w := reverseWalk{r: r, in: js, out: dst, base: len(dst)}
	start := SkipSpace(js, 0)
	end, err := w.value(start, 0)
	if err == nil {
		if j := SkipSpace(js, end); j != len(js) {
			err = synErr(j, "trailing data after JSON value")
		}
	}
	if err == nil && w.over() {
		err = ErrReverseTooLarge
	}
	if err != nil {
		// Opened values must not linger in the output's array: the
		// caller's buffer (often pooled), or the one the output grew into
		// (moved wiped the caller's when the output left it).
		clear(w.out[w.base:cap(w.out)])
		return dst, ReverseStats{}, err
	}
	w.write(js[w.last:])
	return w.out, w.stats, nil
}

type reverseWalk struct {
	r     *Reverser
	in    []byte
	out   []byte
	last  int // in[:last] is in out already
	base  int // len(dst): out[base:] is this document
	stats ReverseStats
}

// write appends b to the output. When the output moves to a larger array,
// the opened values in the one it leaves are wiped: nobody holds that
// array any more (or the caller does, as a pooled buffer).
func (w *reverseWalk) write(b []byte) {
	w.moved(w.out, append(w.out, b...))
}

// moved makes next the output and wipes this document's part of prev if
// next lives in another array.
func (w *reverseWalk) moved(prev, next []byte) {
	w.out = next
	if cap(prev) > w.base && cap(next) > 0 && &prev[:cap(prev)][cap(prev)-1] != &next[:cap(next)][cap(next)-1] {
		clear(prev[w.base:cap(prev)])
	}
}

// over reports whether the document, opened so far and copied from here
// on, passes Max.
func (w *reverseWalk) over() bool {
	return w.r.Max > 0 && len(w.out)-w.base+len(w.in)-w.last > w.r.Max
}

func (w *reverseWalk) value(i, depth int) (int, error) {
	end, t, container, err := scanScalar(w.in, i)
	if err != nil {
		return 0, err
	}
	if !container {
		if t == TypeString {
			w.str(i, end)
			if w.over() {
				return 0, ErrReverseTooLarge
			}
		}
		return end, nil
	}
	if depth >= MaxDepth {
		return 0, synErr(i, "nesting too deep")
	}
	if t == TypeObject {
		return eachMember(w.in, i, func(_, _, vs int) (int, error) { return w.value(vs, depth+1) })
	}
	return eachElement(w.in, i, func(vs int) (int, error) { return w.value(vs, depth+1) })
}

// str replaces the string value in[i:end] when it is a named pseudonym or
// a token of the tenant.
func (w *reverseWalk) str(i, end int) {
	q := w.in[i:end]
	text := q[1 : len(q)-1]
	if bytes.IndexByte(text, '\\') >= 0 {
		var err error
		if w.r.text, err = AppendUnquote(w.r.text[:0], q); err != nil {
			return
		}
		text = w.r.text
	}
	if orig, ok := w.r.Names[string(text)]; ok {
		w.write(w.in[w.last:i])
		w.write(orig)
		w.last = end
		w.stats.Restored++
		return
	}
	if !bytes.HasPrefix(text, []byte(TokenPrefix)) {
		return
	}
	if w.r.Tokens != nil {
		mark := len(w.out)
		w.write(w.in[w.last:i])
		out, ok := w.r.Tokens.OpenToken(w.out, text)
		w.moved(w.out, out)
		if ok {
			w.last = end
			w.stats.Opened++
			return
		}
		w.out = w.out[:mark]
	}
	w.stats.Unopened++
}
