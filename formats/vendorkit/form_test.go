package vendorkit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// decodeCases are data parameters as the clients write them.
var decodeCases = []struct {
	name string
	raw  string
}{
	{"std raw", base64.StdEncoding.EncodeToString(decodePlain)},
	{"std escaped", strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(decodePlain))},
	{"plus decoded to space", strings.ReplaceAll(base64.StdEncoding.EncodeToString(decodePlain), "+", "%20")},
	{"unpadded", base64.RawStdEncoding.EncodeToString(decodePlain)},
	{"url alphabet", base64.URLEncoding.EncodeToString(decodePlain)},
	{"json", "%7B%22a%22%3A%22a%3E%3Eb%3F%3F~~%22%7D"},
}

var decodePlain = []byte(`{"a":"a>>b??~~"}`) // forces '+' and '/' into base64

func TestDecodeData(t *testing.T) {
	for _, c := range decodeCases {
		raw := []byte(c.raw)
		sent := string(raw)
		got, enc, err := DecodeData(nil, raw)
		if err != nil || string(got) != string(decodePlain) {
			t.Errorf("%s: got %q, %v", c.name, got, err)
			continue
		}
		if string(raw) != sent {
			t.Errorf("%s: the raw value was written", c.name)
		}
		back, _, err := DecodeData(nil, EncodeData(nil, decodePlain, enc))
		if err != nil || string(back) != string(decodePlain) {
			t.Errorf("%s: round trip gave %q, %v", c.name, back, err)
		}
	}
	for _, bad := range []string{"jane.doe@example.com", "%zz", "%4"} {
		if _, _, err := DecodeData(nil, []byte(bad)); err == nil || strings.Contains(err.Error(), "jane") {
			t.Errorf("DecodeData(%q): %v, want a refusal without the value", bad, err)
		}
	}
}

func TestSplitParams(t *testing.T) {
	cases := []struct {
		in   string
		want []Param
	}{
		{"", nil},
		{"a=1&&b", []Param{{Raw: []byte("a=1"), Key: []byte("a"), Value: []byte("1")}, {Raw: []byte("b"), Key: []byte("b")}}},
		{"da%74a=x+y&a+b=%20", []Param{
			{Raw: []byte("da%74a=x+y"), Key: []byte("data"), Value: []byte("x+y"), Data: true},
			{Raw: []byte("a+b=%20"), Key: []byte("a b"), Value: []byte("%20")},
		}},
	}
	for _, c := range cases {
		got, err := SplitParams(nil, []byte(c.in))
		if err != nil || len(got) != len(c.want) {
			t.Errorf("SplitParams(%q) = %d parameters, %v; want %d", c.in, len(got), err, len(c.want))
			continue
		}
		for i, p := range got {
			w := c.want[i]
			if !bytes.Equal(p.Raw, w.Raw) || !bytes.Equal(p.Key, w.Key) || !bytes.Equal(p.Value, w.Value) || p.Data != w.Data {
				t.Errorf("SplitParams(%q)[%d] = %s, want %s", c.in, i, show(p), show(w))
			}
		}
	}
	if _, err := SplitParams(nil, []byte(strings.Repeat("a=1&", MaxParams+1))); err == nil {
		t.Errorf("more than %d parameters accepted", MaxParams)
	}
	if _, err := SplitParams(nil, []byte("jane%zz=1")); err == nil || strings.Contains(formats.AsError(err).Msg, "jane") {
		t.Errorf("bad key: %v", err)
	}
}

func TestEscape(t *testing.T) {
	in := []byte("a b+c/d=é&~*'()!-_.")
	got := Escape(nil, in)
	if want := "a%20b%2Bc%2Fd%3D%C3%A9%26~*'()!-_."; string(got) != want {
		t.Errorf("Escape = %s, want %s", got, want)
	}
	back, err := Unescape(nil, got, true)
	if err != nil || !bytes.Equal(back, in) {
		t.Errorf("Unescape(Escape) = %q, %v", back, err)
	}
}

// FuzzDecodeData: whatever decodes re-encodes to the same payload, and the
// raw value is never written.
func FuzzDecodeData(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.raw))
	}
	f.Add([]byte("W3siZXZlbnQiOiJ4In1d"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sent := string(raw)
		plain, enc, err := DecodeData(nil, raw)
		if string(raw) != sent {
			t.Fatalf("the raw value %q was written", sent)
		}
		if err != nil {
			return
		}
		back, _, err := DecodeData(nil, EncodeData(nil, plain, enc))
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("round trip of %q: %q, %v", raw, back, err)
		}
	})
}

// FuzzSplitParams: never panics; every parameter is a segment of the input
// and escaping its decoded key gives a key that decodes the same.
func FuzzSplitParams(f *testing.F) {
	f.Add([]byte("data=eyJhIjoxfQ%3D%3D&ip=1&verbose=1"))
	f.Add([]byte("a+b=%20&&%zz"))
	f.Fuzz(func(t *testing.T, s []byte) {
		ps, err := SplitParams(nil, s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !bytes.Contains(s, p.Raw) {
				t.Fatalf("parameter %q is not in %q", p.Raw, s)
			}
			k, err := Unescape(nil, Escape(nil, p.Key), true)
			if err != nil || !bytes.Equal(k, p.Key) {
				t.Fatalf("key %q does not round-trip: %q, %v", p.Key, k, err)
			}
		}
	})
}

func show(p Param) string {
	return fmt.Sprintf("{raw %q key %q value %q data %v}", p.Raw, p.Key, p.Value, p.Data)
}
