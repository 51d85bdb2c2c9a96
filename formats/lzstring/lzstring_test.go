package lzstring

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// vector is one input with the outputs of the real encoders (see
// testdata/genvectors.js): ct from the CleverTap web SDK, lz from modern
// lz-string.
type vector struct {
	In string `json:"in"`
	CT string `json:"ct"`
	LZ string `json:"lz"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 100 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func TestReferenceVectors(t *testing.T) {
	f := func(in, wantCT, lz string) {
		t.Helper()
		got, err := AppendCompressToBase64(nil, []byte(in))
		if err != nil {
			t.Fatalf("compress %q: %v", in, err)
		}
		if string(got) != wantCT {
			t.Errorf("compress %q = %s, want %s", in, got, wantCT)
		}
		for _, enc := range []string{wantCT, lz} {
			dec, err := AppendDecompressFromBase64(nil, []byte(enc), 0)
			if err != nil {
				t.Fatalf("decompress %s: %v", enc, err)
			}
			if string(dec) != in {
				t.Errorf("decompress %s = %q, want %q", enc, dec, in)
			}
		}
	}
	// clevertap-wire.md §6.3.
	f("{}", "N4XyAA==", "N4XyA===")
	f("", "QAA=", "Q===")
	f("__proto____proto____proto__", "PrAOCcHsBdJEIzvRsRA=", "PrAOCcHsBdJEIzvRsRA=")
	for _, v := range loadVectors(t) {
		f(v.In, v.CT, v.LZ)
	}
}

// The variant is exactly Base64 of the big-endian bytes of the 16-bit units.
func TestVariantDefinition(t *testing.T) {
	for _, v := range loadVectors(t) {
		units, err := Compress([]byte(v.In))
		if err != nil {
			t.Fatal(err)
		}
		var be []byte
		for _, u := range units {
			be = append(be, byte(u>>8), byte(u))
		}
		if got := base64.StdEncoding.EncodeToString(be); got != v.CT {
			t.Fatalf("base64(UTF-16BE(compress(%q))) = %s, want %s", v.In, got, v.CT)
		}
	}
}

func randomText(r *rand.Rand) string {
	var b strings.Builder
	n := r.IntN(600)
	alpha := []rune("ab_\"{}:,0123456789éü日😀\u0100\uffff")
	for range n {
		switch r.IntN(4) {
		case 0:
			b.WriteRune(rune(32 + r.IntN(95)))
		case 1:
			b.WriteRune(alpha[r.IntN(len(alpha))])
		case 2:
			b.WriteString([]string{"__proto__", "Email", "evtData", "jane@example.com"}[r.IntN(4)])
		default:
			rn := rune(r.IntN(0x10FFFF))
			if utf8.ValidRune(rn) {
				b.WriteRune(rn)
			}
		}
	}
	return b.String()
}

func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		in := randomText(r)
		enc, err := AppendCompressToBase64(nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(enc)%4 != 0 {
			t.Fatalf("case %d: output length %d is not padded Base64", i, len(enc))
		}
		if _, err := base64.StdEncoding.DecodeString(string(enc)); err != nil {
			t.Fatalf("case %d: not standard Base64: %v", i, err)
		}
		dec, err := AppendDecompressFromBase64([]byte("prefix"), enc, 0)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if string(dec) != "prefix"+in {
			t.Fatalf("case %d: round trip mismatch", i)
		}
		// Modern padding: strip ours, pad to four characters with '='.
		bare := bytes.TrimRight(enc, "=")
		for len(bare)%4 != 0 {
			bare = append(bare, '=')
		}
		if dec, err := AppendDecompressFromBase64(nil, bare, 0); err != nil || string(dec) != in {
			t.Fatalf("case %d: re-padded input does not decode: %v", i, err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		m := map[string]any{"type": "event", "evtName": randomText(r), "evtData": map[string]any{
			"Email": "jane.doe@example.com", "n": r.Float64(), "s": randomText(r), "b": r.IntN(2) == 0,
		}}
		js, _ := json.Marshal(m)
		enc, err := AppendCompressToBase64(nil, js)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := AppendDecompressFromBase64(nil, enc, 0)
		if err != nil || !bytes.Equal(dec, js) {
			t.Fatalf("JSON round trip failed: %v", err)
		}
	}
}

func TestErrors(t *testing.T) {
	long := bytes.Repeat([]byte("abcdefghij"), 1000)
	encLong, _ := AppendCompressToBase64(nil, long)
	cases := []struct {
		name  string
		in    string
		limit int
		want  error
	}{
		{"empty", "", 0, ErrInvalidBase64},
		{"only padding", "====", 0, ErrInvalidBase64},
		{"url-safe alphabet", "N4X-AA==", 0, ErrInvalidBase64},
		{"space", "N4Xy AA==", 0, ErrInvalidBase64},
		{"padding inside", "N4=yAA==", 0, ErrInvalidBase64},
		{"truncated", "N4", 0, ErrCorrupt},
		{"bad first code", "w", 0, ErrCorrupt}, // first two bits 11
		{"over limit", string(encLong), 100, ErrTooLarge},
		{"lone surrogate", mustEncode(t, []uint16{0xD800}), 0, ErrInvalidUTF16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := AppendDecompressFromBase64(dst, []byte(c.in), c.limit)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed on error: %q", out)
			}
		})
	}
	if _, err := AppendCompressToBase64(nil, []byte{0xff, 'a'}); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8: err = %v", err)
	}
	if out, err := AppendDecompressFromBase64(nil, encLong, len(long)); err != nil || !bytes.Equal(out, long) {
		t.Fatalf("exact limit: %v", err)
	}
}

// mustEncode builds by hand the stream of one 16-bit literal, which UTF-8
// input can never produce for a lone surrogate.
func mustEncode(t *testing.T, units []uint16) string {
	t.Helper()
	if len(units) != 1 {
		t.Fatal("mustEncode handles one unit")
	}
	c := &compressor{}
	c.writeBits(1, 2) // 16-bit literal
	c.writeBits(uint32(units[0]), 16)
	c.writeBits(2, 3) // end of stream
	c.drain()
	c.acc <<= 16 - c.nacc
	c.nacc = 16
	c.drain()
	return base64.StdEncoding.EncodeToString(c.out)
}

// A stream that repeats "w followed by its first unit" grows quadratically;
// the limit stops it without exhausting memory.
func TestDecompressionBomb(t *testing.T) {
	in := bytes.Repeat([]byte("a"), 200_000)
	enc, err := AppendCompressToBase64(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > 4000 {
		t.Fatalf("expected a small bomb, got %d bytes", len(enc))
	}
	if _, err := AppendDecompressFromBase64(nil, enc, 10_000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func FuzzLZDecompress(f *testing.F) {
	for _, v := range loadVectors(f)[:40] {
		f.Add([]byte(v.CT))
		f.Add([]byte(v.LZ))
	}
	f.Add([]byte("N4XyAA=="))
	f.Add([]byte("N4XyA==="))
	f.Add([]byte("////"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := AppendDecompressFromBase64(nil, in, 1<<16)
		if err != nil {
			return
		}
		if !utf8.Valid(out) {
			t.Fatal("decompressed text is not valid UTF-8")
		}
		// Whatever decodes must survive a round trip of our own encoding.
		enc, err := AppendCompressToBase64(nil, out)
		if err != nil {
			t.Fatal(err)
		}
		back, err := AppendDecompressFromBase64(nil, enc, 1<<17)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("round trip of decoded text failed: %v", err)
		}
	})
}

func FuzzLZCompress(f *testing.F) {
	f.Add([]byte("{}"))
	f.Add([]byte("__proto____proto__"))
	f.Add([]byte(`{"type":"event","evtName":"Charged","evtData":{"Email":"jane@example.com"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		enc, err := AppendCompressToBase64(nil, in)
		if !utf8.Valid(in) {
			if err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		dec, err := AppendDecompressFromBase64(nil, enc, 4*len(in)+16)
		if err != nil || !bytes.Equal(dec, in) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

var sink []byte

func benchPayload() []byte {
	return []byte(`{"type":"event","evtName":"Order Completed","evtData":{"email":"jane.doe@example.com",` +
		`"phone":"+14155550123","Amount":9.99,"Items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]},` +
		`"id":"TEST-ACC-123","g":"3f2a9c0d5e8b4a7c9d1e2f3a4b5c6d7e","s":1700000000,"pg":3,` +
		`"af":{"lib":"web-sdk-v2.5.2","protocol":"https"},"WZRK_CAMP":{"wzrk_id":"0_0"}}`)
}

func BenchmarkCompressToBase64(b *testing.B) {
	in := benchPayload()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = AppendCompressToBase64(sink[:0], in)
	}
}

func BenchmarkDecompressFromBase64(b *testing.B) {
	enc, _ := AppendCompressToBase64(nil, benchPayload())
	b.SetBytes(int64(len(benchPayload())))
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = AppendDecompressFromBase64(sink[:0], enc, 0)
	}
}
