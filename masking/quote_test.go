package masking

import (
	"math/rand/v2"
	"testing"
)

// quoteRef is AppendQuote byte by byte, as it was before runs were copied.
func quoteRef(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func TestAppendQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"gdpr.record.meta", `"gdpr.record.meta"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\x00tab\there\n", `"\u0000tab\u0009here\u000a"`},
		{`"`, `"\""`},
		{"é✓", `"é✓"`},
	} {
		if got := string(AppendQuote([]byte("x"), []byte(tc.in))); got != "x"+tc.want {
			t.Errorf("AppendQuote(%q) = %s, want x%s", tc.in, got, tc.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\\x00\x1f\x7f é")
	for range 2000 {
		s := make([]byte, r.IntN(20))
		for i := range s {
			s[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got, want := AppendQuote(nil, s), quoteRef(nil, s); string(got) != string(want) {
			t.Fatalf("AppendQuote(%q) = %s, want %s", s, got, want)
		}
	}
}
