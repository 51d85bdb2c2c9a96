package masking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/consentry/consentry/detect"
	"hash"
	"hash/maphash"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Key sizes and defaults.
const (
	MinHMACKeySize = 32 // bytes of Keys.HMACKey, at least
	TokenKeySize   = 64 // bytes of Keys.TokenKey: AES-SIV with two AES-256 keys
	maxKeyIDLen    = 16

	// DefaultReplacement is what redact writes in place of a string.
	DefaultReplacement = "[REDACTED]"

	// TokenPrefix starts every token, followed by the key id and ':'.
	TokenPrefix = "tok:"

	// scratch buffers that grew past this are not pooled, so that one huge
	// value does not pin memory for the life of the process.
	maxPooledBuf = 64 << 10
)

// Errors of Apply and Detokenize. Apply's callers drop the field on any error.
var (
	ErrUnsupportedValue = errors.New("masking: value is not a JSON scalar of the declared type")
	ErrNoTokenKey       = errors.New("masking: tokenize needs a token key; configure the tenant's token key or use hash")
	ErrInvalidToken     = errors.New("masking: token is malformed or fails authentication")
	ErrUnknownKeyID     = errors.New("masking: token key id is not in the keyring")
	ErrInvalidParams    = errors.New("masking: params cannot transform this value")
)

// Keys are one tenant's secrets.
type Keys struct {
	HMACKey    []byte // >= 32 bytes, for hash
	TokenKey   []byte // 64 bytes: AES-SIV (RFC 5297, AES-CMAC-SIV with two 256-bit halves); empty disables tokenize
	TokenKeyID string // short id written into every token, e.g. "k1" ([A-Za-z0-9_-]{1,16})
}

// String keeps the secrets out of logs and error messages.
func (k Keys) String() string {
	return fmt.Sprintf("masking.Keys{HMACKey: %d bytes, TokenKey: %d bytes, TokenKeyID: %q}", len(k.HMACKey), len(k.TokenKey), k.TokenKeyID)
}

// GoString is String, for %#v.
func (k Keys) GoString() string { return k.String() }

// Transformer applies field actions with one tenant's keys. It is safe for
// concurrent use; per-call state comes from a pool.
type Transformer struct {
	tokPrefix []byte         // `tok:<kid>:`
	siv       *siv           // nil when the tenant has no token key
	sivD      [sivBlock]byte // S2V state after the associated data (the key id)
	pool      sync.Pool      // *scratch

	// memo remembers digests and tokens (nil: none); id and memoSeeds
	// (per memo op) keep this Transformer's entries its own.
	memo      *Memo
	id        uint64
	memoSeeds [2][2]maphash.Seed
}

// scratch is the per-call working memory of a Transformer.
type scratch struct {
	mac  hash.Hash
	sum  [sha256.Size]byte
	text []byte // decoded string value
	norm []byte // normalized hash input, token plaintext
	seal []byte // sealed token bytes
	siv  sivScratch
	det  detect.Scanner // percent-decoded text for scan
	key  [16]byte       // memo key
}

// NewTransformer validates k and returns a Transformer that holds copies of
// the keys.
func NewTransformer(k Keys, opts ...TransformerOption) (*Transformer, error) {
	if len(k.HMACKey) < MinHMACKeySize {
		return nil, fmt.Errorf("cannot create transformer: hmac key has %d bytes, need at least %d (e.g. openssl rand -hex 32)", len(k.HMACKey), MinHMACKeySize)
	}
	t := &Transformer{id: transformerIDs.Add(1)}
	for _, o := range opts {
		o(t)
	}
	for i := range t.memoSeeds {
		t.memoSeeds[i] = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	if len(k.TokenKey) > 0 {
		if len(k.TokenKey) != TokenKeySize {
			return nil, fmt.Errorf("cannot create transformer: token key has %d bytes, need exactly %d (e.g. openssl rand -base64 64)", len(k.TokenKey), TokenKeySize)
		}
		if !validKeyID(k.TokenKeyID) {
			return nil, fmt.Errorf("cannot create transformer: token key id must be 1 to %d of [A-Za-z0-9_-]", maxKeyIDLen)
		}
		s, err := newSIV(k.TokenKey)
		if err != nil {
			return nil, fmt.Errorf("cannot create transformer: %w", err)
		}
		t.siv = s
		st := new(sivScratch)
		s.s2vStart(st, tokenAD(k.TokenKeyID))
		t.sivD = st.d
		t.tokPrefix = []byte(TokenPrefix + k.TokenKeyID + ":")
	}
	hk := bytes.Clone(k.HMACKey)
	t.pool.New = func() any { return &scratch{mac: hmac.New(sha256.New, hk)} }
	return t, nil
}

// tokenAD is the associated data of every token: it binds the token to its
// key id and to this token format.
func tokenAD(kid string) []byte { return []byte("consentry.tok.v1:" + kid) }

func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (t *Transformer) get() *scratch { return t.pool.Get().(*scratch) }

func (t *Transformer) put(sc *scratch) {
	if cap(sc.text) > maxPooledBuf {
		sc.text = nil
	}
	if cap(sc.norm) > maxPooledBuf {
		sc.norm = nil
	}
	if cap(sc.seal) > maxPooledBuf {
		sc.seal = nil
	}
	t.pool.Put(sc)
}

// defaultParams are the action defaults for a nil Decision.Params.
var defaultParams = Params{
	KeepLast: 4,
	MaskChar: '*',
	Decimals: 2,
	IPv4Bits: 24,
	IPv6Bits: 48,
}

// Apply appends to dst the JSON token that replaces raw under decision d.
//
// raw is the complete JSON value token as it appears in the document
// (strings with their quotes and escapes, numbers, true, false, null) and typ
// its type. drop=true means the member must be removed and nothing was
// appended. findings is the number of detector findings replaced (scan).
// Unless err != nil or drop, what was appended is one valid JSON value.
// On error drop is true and dst is returned unchanged: fail closed.
//
// A nil d drops. keep and drop accept any raw, containers included; the
// other actions take scalars only.
func (t *Transformer) Apply(dst []byte, d *Decision, raw []byte, typ ValueType) (out []byte, drop bool, findings int, err error) {
	return t.apply(dst, d, raw, typ, nil, false)
}

// ApplyField implements FieldApplier: Apply, appending the findings scan
// replaced to f.Found.
func (t *Transformer) ApplyField(dst []byte, d *Decision, raw []byte, typ ValueType, f *Field) (out []byte, drop bool, err error) {
	out, drop, _, err = t.apply(dst, d, raw, typ, &f.Found, f.Looked)
	return out, drop, err
}

// looked: see Field.Looked.
func (t *Transformer) apply(dst []byte, d *Decision, raw []byte, typ ValueType, found *[]Finding, looked bool) (out []byte, drop bool, findings int, err error) {
	if d == nil {
		return dst, true, 0, nil
	}
	switch d.Action {
	case ActionKeep:
		return append(dst, raw...), false, 0, nil
	case ActionDrop:
		return dst, true, 0, nil
	}
	if !scalarOK(raw, typ) {
		return dst, true, 0, fmt.Errorf("cannot %s %s value: %w", d.Action, typ, ErrUnsupportedValue)
	}
	p := d.Params
	if p == nil {
		p = &defaultParams
	}
	n := len(dst)
	switch d.Action {
	case ActionRedact:
		return appendRedacted(dst, p, typ), false, 0, nil
	case ActionHash:
		out, err = t.hash(dst, p, raw, typ)
	case ActionTokenize:
		out, err = t.tokenize(dst, p, raw, typ)
	case ActionMask:
		out, err = t.mask(dst, p, raw, typ)
	case ActionGeneralize:
		out, err = t.generalize(dst, p, raw, typ)
	case ActionScan:
		out, drop, findings, err = t.scan(dst, p, raw, typ, found, looked)
	default:
		err = fmt.Errorf("cannot apply %s: unknown action", d.Action)
	}
	if err != nil {
		return dst[:n], true, 0, err
	}
	return out, drop, findings, nil
}

// scalarOK is a cheap shape check of raw against typ; the rewriter's scanner
// has validated raw already.
func scalarOK(raw []byte, typ ValueType) bool {
	switch typ {
	case TypeString:
		return len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"'
	case TypeNumber:
		return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
	case TypeBool:
		return string(raw) == "true" || string(raw) == "false"
	case TypeNull:
		return string(raw) == "null"
	}
	return false
}

// decodeString returns the contents of the JSON string token raw: a view
// into raw when it has no escapes, else decoded into *buf.
func decodeString(buf *[]byte, raw []byte) ([]byte, error) {
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	b, err := AppendUnquote((*buf)[:0], raw)
	*buf = b
	return b, err
}

// appendRedacted writes the type-aware replacement: a string becomes the
// replacement text, a number 0, a boolean false, null stays null.
func appendRedacted(dst []byte, p *Params, typ ValueType) []byte {
	switch typ {
	case TypeString:
		r := p.Replacement
		if r == "" {
			r = DefaultReplacement
		}
		dst = append(dst, '"')
		dst = appendEscapedString(dst, r)
		return append(dst, '"')
	case TypeNumber:
		return append(dst, '0')
	case TypeBool:
		return append(dst, "false"...)
	}
	return append(dst, "null"...)
}

// hash writes HMAC-SHA-256 of the normalized value as a hex JSON string.
// Booleans and null carry at most one bit and are redacted instead.
func (t *Transformer) hash(dst []byte, p *Params, raw []byte, typ ValueType) ([]byte, error) {
	if typ != TypeString && typ != TypeNumber {
		return appendRedacted(dst, p, typ), nil
	}
	sc := t.get()
	defer t.put(sc)
	in := raw
	if typ == TypeString {
		var err error
		if in, err = decodeString(&sc.text, raw); err != nil {
			return dst, err
		}
	}
	outPrefix := ""
	if len(p.IfPrefix) > 0 {
		// Only values with one of the prefixes are hashed (the longest
		// matching prefix wins); the others are kept as they are.
		best, ok := -1, false
		for from, to := range p.IfPrefix {
			if len(from) > best && len(in) >= len(from) && string(in[:len(from)]) == from {
				best, outPrefix, ok = len(from), to, true
			}
		}
		if !ok {
			return append(dst, raw...), nil
		}
		in = in[best:]
	}
	sc.norm = normalize(sc.norm[:0], p.Normalize, in)
	sum := t.mac(sc, sc.norm)
	dst = append(dst, '"')
	dst = appendEscapedString(dst, outPrefix)
	dst = appendHex(dst, sum, p.HexLen)
	return append(dst, '"'), nil
}

// mac returns HMAC-SHA-256(key, in), remembered in the memo.
func (t *Transformer) mac(sc *scratch, in []byte) []byte {
	var k string
	if t.memo != nil {
		var out []byte
		if out, k = t.memoGet(sc, memoHMAC, in); out != nil {
			return out
		}
	}
	sc.mac.Reset()
	sc.mac.Write(in)
	sum := sc.mac.Sum(sc.sum[:0])
	if t.memo != nil {
		t.memoSet(k, memoHMAC, sum)
	}
	return sum
}

// appendHex appends the first n hex digits of sum (all of them if n <= 0).
func appendHex(dst, sum []byte, n int) []byte {
	start := len(dst)
	dst = hex.AppendEncode(dst, sum)
	if n > 0 && n < 2*len(sum) {
		dst = dst[:start+n]
	}
	return dst
}

// normalize appends in, normalized by mode, to dst. Modes: "email" (trim
// space, lower case), "phone" (digits only, so "+1 415-555-0123" and
// 14155550123 hash the same), "lower"; anything else copies.
func normalize(dst []byte, mode string, in []byte) []byte {
	switch mode {
	case "email":
		return appendLower(dst, bytes.TrimSpace(in))
	case "lower":
		return appendLower(dst, in)
	case "phone":
		for _, c := range in {
			if c >= '0' && c <= '9' {
				dst = append(dst, c)
			}
		}
		return dst
	}
	return append(dst, in...)
}

func appendLower(dst, in []byte) []byte {
	for i := 0; i < len(in); {
		c := in[i]
		if c < utf8.RuneSelf {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += size
	}
	return dst
}

// tokenize writes "tok:<kid>:<base64url(AES-SIV(raw))>". Strings are sealed
// in their minimal escaping so that differently escaped copies of one value
// give one token; numbers are sealed as written, so they detokenize to
// numbers. Booleans and null are redacted.
func (t *Transformer) tokenize(dst []byte, p *Params, raw []byte, typ ValueType) ([]byte, error) {
	if typ != TypeString && typ != TypeNumber {
		return appendRedacted(dst, p, typ), nil
	}
	if t.siv == nil {
		return dst, ErrNoTokenKey
	}
	sc := t.get()
	defer t.put(sc)
	plain := raw
	if typ == TypeString && bytes.IndexByte(raw, '\\') >= 0 {
		text, err := decodeString(&sc.text, raw)
		if err != nil {
			return dst, err
		}
		sc.norm = append(sc.norm[:0], '"')
		sc.norm = appendEscapedBytes(sc.norm, text)
		sc.norm = append(sc.norm, '"')
		plain = sc.norm
	}
	dst = append(dst, '"')
	dst = t.appendToken(dst, sc, plain)
	return append(dst, '"'), nil
}

// appendToken appends the token text (no quotes) for the JSON token plain.
func (t *Transformer) appendToken(dst []byte, sc *scratch, plain []byte) []byte {
	dst = append(dst, t.tokPrefix...)
	var k string
	if t.memo != nil {
		var out []byte
		if out, k = t.memoGet(sc, memoToken, plain); out != nil {
			return append(dst, out...)
		}
	}
	sc.seal = t.siv.seal(sc.seal[:0], &sc.siv, &t.sivD, plain)
	n := len(dst)
	dst = base64.RawURLEncoding.AppendEncode(dst, sc.seal)
	if t.memo != nil {
		t.memoSet(k, memoToken, dst[n:])
	}
	return dst
}

// Detokenize reverses a token made by ActionTokenize. token may be the JSON
// string (with quotes) or its contents. keys maps key ids to 64-byte token
// keys. It returns the original JSON token: a string with its quotes, or a
// number.
func Detokenize(token string, keys map[string][]byte) ([]byte, error) {
	if len(token) >= 2 && token[0] == '"' && token[len(token)-1] == '"' {
		token = token[1 : len(token)-1]
	}
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return nil, fmt.Errorf("cannot detokenize: no %q prefix: %w", TokenPrefix, ErrInvalidToken)
	}
	kid, body, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(kid) {
		return nil, fmt.Errorf("cannot detokenize: no key id: %w", ErrInvalidToken)
	}
	key, ok := keys[kid]
	if !ok {
		return nil, fmt.Errorf("cannot detokenize: key id %q: %w", kid, ErrUnknownKeyID)
	}
	if len(key) != TokenKeySize {
		return nil, fmt.Errorf("cannot detokenize: key %q has %d bytes, want %d", kid, len(key), TokenKeySize)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("cannot detokenize: bad base64: %w", ErrInvalidToken)
	}
	plain, err := sivDecrypt(key, sealed, tokenAD(kid))
	if err != nil {
		return nil, fmt.Errorf("cannot detokenize with key %q: %w", kid, ErrInvalidToken)
	}
	return plain, nil
}

// mask keeps KeepFirst and KeepLast runes and replaces the others with
// MaskChar. At most half of the runes are ever kept (KeepFirst first), so a
// short value is not revealed whole. Numbers are masked as text and become
// strings; booleans and null are redacted.
func (t *Transformer) mask(dst []byte, p *Params, raw []byte, typ ValueType) ([]byte, error) {
	var text []byte
	switch typ {
	case TypeString:
		if bytes.IndexByte(raw, '\\') < 0 {
			text = raw[1 : len(raw)-1]
		} else {
			sc := t.get()
			defer t.put(sc)
			var err error
			if text, err = decodeString(&sc.text, raw); err != nil {
				return dst, err
			}
		}
	case TypeNumber:
		text = raw
	default:
		return appendRedacted(dst, p, typ), nil
	}
	dst = append(dst, '"')
	dst = appendMasked(dst, p, text)
	return append(dst, '"'), nil
}

// appendMasked appends text masked per p, JSON-escaped, without quotes.
func appendMasked(dst []byte, p *Params, text []byte) []byte {
	mc := p.MaskChar
	if !maskCharOK(mc) {
		mc = '*'
	}
	n := utf8.RuneCount(text)
	half := n / 2
	first := min(max(p.KeepFirst, 0), half)
	last := min(max(p.KeepLast, 0), half-first)
	r := 0
	for i := 0; i < len(text); r++ {
		_, size := utf8.DecodeRune(text[i:])
		if r < first || r >= n-last {
			dst = appendEscapedBytes(dst, text[i:i+size])
		} else {
			dst = append(dst, mc)
		}
		i += size
	}
	return dst
}

// maskCharOK: printable ASCII that needs no JSON escape.
func maskCharOK(c byte) bool { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' }

// appendEscapedBytes appends s as the contents of a JSON string: quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD so that the output is valid for strict parsers.
func appendEscapedBytes(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscapedASCII(dst, c)
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// appendEscapedString is appendEscapedBytes for a string (read through a
// byte view, without a copy).
func appendEscapedString(dst []byte, s string) []byte {
	return appendEscapedBytes(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	const hexDigits = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
