package corpus

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// obj is a JSON object that keeps its key order, as the SDKs' JSONObject
// output does; encoding/json would sort map keys.
type obj []kv

type kv struct {
	K string
	V any
}

func (o obj) with(k string, v any) obj { return append(o, kv{k, v}) }

// clone returns a copy that can be extended without aliasing o.
func (o obj) clone() obj { return append(obj(nil), o...) }

// appendJSON appends the compact JSON encoding of v. It supports exactly the
// value types the generator builds and panics on anything else, which is a
// programming error caught by the tests.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case string:
		return appendString(b, x)
	case obj:
		b = append(b, '{')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.K)
			b = append(b, ':')
			b = appendJSON(b, e.V)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	default:
		panic(fmt.Sprintf("corpus: cannot encode %T", v))
	}
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as a JSON string (RFC 8259), escaping only what
// must be escaped, as Android's org.json does for the characters we use.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
