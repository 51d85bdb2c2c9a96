package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func reverseKeys(kid string, fill byte) Keys {
	return Keys{HMACKey: bytes.Repeat([]byte{1}, 32), TokenKey: bytes.Repeat([]byte{fill}, TokenKeySize), TokenKeyID: kid}
}

// sealed returns the token (contents, no quotes) of the JSON token raw.
func sealed(t testing.TB, tr *Transformer, raw string, typ ValueType) string {
	t.Helper()
	out, err := tr.tokenize(nil, &Params{}, []byte(raw), typ)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(string(out), `"`)
}

func TestReverser(t *testing.T) {
	tenant, err := NewTransformer(reverseKeys("k1", 7))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewTransformer(reverseKeys("k1", 9))   // another tenant, same key id
	retired, _ := NewTransformer(reverseKeys("k0", 7)) // same key bytes, a retired id
	email := sealed(t, tenant, `"jane@example.com"`, TypeString)
	phone := sealed(t, tenant, `14155550123`, TypeNumber)
	escaped := sealed(t, tenant, `"a\"b"`, TypeString)
	foreign := sealed(t, other, `"jane@example.com"`, TypeString)
	old := sealed(t, retired, `"jane@example.com"`, TypeString)
	forged := "tok:k1:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x41}, 40))
	names := map[string][]byte{"h:pseudonym-1": []byte(`"user-42"`)}

	for _, tc := range []struct {
		name, in, want             string
		opened, restored, unopened int
	}{
		{"nothing to open is copied byte for byte", ` {"a" : [1, true, null, "x\u0041"] } `, ` {"a" : [1, true, null, "x\u0041"] } `, 0, 0, 0},
		{"email token", `{"email":"` + email + `"}`, `{"email":"jane@example.com"}`, 1, 0, 0},
		{"number token opens to a number", `{"Phone":"` + phone + `"}`, `{"Phone":14155550123}`, 1, 0, 0},
		{"escaped plaintext stays escaped", `["` + escaped + `"]`, `["a\"b"]`, 1, 0, 0},
		{"token written with escapes", `["` + strings.Replace(email, ":", `\u003a`, 1) + `"]`, `["jane@example.com"]`, 1, 0, 0},
		{"named pseudonym", `{"record":{"identity":"h:pseudonym-1","x":"h:pseudonym-2"}}`, `{"record":{"identity":"user-42","x":"h:pseudonym-2"}}`, 0, 1, 0},
		{"keys are never opened", `{"` + email + `":1}`, `{"` + email + `":1}`, 0, 0, 0},
		{"another tenant's key", `["` + foreign + `"]`, `["` + foreign + `"]`, 0, 0, 1},
		{"retired key id", `["` + old + `"]`, `["` + old + `"]`, 0, 0, 1},
		{"garbage that looks like a token", `["` + forged + `","tok:k1:!!","tok:","tok:k1:"]`, `["` + forged + `","tok:k1:!!","tok:","tok:k1:"]`, 0, 0, 4},
		{"token inside a longer string is left", `["see ` + email + `"]`, `["see ` + email + `"]`, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Reverser{Tokens: tenant, Names: names}
			out, st, err := r.Append([]byte("prefix:"), []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimPrefix(string(out), "prefix:"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if st.Opened != tc.opened || st.Restored != tc.restored || st.Unopened != tc.unopened {
				t.Errorf("stats %+v, want opened %d restored %d unopened %d", st, tc.opened, tc.restored, tc.unopened)
			}
		})
	}
}

func TestReverserRefusesMalformed(t *testing.T) {
	tenant, _ := NewTransformer(reverseKeys("k1", 7))
	email := sealed(t, tenant, `"jane@example.com"`, TypeString)
	for _, in := range []string{
		``, `{`, `{"a":"` + email + `"`, `{"a":"` + email + `"} x`, `<html>502</html>`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		`{"a":"\x01"}`, `["` + email + `",]`, `["` + email + `","` + email + `"`,
	} {
		// Room enough that the output never grows out of the caller's
		// buffer: what was opened before the error is in it, and must be
		// wiped (TestReverserWipesArraysItLeaves covers a growing output).
		dst := append(make([]byte, 0, 4096), "keep"...)
		r := Reverser{Tokens: tenant}
		out, _, err := r.Append(dst, []byte(in))
		if err == nil {
			t.Errorf("%.40q: no error", in)
		}
		if string(out) != "keep" || bytes.Contains(dst[:cap(dst)], []byte("jane@")) {
			t.Errorf("%.40q: partial output %q, buffer %q", in, out, bytes.TrimRight(dst[:cap(dst)], "\x00"))
		}
	}
}

// FuzzReverser: for any input the reverser either refuses it or returns
// valid JSON; a document without tokens or names comes back byte for byte;
// a token of the tenant always opens to its value.
func FuzzReverser(f *testing.F) {
	tenant, _ := NewTransformer(reverseKeys("k1", 7))
	other, _ := NewTransformer(reverseKeys("k1", 9))
	for _, s := range []string{
		`{"status":"success","record":{"email":"` + sealed(f, tenant, `"a@b.c"`, TypeString) + `","identity":"h:x","profileData":{"Phone":"` + sealed(f, tenant, `1415`, TypeNumber) + `"}}}`,
		`{"status":"fail","error":"Profile not found","code":404}`,
		`["` + sealed(f, other, `"a@b.c"`, TypeString) + `","tok:k1:AAAA","tok:k9:x"]`,
		`{"records":[{"profile":{"objectId":"__g1"}}],"next_cursor":"abc%3D"}`,
		`"\ud800"`, `[1e400]`, ` 0 `,
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("testdata/reverse/*.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		f.Add(reverseInput(f, tenant, raw))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Reverser{Tokens: tenant, Names: map[string][]byte{"h:x": []byte(`"user"`)}}
		out, st, err := r.Append(nil, in)
		if err != nil {
			if json.Valid(in) && utf8.Valid(in) && !strings.Contains(err.Error(), "nesting too deep") {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !json.Valid(out) && json.Valid(in) {
			t.Fatalf("output is not JSON: %q", out)
		}
		if st.Opened == 0 && st.Restored == 0 && !bytes.Equal(out, in) {
			t.Fatalf("nothing opened but the document changed:\n%q\n%q", in, out)
		}
		// Every string that starts like a token is either opened with the
		// tenant's key or counted as not opened: a reverser without a key
		// counts them all as not opened.
		plain := Reverser{}
		if _, pst, _ := plain.Append(nil, in); pst.Unopened != st.Unopened+st.Opened {
			t.Fatalf("token-looking strings: %d without a key, %d+%d with it", pst.Unopened, st.Opened, st.Unopened)
		}
	})
}

func TestReverserRoundTrip(t *testing.T) {
	tenant, _ := NewTransformer(reverseKeys("k1", 7))
	in := `{"a":"x","b":["y\n","ü"],"c":{"d":-1.5e3}}`
	// Tokenize every scalar string and number as the policy would.
	var sealedDoc []byte
	last := 0
	for _, v := range []struct {
		raw string
		typ ValueType
	}{{`"x"`, TypeString}, {`"y\n"`, TypeString}, {`"ü"`, TypeString}, {`-1.5e3`, TypeNumber}} {
		i := strings.Index(in[last:], v.raw) + last
		sealedDoc = append(sealedDoc, in[last:i]...)
		sealedDoc = append(sealedDoc, '"')
		sealedDoc = append(sealedDoc, sealed(t, tenant, v.raw, v.typ)...)
		sealedDoc = append(sealedDoc, '"')
		last = i + len(v.raw)
	}
	sealedDoc = append(sealedDoc, in[last:]...)
	r := Reverser{Tokens: tenant}
	out, st, err := r.Append(nil, sealedDoc)
	if err != nil || string(out) != in || st.Opened != 4 {
		t.Fatalf("round trip: %v %+v\n%s\n%s", err, st, sealedDoc, out)
	}
}

func BenchmarkReverser(b *testing.B) {
	tenant, _ := NewTransformer(reverseKeys("k1", 7))
	doc := []byte(`{"status":"success","record":{"email":"` + sealed(b, tenant, `"jane@example.com"`, TypeString) + `","identity":"h:x","profileData":{"Name":"J","Phone":"` + sealed(b, tenant, `14155550123`, TypeNumber) + `","tz":"Europe/Berlin"},"platformInfo":[{"platform":"Android","objectId":"__g1","os_version":"14"}]}}`)
	r := Reverser{Tokens: tenant, Names: map[string][]byte{"h:x": []byte(`"user-42"`)}}
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		out, _, _ = r.Append(out[:0], doc)
	}
}

var placeholder = regexp.MustCompile(`@(tok|foreign|retired)\((.*?)\)@`)

// reverseInput expands the placeholders of a testdata/reverse input:
// @tok(v)@ is v tokenized under the tenant's key, @foreign(v)@ under
// another tenant's key with the same key id, @retired(v)@ under a retired
// key id.
func reverseInput(t testing.TB, tenant *Transformer, raw []byte) []byte {
	t.Helper()
	other, _ := NewTransformer(Keys{HMACKey: testHMACKey, TokenKey: bytes.Repeat([]byte("o"), TokenKeySize), TokenKeyID: "k1"})
	retired, _ := NewTransformer(Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k0"})
	return placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		sub := placeholder.FindSubmatch(m)
		tr := map[string]*Transformer{"tok": tenant, "foreign": other, "retired": retired}[string(sub[1])]
		typ := TypeString
		if sub[2][0] != '"' {
			typ = TypeNumber
		}
		return []byte(sealed(t, tr, string(sub[2]), typ))
	})
}

// TestReverserGolden opens vendor replies in the shapes of CleverTap's
// access API (testdata/reverse/*.json; -update rewrites the .golden files).
func TestReverserGolden(t *testing.T) {
	tenant := newTestTransformer(t)
	files, _ := filepath.Glob("testdata/reverse/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/reverse inputs")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r := Reverser{Tokens: tenant, Names: map[string][]byte{"h:pseudonym-of-user-42": []byte(`"user-42"`)}}
			out, st, err := r.Append(nil, reverseInput(t, tenant, bytes.TrimSpace(raw)))
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s\nopened=%d restored=%d unopened=%d\n", out, st.Opened, st.Restored, st.Unopened)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Opening makes a document larger (a short pseudonym stands for a long
// identifier): Max bounds the answer, not the input.
func TestReverserMax(t *testing.T) {
	long := `"` + strings.Repeat("x", 1000) + `"`
	names := map[string][]byte{"p": []byte(long)}
	for _, tc := range []struct {
		name, in string
		max      int
		ok       bool
	}{
		{"no limit", `["p","p"]`, 0, true},
		{"exactly at the limit", `["p","p"]`, 2*len(long) + 3, true},
		{"one byte over", `["p","p"]`, 2*len(long) + 2, false},
		{"input alone over", `["a","b"]`, 8, false},
		{"first value already over", `["p"]`, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 4, 8)
			copy(dst, "keep")
			r := Reverser{Names: names, Max: tc.max}
			out, _, err := r.Append(dst, []byte(tc.in))
			if tc.ok {
				if err != nil || len(out)-4 > tc.max && tc.max > 0 {
					t.Fatalf("got %d bytes, %v", len(out)-4, err)
				}
				return
			}
			if !errors.Is(err, ErrReverseTooLarge) || string(out) != "keep" {
				t.Fatalf("got %q, %v; want ErrReverseTooLarge and dst unchanged", out, err)
			}
		})
	}
}

// Opened values do not stay behind in arrays the output leaves: the
// caller's buffer (often pooled) when the output grows out of it, on
// success and on error.
func TestReverserWipesArraysItLeaves(t *testing.T) {
	tenant, _ := NewTransformer(reverseKeys("k1", 7))
	email := sealed(t, tenant, `"jane@example.com"`, TypeString)
	phone := sealed(t, tenant, `"+14155550123"`, TypeString)
	for _, tc := range []struct {
		name, in string
		cap      int // of the caller's buffer, "keep" in it
		ok       bool
	}{
		{"grows while opening the second token, then fails", `["` + email + `","` + phone + `",]`, 30, false},
		{"grows while copying, then fails", `["` + email + `","` + strings.Repeat("x", 40) + `","` + phone + `",]`, 30, false},
		{"grows, then succeeds", `["` + email + `","` + phone + `"]`, 30, true},
		{"grows on the last copy", `["` + email + `","` + strings.Repeat("x", 40) + `"]`, 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := append(make([]byte, 0, tc.cap), "keep"...)
			r := Reverser{Tokens: tenant}
			out, _, err := r.Append(dst, []byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && !strings.Contains(string(out), "jane@example.com") {
				t.Fatalf("not opened: %s", out)
			}
			if left := dst[len(dst):cap(dst)]; bytes.Contains(left, []byte("jane")) || bytes.Contains(left, []byte("4155550123")) {
				t.Errorf("the caller's buffer keeps opened values: %q", left)
			}
		})
	}
}
