package masking

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const MaxDepth = 64

// SyntaxError reports malformed JSON. It carries an offset and a reason,
// never the bytes of the document, so it is safe to log and to return to
// clients.
type SyntaxError struct {
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Reason)
}

func synErr(off int, reason string) error { return &SyntaxError{Offset: off, Reason: reason} }

// SkipSpace returns the index of the first non-whitespace byte at or after i.
func SkipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i // compact JSON: the common case, decided by one compare
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString validates the string token starting at b[i] == '"' and returns
// the index just past its closing quote and whether it contains escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	start := i
	i++
	for i < len(b) {
		if i+8 <= len(b) {
			// Eight plain bytes at a time; a word with a quote, a
			// backslash, a control or a non-ASCII byte goes to the byte
			// checks below from its first such byte.
			m := specialStringBytes(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		c := b[i]
		if plainStringByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, synErr(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, false, synErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return 0, false, synErr(i, "invalid escape")
			}
		case c < 0x20:
			return 0, false, synErr(i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, synErr(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	return 0, false, synErr(start, "unterminated string")
}

// specialStringBytes flags (top bit of each byte) the bytes of the
// little-endian word x that a string scan must look at: '"', '\\', control
// bytes (< 0x20) and non-ASCII bytes (>= 0x80). The lowest flag is exact,
// so a zero result means eight plain bytes.
func specialStringBytes(x uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - lsb) &^ v & msb }
	return zero(x^('"'*lsb)) | zero(x^('\\'*lsb)) | (x-0x20*lsb)&^x&msb | x&msb
}

// plainStringByte marks bytes that need no checking inside a string: ASCII
// printable except '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(h []byte) bool {
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// scanNumber validates a JSON number starting at b[i] and tells whether it
// has an exponent.
func scanNumber(b []byte, i int) (end int, exp bool, err error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false, synErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, synErr(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, synErr(start, "invalid number")
		}
	}
	return i, exp, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, synErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

// scanScalar validates the scalar value at b[i] and returns its end and type.
// It reports ok=false for '{' and '['.
func scanScalar(b []byte, i int) (end int, t ValueType, container bool, err error) {
	if i >= len(b) {
		return 0, 0, false, synErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err = scanString(b, i)
		return end, TypeString, false, err
	case c == '{':
		return i, TypeObject, true, nil
	case c == '[':
		return i, TypeArray, true, nil
	case c == 't':
		end, err = scanLiteral(b, i, "true")
		return end, TypeBool, false, err
	case c == 'f':
		end, err = scanLiteral(b, i, "false")
		return end, TypeBool, false, err
	case c == 'n':
		end, err = scanLiteral(b, i, "null")
		return end, TypeNull, false, err
	case c == '-' || c >= '0' && c <= '9':
		end, _, err = scanNumber(b, i)
		return end, TypeNumber, false, err
	default:
		return 0, 0, false, synErr(i, "unexpected character")
	}
}

// SkipValue validates the JSON value starting at b[i] (after optional
// whitespace) and returns the index just past it and its type.
func SkipValue(b []byte, i int) (end int, t ValueType, err error) {
	return skipValue(b, SkipSpace(b, i), 0)
}

func skipValue(b []byte, i, depth int) (int, ValueType, error) {
	end, t, container, err := scanScalar(b, i)
	if err != nil || !container {
		return end, t, err
	}
	if depth >= MaxDepth {
		return 0, 0, synErr(i, "nesting too deep")
	}
	if t == TypeObject {
		end, err = eachMember(b, i, func(_, _, vs int) (int, error) {
			e, _, err := skipValue(b, vs, depth+1)
			return e, err
		})
		return end, TypeObject, err
	}
	end, err = eachElement(b, i, func(vs int) (int, error) {
		e, _, err := skipValue(b, vs, depth+1)
		return e, err
	})
	return end, TypeArray, err
}

// eachMember walks the object at b[i] == '{'. For each member it calls fn
// with the key token span [ks, ke) and the value start; fn returns the value
// end. It returns the index just past '}'.
func eachMember(b []byte, i int, fn func(ks, ke, vs int) (int, error)) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, synErr(i, "expected object key")
		}
		ke, _, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		j := SkipSpace(b, ke)
		if j >= len(b) || b[j] != ':' {
			return 0, synErr(j, "expected ':' after object key")
		}
		vs := SkipSpace(b, j+1)
		ve, err := fn(i, ke, vs)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(b, ve)
		if i >= len(b) {
			return 0, synErr(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, synErr(i, "expected ',' or '}' in object")
		}
	}
}

// eachElement walks the array at b[i] == '['. fn gets each value's start and
// returns its end. It returns the index just past ']'.
func eachElement(b []byte, i int, fn func(vs int) (int, error)) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		ve, err := fn(i)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(b, ve)
		if i >= len(b) {
			return 0, synErr(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, synErr(i, "expected ',' or ']' in array")
		}
	}
}

// EachElement validates the top-level array in b and calls fn with the span
// of each element (validated). Trailing bytes other than whitespace are an
// error. Format adapters use it to split batches into records.
func EachElement(b []byte, fn func(start, end int, t ValueType) error) error {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return synErr(i, "expected a JSON array")
	}
	end, err := eachElement(b, i, func(vs int) (int, error) {
		ve, t, err := skipValue(b, vs, 1)
		if err != nil {
			return 0, err
		}
		return ve, fn(vs, ve, t)
	})
	if err != nil {
		return err
	}
	if j := SkipSpace(b, end); j != len(b) {
		return synErr(j, "trailing data after JSON value")
	}
	return nil
}

// EachMember validates the top-level object in b and calls fn with each
// member's decoded key (valid only during the call; fn must not modify it)
// and value span.
func EachMember(b []byte, fn func(key []byte, start, end int, t ValueType) error) error {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return synErr(i, "expected a JSON object")
	}
	end, err := eachMember(b, i, func(ks, ke, vs int) (int, error) {
		ve, t, err := skipValue(b, vs, 1)
		if err != nil {
			return 0, err
		}
		key, err := memberKey(b[ks:ke])
		if err != nil {
			return 0, err
		}
		return ve, fn(key, vs, ve, t)
	})
	if err != nil {
		return err
	}
	if j := SkipSpace(b, end); j != len(b) {
		return synErr(j, "trailing data after JSON value")
	}
	return nil
}

// AppendUnquote appends the decoded contents of the JSON string token q
// (with quotes) to dst. q must have been validated by the scanner.
func AppendUnquote(dst, q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return dst, synErr(0, "not a string")
	}
	s := q[1 : len(q)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return dst, synErr(i, "unterminated escape")
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+6 > len(s) {
				return dst, synErr(i, "invalid \\u escape")
			}
			r := rune(hex4(s[i+2 : i+6]))
			i += 6
			if utf16IsHighSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 := rune(hex4(s[i+2 : i+6]))
					if r2 >= 0xDC00 && r2 <= 0xDFFF {
						r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r <= 0xDFFF {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, synErr(i, "invalid escape")
		}
		i += 2
	}
	return dst, nil
}

func utf16IsHighSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

func hex4(h []byte) uint32 {
	var v uint32
	for _, c := range h {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint32(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint32(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= uint32(c - 'A' + 10)
		}
	}
	return v
}

// ForEachElement walks the top-level array in b without validating its
// elements first: fn gets each element's start and must validate it and
// return its end (Rewriter.Parse or SkipValue do). Trailing bytes other than
// whitespace are an error. This keeps batch processing to one scan.
func ForEachElement(b []byte, fn func(start int) (end int, err error)) error {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return synErr(i, "expected a JSON array")
	}
	end, err := ScanArray(b, i, fn)
	if err != nil {
		return err
	}
	if j := SkipSpace(b, end); j != len(b) {
		return synErr(j, "trailing data after JSON value")
	}
	return nil
}

// ScanArray walks the array at b[start] == '[' like ForEachElement and
// returns the index just past it.
func ScanArray(b []byte, start int, fn func(start int) (end int, err error)) (int, error) {
	if start >= len(b) || b[start] != '[' {
		return 0, synErr(start, "expected a JSON array")
	}
	return eachElement(b, start, func(vs int) (int, error) {
		if vs >= len(b) {
			return 0, synErr(vs, "unexpected end of input")
		}
		return fn(vs)
	})
}

// ForEachMember walks the top-level object in b; fn gets each member's
// decoded key (valid during the call; fn must not modify it) and value
// start and must return the value's end.
func ForEachMember(b []byte, fn func(key []byte, start int) (end int, err error)) error {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return synErr(i, "expected a JSON object")
	}
	end, err := eachMember(b, i, func(ks, ke, vs int) (int, error) {
		key, err := memberKey(b[ks:ke])
		if err != nil {
			return 0, err
		}
		if vs >= len(b) {
			return 0, synErr(vs, "unexpected end of input")
		}
		return fn(key, vs)
	})
	if err != nil {
		return err
	}
	if j := SkipSpace(b, end); j != len(b) {
		return synErr(j, "trailing data after JSON value")
	}
	return nil
}

// memberKey decodes the key token q for EachMember and ForEachMember: a
// view into the document when it has no escape (fn must not modify it),
// a new slice otherwise. A buffer on the stack would escape through fn:
// an allocation per call.
func memberKey(q []byte) ([]byte, error) {
	if len(q) >= 2 && bytes.IndexByte(q, '\\') < 0 {
		return q[1 : len(q)-1], nil
	}
	return AppendUnquote(nil, q)
}

// quoteEscapes marks the bytes AppendQuote escapes.
var quoteEscapes = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// AppendQuote appends s (valid UTF-8) to dst as a JSON string, escaping
// quotes, backslashes and control characters.
func AppendQuote(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	// Runs of bytes that need no escape are copied at once: names and
	// most values have none.
	run := 0
	for i, c := range s {
		if !quoteEscapes[c] {
			continue
		}
		dst = append(dst, s[run:i]...)
		if c < 0x20 {
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		} else {
			dst = append(dst, '\\', c)
		}
		run = i + 1
	}
	dst = append(dst, s[run:]...)
	return append(dst, '"')
}
