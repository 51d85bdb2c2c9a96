package masking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"github.com/consentry/consentry/detect"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	testHMACKey  = bytes.Repeat([]byte("h"), 32)
	testTokenKey = bytes.Repeat([]byte("t"), 64)
	testKeyring  = map[string][]byte{"k1": testTokenKey}
)

// The rewriter calls a *Transformer through its Applier interface.
var _ Applier = (*Transformer)(nil)

func newTestTransformer(t testing.TB) *Transformer {
	t.Helper()
	tr, err := NewTransformer(Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// hmacHex is an independent HMAC-SHA-256 for expected values.
func hmacHex(in string, n int) string {
	m := hmac.New(sha256.New, testHMACKey)
	m.Write([]byte(in))
	s := hex.EncodeToString(m.Sum(nil))
	if n > 0 {
		s = s[:n]
	}
	return s
}

func typeOf(raw string) ValueType {
	switch {
	case raw == "":
		return TypeNull
	case raw[0] == '"':
		return TypeString
	case raw[0] == 't' || raw[0] == 'f':
		return TypeBool
	case raw[0] == 'n':
		return TypeNull
	case raw[0] == '{':
		return TypeObject
	case raw[0] == '[':
		return TypeArray
	}
	return TypeNumber
}

type applyCase struct {
	name     string
	d        Decision
	raw      string
	want     string // exact output; ignored when check is set
	drop     bool
	findings int
	err      bool
	check    func(t *testing.T, out string)
}

func runApply(t *testing.T, tr *Transformer, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pre := []byte("prefix:")
			out, drop, n, err := tr.Apply(bytes.Clone(pre), &tc.d, []byte(tc.raw), typeOf(tc.raw))
			if !bytes.HasPrefix(out, pre) {
				t.Fatalf("Apply did not append to dst: %q", out)
			}
			got := string(out[len(pre):])
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				if !drop || got != "" {
					t.Fatalf("error must drop and append nothing, got drop=%v out=%q", drop, got)
				}
				return
			}
			if drop != tc.drop || n != tc.findings {
				t.Fatalf("drop=%v findings=%d, want drop=%v findings=%d (out %q)", drop, n, tc.drop, tc.findings, got)
			}
			if drop {
				if got != "" {
					t.Fatalf("drop appended %q", got)
				}
				return
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("output is not valid JSON: %q", got)
			}
			if tc.check != nil {
				tc.check(t, got)
			} else if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestTransformKeepDropRedact(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	keep, drop, redact := Decision{Action: ActionKeep}, Decision{Action: ActionDrop}, Decision{Action: ActionRedact}
	custom := Decision{Action: ActionRedact, Params: &Params{Replacement: `<"gone"> é`}}
	runApply(t, tr, []applyCase{
		{name: "keep string", d: keep, raw: `"a\"b"`, want: `"a\"b"`},
		{name: "keep number", d: keep, raw: `-1.5e3`, want: `-1.5e3`},
		{name: "keep bool", d: keep, raw: `true`, want: `true`},
		{name: "keep null", d: keep, raw: `null`, want: `null`},
		{name: "keep object", d: keep, raw: `{"a":1}`, want: `{"a":1}`},
		{name: "drop string", d: drop, raw: `"x"`, drop: true},
		{name: "drop number", d: drop, raw: `1`, drop: true},
		{name: "drop bool", d: drop, raw: `false`, drop: true},
		{name: "drop null", d: drop, raw: `null`, drop: true},
		{name: "drop array", d: drop, raw: `[1]`, drop: true},
		{name: "redact string", d: redact, raw: `"alice"`, want: `"[REDACTED]"`},
		{name: "redact number", d: redact, raw: `14155550123`, want: `0`},
		{name: "redact bool", d: redact, raw: `true`, want: `false`},
		{name: "redact null", d: redact, raw: `null`, want: `null`},
		{name: "redact custom escaped", d: custom, raw: `"x"`, want: `"<\"gone\"> é"`},
		{name: "redact object is error", d: redact, raw: `{"a":1}`, err: true},
		{name: "redact broken string", d: redact, raw: `"abc`, err: true},
		{name: "unknown action", d: Decision{Action: Action(99)}, raw: `"x"`, err: true},
	})
	// A raw that does not match its declared type is an error.
	if _, drop, _, err := tr.Apply(nil, &redact, []byte(`"abc"`), TypeNumber); err == nil || !drop {
		t.Fatalf("type mismatch: drop=%v err=%v", drop, err)
	}
	// A nil decision drops.
	if _, drop, _, err := tr.Apply(nil, nil, []byte(`"x"`), TypeString); !drop || err != nil {
		t.Fatalf("nil decision: drop=%v err=%v", drop, err)
	}
}

func TestTransformHash(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	h := Decision{Action: ActionHash}
	email := Decision{Action: ActionHash, Params: &Params{Normalize: "email"}}
	phone := Decision{Action: ActionHash, Params: &Params{Normalize: "phone", HexLen: 16}}
	lower := Decision{Action: ActionHash, Params: &Params{Normalize: "lower"}}
	device := Decision{Action: ActionHash, Params: &Params{HexLen: 32, IfPrefix: map[string]string{"__g": "__", "-g": "-", "-": "X"}}}
	adid := "0123456789abcdef0123456789abcdef"
	runApply(t, tr, []applyCase{
		{name: "string", d: h, raw: `"alice"`, want: `"` + hmacHex("alice", 0) + `"`},
		{name: "escapes decoded", d: h, raw: `"al\u0069ce"`, want: `"` + hmacHex("alice", 0) + `"`},
		{name: "number text", d: h, raw: `42.50`, want: `"` + hmacHex("42.50", 0) + `"`},
		{name: "email normalized", d: email, raw: `"  Alice@Example.COM "`, want: `"` + hmacHex("alice@example.com", 0) + `"`},
		{name: "email unicode lower", d: email, raw: `"ÉMILE@x.fr"`, want: `"` + hmacHex("émile@x.fr", 0) + `"`},
		{name: "phone string", d: phone, raw: `"+1 415-555-0123"`, want: `"` + hmacHex("14155550123", 16) + `"`},
		{name: "phone number same hash", d: phone, raw: `14155550123`, want: `"` + hmacHex("14155550123", 16) + `"`},
		{name: "lower", d: lower, raw: `"MiXeD"`, want: `"` + hmacHex("mixed", 0) + `"`},
		{name: "android ad-id device", d: device, raw: `"__g` + adid + `"`, want: `"__` + hmacHex(adid, 32) + `"`},
		{name: "ios ad-id device", d: device, raw: `"-g` + adid + `"`, want: `"-` + hmacHex(adid, 32) + `"`},
		{name: "longest prefix wins", d: device, raw: `"-abc"`, want: `"X` + hmacHex("abc", 32) + `"`},
		{name: "random id kept", d: device, raw: `"__` + adid + `"`, want: `"__` + adid + `"`},
		{name: "prefix number kept", d: device, raw: `12`, want: `12`},
		{name: "bool redacted", d: h, raw: `true`, want: `false`},
		{name: "null stays", d: h, raw: `null`, want: `null`},
		{name: "object error", d: h, raw: `[]`, err: true},
	})
}

func TestTransformTokenize(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	tok := Decision{Action: ActionTokenize}
	roundTrip := func(want string) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			if !strings.HasPrefix(out, `"tok:k1:`) {
				t.Fatalf("token %s lacks prefix", out)
			}
			back, err := Detokenize(out, testKeyring)
			if err != nil || string(back) != want {
				t.Fatalf("Detokenize = %s, %v; want %s", back, err, want)
			}
		}
	}
	runApply(t, tr, []applyCase{
		{name: "string", d: tok, raw: `"alice@example.com"`, check: roundTrip(`"alice@example.com"`)},
		{name: "number stays number", d: tok, raw: `14155550123`, check: roundTrip(`14155550123`)},
		{name: "escapes canonical", d: tok, raw: `"a\u0062\/c\n"`, check: roundTrip(`"ab/c\n"`)},
		{name: "empty string", d: tok, raw: `""`, check: roundTrip(`""`)},
		{name: "bool redacted", d: tok, raw: `false`, want: `false`},
		{name: "null", d: tok, raw: `null`, want: `null`},
	})

	a1, _, _, _ := tr.Apply(nil, &tok, []byte(`"alice"`), TypeString)
	a2, _, _, _ := tr.Apply(nil, &tok, []byte(`"al\u0069ce"`), TypeString)
	b, _, _, _ := tr.Apply(nil, &tok, []byte(`"alicf"`), TypeString)
	if string(a1) != string(a2) || string(a1) == string(b) {
		t.Fatalf("tokens not deterministic per value: %s %s %s", a1, a2, b)
	}
	// Another transformer with the same keys makes the same tokens (joins).
	a3, _, _, _ := newTestTransformer(t).Apply(nil, &tok, []byte(`"alice"`), TypeString)
	if string(a1) != string(a3) {
		t.Fatalf("same keys, different tokens: %s %s", a1, a3)
	}

	noKey, err := NewTransformer(Keys{HMACKey: testHMACKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, drop, _, err := noKey.Apply(nil, &tok, []byte(`"x"`), TypeString); !errors.Is(err, ErrNoTokenKey) || !drop {
		t.Fatalf("tokenize without key: drop=%v err=%v", drop, err)
	}
}

func TestDetokenizeErrors(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	out, _, _, _ := tr.Apply(nil, &Decision{Action: ActionTokenize}, []byte(`"secret"`), TypeString)
	good := strings.Trim(string(out), `"`)
	body := strings.TrimPrefix(good, "tok:k1:")
	flipped := []byte(body)
	if flipped[5] == 'A' {
		flipped[5] = 'B'
	} else {
		flipped[5] = 'A'
	}
	other := map[string][]byte{"k1": bytes.Repeat([]byte("o"), 64)}
	for _, tc := range []struct {
		name, token string
		keys        map[string][]byte
		want        error
	}{
		{"ok unquoted", good, testKeyring, nil},
		{"tampered", "tok:k1:" + string(flipped), testKeyring, ErrInvalidToken},
		{"truncated", good[:len(good)-2], testKeyring, ErrInvalidToken},
		{"wrong key", good, other, ErrInvalidToken},
		{"key id swapped", "tok:k2:" + body, map[string][]byte{"k2": testTokenKey}, ErrInvalidToken},
		{"unknown key id", good, map[string][]byte{"k9": testTokenKey}, ErrUnknownKeyID},
		{"no prefix", body, testKeyring, ErrInvalidToken},
		{"bad base64", "tok:k1:***", testKeyring, ErrInvalidToken},
		{"no key id", "tok:" + body, testKeyring, ErrInvalidToken},
		{"short", "tok:k1:AAAA", testKeyring, ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detokenize(tc.token, tc.keys)
			if !errors.Is(err, tc.want) || tc.want == nil && string(got) != `"secret"` {
				t.Fatalf("Detokenize = %s, %v; want %v", got, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatal("error leaks the value")
			}
		})
	}
}

func TestTransformMask(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	m := Decision{Action: ActionMask}
	first2 := Decision{Action: ActionMask, Params: &Params{KeepFirst: 2, KeepLast: 2, MaskChar: '#'}}
	none := Decision{Action: ActionMask, Params: &Params{}}
	runApply(t, tr, []applyCase{
		{name: "card last 4", d: m, raw: `"4111111111111111"`, want: `"************1111"`},
		{name: "number becomes string", d: m, raw: `14155550123`, want: `"*******0123"`},
		{name: "short keeps at most half", d: m, raw: `"1234"`, want: `"**34"`},
		{name: "one rune", d: m, raw: `"x"`, want: `"*"`},
		{name: "empty", d: m, raw: `""`, want: `""`},
		{name: "runes not bytes", d: m, raw: `"Grüße, Jürgen"`, want: `"*********rgen"`},
		{name: "first and last", d: first2, raw: `"alice@example.com"`, want: `"al#############om"`},
		{name: "escape kept", d: Decision{Action: ActionMask, Params: &Params{KeepFirst: 3, KeepLast: 1}}, raw: `"ab\"cdefgh"`, want: `"ab\"*****h"`},
		{name: "control chars masked", d: m, raw: `"\n\t\u0001abcdefgh"`, want: `"*******efgh"`},
		{name: "literal params mask all", d: none, raw: `"secret"`, want: `"******"`},
		{name: "bad mask char falls back", d: Decision{Action: ActionMask, Params: &Params{MaskChar: '"'}}, raw: `"abcdef"`, want: `"******"`},
		{name: "bool redacted", d: m, raw: `true`, want: `false`},
		{name: "null", d: m, raw: `null`, want: `null`},
	})
}

func TestTransformGeneralize(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	g := func(p Params) Decision { return Decision{Action: ActionGeneralize, Params: &p} }
	year, month := g(Params{To: ToYear}), g(Params{To: ToMonth})
	dec2 := g(Params{To: ToDecimals, Decimals: 2})
	dec0 := g(Params{To: ToDecimals})
	bucket := g(Params{To: ToBucket, BucketSize: 10})
	bucketHalf := g(Params{To: ToBucket, BucketSize: 0.1})
	prefix := g(Params{To: ToPrefix})
	prefix16 := g(Params{To: ToPrefix, IPv4Bits: 16, IPv6Bits: 32})
	auto := Decision{Action: ActionGeneralize}
	runApply(t, tr, []applyCase{
		// CleverTap dates: 632361600 is 1990-01-15.
		{name: "ct epoch year", d: year, raw: `"$D_632361600"`, want: `"$D_631152000"`},
		{name: "ct epoch month", d: month, raw: `"$D_1709633472"`, want: `"$D_1709251200"`},
		{name: "ct negative epoch", d: year, raw: `"$D_-86400"`, want: `"$D_-31536000"`},
		{name: "ct legacy year", d: year, raw: `"$D_19900515"`, want: `"$D_19900101"`},
		{name: "ct legacy month", d: month, raw: `"$D_19900515"`, want: `"$D_19900501"`},
		{name: "ct bad", d: year, raw: `"$D_abc"`, want: `"[REDACTED]"`},
		{name: "iso date", d: year, raw: `"2024-03-05"`, want: `"2024-01-01"`},
		{name: "iso date month", d: month, raw: `"2024-03-05"`, want: `"2024-03-01"`},
		{name: "iso datetime utc", d: month, raw: `"2024-03-05T10:11:12.345Z"`, want: `"2024-03-01T00:00:00Z"`},
		{name: "iso offset crosses year", d: year, raw: `"2024-01-01T02:00:00+05:30"`, want: `"2023-01-01T00:00:00Z"`},
		{name: "iso local time", d: year, raw: `"2024-03-05 10:11"`, want: `"2024-01-01 00:00:00"`},
		{name: "iso invalid day", d: year, raw: `"2023-02-29"`, want: `"[REDACTED]"`},
		{name: "iso junk suffix", d: year, raw: `"2024-03-05 John"`, want: `"[REDACTED]"`},
		{name: "yyyymmdd number", d: year, raw: `20240305`, want: `20240101`},
		{name: "epoch number", d: month, raw: `1709633472`, want: `1709251200`},
		{name: "epoch ms number", d: year, raw: `1709633472123`, want: `1704067200000`},
		{name: "digits string", d: year, raw: `"1709633472"`, want: `"1704067200"`},
		{name: "year number kept", d: year, raw: `1990`, want: `1990`},
		{name: "year string kept", d: month, raw: `"1990"`, want: `"1990"`},
		{name: "date float redacted", d: year, raw: `1.5`, want: `0`},
		{name: "date text redacted", d: year, raw: `"soon"`, want: `"[REDACTED]"`},
		{name: "date bool", d: year, raw: `true`, want: `false`},
		{name: "gps", d: dec2, raw: `37.774929`, want: `37.77`},
		{name: "gps negative", d: dec2, raw: `-122.419416`, want: `-122.42`},
		{name: "gps rounds up", d: dec2, raw: `51.507351`, want: `51.51`},
		{name: "gps rounds half away from zero", d: dec2, raw: `-0.125`, want: `-0.13`},
		{name: "gps rounds down", d: dec2, raw: `48.856614`, want: `48.86`},
		{name: "gps carry", d: dec2, raw: `9.996`, want: `10.00`},
		{name: "gps carry negative", d: dec2, raw: `-99.995`, want: `-100.00`},
		{name: "gps tiny negative", d: dec2, raw: `-0.004`, want: `0.00`},
		{name: "gps exponent rounds", d: dec2, raw: `-1.22419416e2`, want: `-122.42`},
		{name: "gps string", d: dec2, raw: `"37.774929"`, want: `"37.77"`},
		{name: "gps short", d: dec2, raw: `37.7`, want: `37.7`},
		{name: "gps exponent", d: dec2, raw: `3.7774929e1`, want: `37.77`},
		{name: "gps zero decimals", d: dec0, raw: `37.774929`, want: `38`},
		{name: "gps zero decimals down", d: dec0, raw: `37.4`, want: `37`},
		{name: "decimals integer", d: dec2, raw: `42`, want: `42`},
		{name: "decimals text", d: dec2, raw: `"north"`, want: `"[REDACTED]"`},
		{name: "bucket", d: bucket, raw: `57`, want: `50`},
		{name: "bucket negative", d: bucket, raw: `-3`, want: `-10`},
		{name: "bucket fraction", d: bucketHalf, raw: `0.37`, want: `0.3`},
		{name: "bucket string", d: bucket, raw: `"1234"`, want: `"1230"`},
		{name: "bucket no size", d: g(Params{To: ToBucket}), raw: `5`, err: true},
		{name: "ipv4 /24", d: prefix, raw: `"203.0.113.77"`, want: `"203.0.113.0"`},
		{name: "ipv4 /16", d: prefix16, raw: `"203.0.113.77"`, want: `"203.0.0.0"`},
		{name: "ipv6 /48", d: prefix, raw: `"2001:db8:1234:5678::1"`, want: `"2001:db8:1234::"`},
		{name: "ipv6 /32", d: prefix16, raw: `"2001:db8:1234:5678::1"`, want: `"2001:db8::"`},
		{name: "ipv4 mapped", d: prefix, raw: `"::ffff:203.0.113.77"`, want: `"::ffff:203.0.113.0"`},
		{name: "ip with port redacted", d: prefix, raw: `"203.0.113.77:80"`, want: `"[REDACTED]"`},
		{name: "ip zone redacted", d: prefix, raw: `"fe80::1%eth0"`, want: `"[REDACTED]"`},
		{name: "ip number redacted", d: prefix, raw: `3405803853`, want: `0`},
		{name: "bad target", d: g(Params{To: "week"}), raw: `1`, err: true},
		{name: "auto ct date", d: auto, raw: `"$D_632361600"`, want: `"$D_631152000"`},
		{name: "auto iso", d: auto, raw: `"2024-03-05"`, want: `"2024-01-01"`},
		{name: "auto ip", d: auto, raw: `"198.51.100.9"`, want: `"198.51.100.0"`},
		{name: "auto gps", d: auto, raw: `48.858370`, want: `48.86`},
		{name: "auto integer redacted", d: auto, raw: `14155550123`, want: `0`},
		{name: "auto text redacted", d: auto, raw: `"Paris"`, want: `"[REDACTED]"`},
	})
}

func TestTransformScan(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	scan := Decision{Action: ActionScan}
	with := func(a Action) Decision {
		return Decision{Action: ActionScan, Params: &Params{KeepLast: 4, Findings: map[string]Action{ClassPhone: a, ClassEmail: a}}}
	}
	runApply(t, tr, []applyCase{
		{name: "no findings kept byte for byte", d: scan, raw: `"hello \u00e9 world"`, want: `"hello \u00e9 world"`},
		{name: "string findings", d: scan, raw: `"mail a@b.co now"`, want: `"mail [email] now"`, findings: 1},
		{name: "escaped input", d: scan, raw: `"line\nmail a\u0040b.co \"q\""`, want: `"line\nmail [email] \"q\""`, findings: 1},
		{name: "number phone redacted", d: scan, raw: `14155550123`, want: `0`, findings: 1},
		{name: "number card redacted", d: scan, raw: `4111111111111111`, want: `0`, findings: 1},
		{name: "number clean", d: scan, raw: `1700000000`, want: `1700000000`},
		{name: "number float clean", d: scan, raw: `37.774929`, want: `37.774929`},
		{name: "bool passes", d: scan, raw: `true`, want: `true`},
		{name: "null passes", d: scan, raw: `null`, want: `null`},
		{name: "number hash", d: with(ActionHash), raw: `14155550123`, want: `"` + hmacHex("14155550123", 0) + `"`, findings: 1},
		{name: "number phone hash equals string", d: with(ActionHash), raw: `"+1 (415) 555-0123"`, want: `"` + hmacHex("14155550123", 0) + `"`, findings: 1},
		{name: "number mask", d: with(ActionMask), raw: `14155550123`, want: `"*******0123"`, findings: 1},
		{name: "number drop", d: with(ActionDrop), raw: `14155550123`, drop: true, findings: 1},
		{name: "number keep", d: with(ActionKeep), raw: `14155550123`, want: `14155550123`},
		{name: "string keep", d: with(ActionKeep), raw: `"a@b.co"`, want: `"a@b.co"`},
		{name: "string drop finding", d: with(ActionDrop), raw: `"x a@b.co y"`, want: `"x  y"`, findings: 1},
		{name: "number tokenize", d: with(ActionTokenize), raw: `14155550123`, findings: 1, check: func(t *testing.T, out string) {
			back, err := Detokenize(out, testKeyring)
			if err != nil || string(back) != `14155550123` {
				t.Fatalf("Detokenize = %s, %v", back, err)
			}
		}},
		{name: "string tokenize", d: with(ActionTokenize), raw: `"hi Bob@X.io!"`, findings: 1, check: func(t *testing.T, out string) {
			var s string
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatal(err)
			}
			tok := strings.TrimSuffix(strings.TrimPrefix(s, "hi "), "!")
			back, err := Detokenize(tok, testKeyring)
			if err != nil || string(back) != `"Bob@X.io"` {
				t.Fatalf("Detokenize(%s) = %s, %v", tok, back, err)
			}
		}},
	})
}

// TestTransformScanGolden runs every testdata/scan/*.json value through scan
// under two finding policies and compares with the .golden file next to it.
// Regenerate with: go test ./masking/ -run ScanGolden -update
func TestTransformScanGolden(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	policies := []struct {
		name string
		d    Decision
	}{
		{"redact", Decision{Action: ActionScan}},
		{"mixed", Decision{Action: ActionScan, Params: &Params{
			KeepFirst: 0, KeepLast: 4, MaskChar: '*', HexLen: 16, IPv4Bits: 24, IPv6Bits: 48,
			Findings: map[string]Action{
				ClassEmail: ActionHash, ClassPhone: ActionTokenize, ClassCard: ActionMask,
				ClassIP: ActionGeneralize, ClassSSN: ActionDrop, ClassAdID: ActionKeep,
			},
		}}},
	}
	files, err := filepath.Glob("testdata/scan/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			raw := bytes.TrimSpace(in)
			var got strings.Builder
			for _, p := range policies {
				out, drop, n, err := tr.Apply(nil, &p.d, raw, typeOf(string(raw)))
				if err == nil && !drop && !json.Valid(out) {
					t.Fatalf("%s: invalid JSON %s", p.name, out)
				}
				got.WriteString(p.name + ": " + string(out) + " drop=" + strconv.FormatBool(drop) + " findings=" + strconv.Itoa(n))
				if err != nil {
					got.WriteString(" err=" + err.Error())
				}
				got.WriteString("\n")
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got.String() != string(want) {
				t.Errorf("input %s\n got:\n%s\nwant:\n%s", raw, got.String(), want)
			}
		})
	}
}

func TestNewTransformerValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		k    Keys
		ok   bool
	}{
		{"ok", Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, true},
		{"hmac only", Keys{HMACKey: testHMACKey}, true},
		{"short hmac", Keys{HMACKey: testHMACKey[:31]}, false},
		{"short token key", Keys{HMACKey: testHMACKey, TokenKey: testTokenKey[:32], TokenKeyID: "k1"}, false},
		{"no key id", Keys{HMACKey: testHMACKey, TokenKey: testTokenKey}, false},
		{"bad key id", Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k:1"}, false},
		{"long key id", Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: strings.Repeat("k", 17)}, false},
	} {
		_, err := NewTransformer(tc.k)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "hhhh") {
			t.Errorf("%s: error leaks the key", tc.name)
		}
	}
	s := Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}.String()
	if strings.Contains(s, "hhhh") || strings.Contains(s, "tttt") {
		t.Errorf("Keys.String leaks: %s", s)
	}
	// The transformer keeps a copy: changing the caller's key changes nothing.
	key := bytes.Clone(testHMACKey)
	tr, _ := NewTransformer(Keys{HMACKey: key})
	before, _, _, _ := tr.Apply(nil, &Decision{Action: ActionHash}, []byte(`"x"`), TypeString)
	key[0] ^= 1
	after, _, _, _ := tr.Apply(nil, &Decision{Action: ActionHash}, []byte(`"x"`), TypeString)
	if string(before) != string(after) {
		t.Error("transformer shares the caller's key slice")
	}
}

// TestTransformConcurrent exercises the scratch pool from many goroutines
// (run with -race).
func TestTransformConcurrent(t *testing.T) {
	t.Parallel()
	tr := newTestTransformer(t)
	ds := []Decision{{Action: ActionHash}, {Action: ActionTokenize}, {Action: ActionScan}, {Action: ActionMask}}
	raw := []byte(`"call +1 415-555-0123 or a@b.co"`)
	want := make([]string, len(ds))
	for i := range ds {
		out, _, _, _ := tr.Apply(nil, &ds[i], raw, TypeString)
		want[i] = string(out)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			var buf []byte
			for i := 0; i < 200; i++ {
				k := (g + i) % len(ds)
				buf, _, _, _ = tr.Apply(buf[:0], &ds[k], raw, TypeString)
				if string(buf) != want[k] {
					t.Errorf("concurrent %s: %s != %s", ds[k].Action, buf, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

var fuzzDecisions = []Decision{
	{Action: ActionKeep}, {Action: ActionDrop}, {Action: ActionRedact},
	{Action: ActionRedact, Params: &Params{Replacement: "\x00\"é\\"}},
	{Action: ActionHash}, {Action: ActionHash, Params: &Params{Normalize: "email", HexLen: 9, IfPrefix: map[string]string{"a": "\"", "": "x"}}},
	{Action: ActionHash, Params: &Params{Normalize: "phone"}},
	{Action: ActionTokenize},
	{Action: ActionMask}, {Action: ActionMask, Params: &Params{KeepFirst: 3, KeepLast: 3, MaskChar: '#'}},
	{Action: ActionGeneralize}, {Action: ActionGeneralize, Params: &Params{To: ToYear}},
	{Action: ActionGeneralize, Params: &Params{To: ToMonth}},
	{Action: ActionGeneralize, Params: &Params{To: ToDecimals, Decimals: 3}},
	{Action: ActionGeneralize, Params: &Params{To: ToBucket, BucketSize: 0.25}},
	{Action: ActionGeneralize, Params: &Params{To: ToPrefix, IPv4Bits: 8, IPv6Bits: 64}},
	{Action: ActionScan},
	{Action: ActionScan, Params: &Params{Findings: map[string]Action{
		ClassEmail: ActionHash, ClassPhone: ActionTokenize, ClassCard: ActionMask, ClassIP: ActionGeneralize,
		ClassSSN: ActionDrop, ClassAdID: ActionKeep, ClassIBAN: ActionGeneralize,
	}}},
}

var fuzzRawSeeds = []string{
	`"alice@example.com"`, `14155550123`, `-0.5e-3`, `true`, `null`, `"$D_632361600"`,
	`"2024-03-05T10:11:12+05:30"`, `"203.0.113.7"`, `"::ffff:1.2.3.4"`, `"\ud800\u0041\n"`,
	`"call +1 (415) 555-0123, card 4111 1111 1111 1111"`, `1e308`, `-1e308`, `"\u00e9\u20ac"`,
	`"__g0123456789abcdef0123456789abcdef"`, `""`, `0`, `"$D_19900515"`, `1709633472123`,
}

// FuzzApply: for any valid JSON scalar and every decision, Apply never
// panics, errors only with drop, and otherwise appends exactly one valid
// JSON value; tokens always detokenize to a value equal to the input.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzRawSeeds {
		f.Add([]byte(s))
	}
	tr := newTestTransformer(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 || !json.Valid(raw) || !bytes.Equal(raw, bytes.TrimSpace(raw)) {
			return
		}
		typ := typeOf(string(raw))
		if typ == TypeObject || typ == TypeArray {
			return
		}
		for i := range fuzzDecisions {
			d := &fuzzDecisions[i]
			out, drop, n, err := tr.Apply([]byte("x"), d, raw, typ)
			if string(out[:1]) != "x" {
				t.Fatalf("%s: dst prefix lost", d.Action)
			}
			out = out[1:]
			if err != nil || drop {
				if !drop || len(out) != 0 {
					t.Fatalf("%s(%s): err=%v drop=%v out=%q", d.Action, raw, err, drop, out)
				}
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("%s(%s) = %q: not valid JSON", d.Action, raw, out)
			}
			if n < 0 || n > 0 && d.Action != ActionScan {
				t.Fatalf("%s: findings = %d", d.Action, n)
			}
			if d.Action == ActionTokenize && (typ == TypeString || typ == TypeNumber) {
				back, err := Detokenize(string(out), testKeyring)
				if err != nil || !sameJSON(back, raw) {
					t.Fatalf("tokenize(%s) -> %s -> %s, %v", raw, out, back, err)
				}
			}
		}
	})
}

// sameJSON compares two JSON scalars by value (strings decoded; numbers by
// text, since tokens keep number text exactly).
func sameJSON(a, b []byte) bool {
	if len(a) > 0 && a[0] == '"' {
		var x, y string
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x == y
	}
	return bytes.Equal(a, b)
}

// FuzzTokenizeRoundTrip: any Go string, JSON-encoded, comes back from
// Detokenize as the same string.
func FuzzTokenizeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "alice@example.com", "\x00\xff", "日本", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	tr := newTestTransformer(f)
	d := &Decision{Action: ActionTokenize}
	f.Fuzz(func(t *testing.T, s string) {
		raw, _ := json.Marshal(s)
		out, drop, _, err := tr.Apply(nil, d, raw, TypeString)
		if err != nil || drop {
			t.Fatalf("tokenize: %v", err)
		}
		back, err := Detokenize(string(out), testKeyring)
		if err != nil {
			t.Fatal(err)
		}
		var got, want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(back, &got); err != nil || got != want {
			t.Fatalf("round trip %q -> %q (%v)", s, got, err)
		}
	})
}

func BenchmarkApply(b *testing.B) {
	tr := newTestTransformer(b)
	p := func(p Params) *Params { return &p }
	device := p(Params{HexLen: 32, IfPrefix: map[string]string{"__g": "__", "-g": "-"}})
	cases := []struct {
		name string
		d    Decision
		raw  string
	}{
		{"keep", Decision{Action: ActionKeep}, `"alice@example.com"`},
		{"drop", Decision{Action: ActionDrop}, `"alice@example.com"`},
		{"redact", Decision{Action: ActionRedact}, `"alice@example.com"`},
		{"hash", Decision{Action: ActionHash}, `"alice@example.com"`},
		{"hash_email", Decision{Action: ActionHash, Params: p(Params{Normalize: "email"})}, `"Alice@Example.com"`},
		{"hash_ifprefix", Decision{Action: ActionHash, Params: device}, `"__g0123456789abcdef0123456789abcdef"`},
		{"tokenize", Decision{Action: ActionTokenize}, `"alice@example.com"`},
		{"mask", Decision{Action: ActionMask}, `"4111111111111111"`},
		{"generalize_year", Decision{Action: ActionGeneralize, Params: p(Params{To: ToYear})}, `"$D_632361600"`},
		{"generalize_iso", Decision{Action: ActionGeneralize, Params: p(Params{To: ToMonth})}, `"2024-03-05T10:11:12Z"`},
		{"generalize_decimals", Decision{Action: ActionGeneralize, Params: p(Params{To: ToDecimals, Decimals: 2})}, `37.774929`},
		{"generalize_bucket", Decision{Action: ActionGeneralize, Params: p(Params{To: ToBucket, BucketSize: 10})}, `57`},
		{"generalize_prefix", Decision{Action: ActionGeneralize, Params: p(Params{To: ToPrefix, IPv4Bits: 24, IPv6Bits: 48})}, `"203.0.113.77"`},
		{"scan_short_clean", Decision{Action: ActionScan}, `"` + string(benchShort) + `"`},
		{"scan_200_clean", Decision{Action: ActionScan}, `"` + string(benchClean) + `"`},
		{"scan_200_pii", Decision{Action: ActionScan}, `"` + string(benchPII) + `"`},
		{"scan_number_phone", Decision{Action: ActionScan}, `14155550123`},
		{"scan_number_clean", Decision{Action: ActionScan}, `1700000000`},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.raw)
			typ := typeOf(bc.raw)
			dst := make([]byte, 0, 512)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				dst, _, _, _ = tr.Apply(dst[:0], &bc.d, raw, typ)
			}
		})
	}
}

// TestScanQuickReject: the quick reject of scan gives what the full scan
// gives, for clean words, escapes and values with findings alike.
func TestScanQuickReject(t *testing.T) {
	tr := newTestTransformer(t)
	for _, raw := range []string{`"Google"`, `"en_US"`, `"App Launched"`, `"Pixel 7"`, `"ship to jane@example.com"`,
		`"jane%40example.com"`, `"caf\u00e9"`, `"a\"b"`, `"Forwarded to Mia Fischer in HR."`, `""`, `"call +1 415 555 0123"`,
		`45.73`, `14155550123.0`, `4.155550123E9`, `1.50`, `-0.000`} {
		for _, p := range []*Params{&defaultParams, {Detect: detect.NoText}, {Detect: detect.Default, Findings: map[string]Action{ClassEmail: ActionHash}}} {
			typ := typeOf(raw)
			got, gd, gn, gerr := tr.scan(nil, p, []byte(raw), typ, nil, false)
			want, wd, wn, werr := tr.scanValue(nil, p, []byte(raw), typ, nil)
			if string(got) != string(want) || gd != wd || gn != wn || (gerr == nil) != (werr == nil) {
				t.Errorf("scan(%s) = %s %v %d %v; full scan %s %v %d %v", raw, got, gd, gn, gerr, want, wd, wn, werr)
			}
		}
	}
	for _, tc := range []struct {
		raw  string
		want bool
	}{{"45.73", true}, {"1.50", true}, {"1.00", false}, {"100", false}, {"1.5e3", false}, {"-0.01", true}} {
		if got := fractionNonZero([]byte(tc.raw)); got != tc.want {
			t.Errorf("fractionNonZero(%s) = %v", tc.raw, got)
		}
	}
}
