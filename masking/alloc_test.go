//go:build !race

package masking

import (
	"strings"
	"testing"
)

// TestAllocs pins the zero-allocation promise of the hot path: every action
// but tokenize, and scan of values without findings, allocate nothing once
// the Transformer's pool is warm and dst has room.
func TestAllocs(t *testing.T) {
	tr := newTestTransformer(t)
	p := func(p Params) *Params { return &p }
	cases := []struct {
		name string
		d    Decision
		raw  string
	}{
		{"keep", Decision{Action: ActionKeep}, `"alice@example.com"`},
		{"drop", Decision{Action: ActionDrop}, `"alice@example.com"`},
		{"redact string", Decision{Action: ActionRedact}, `"alice@example.com"`},
		{"redact number", Decision{Action: ActionRedact}, `14155550123`},
		{"hash", Decision{Action: ActionHash}, `"alice@example.com"`},
		{"hash escaped", Decision{Action: ActionHash, Params: p(Params{Normalize: "email"})}, `"Alice\u0040Example.com"`},
		{"hash phone number", Decision{Action: ActionHash, Params: p(Params{Normalize: "phone"})}, `14155550123`},
		{"hash ifprefix", Decision{Action: ActionHash, Params: p(Params{HexLen: 32, IfPrefix: map[string]string{"__g": "__", "-g": "-"}})}, `"__g0123456789abcdef0123456789abcdef"`},
		{"hash ifprefix miss", Decision{Action: ActionHash, Params: p(Params{HexLen: 32, IfPrefix: map[string]string{"__g": "__", "-g": "-"}})}, `"__0123456789abcdef0123456789abcdef"`},
		{"tokenize", Decision{Action: ActionTokenize}, `"alice@example.com"`},
		{"mask", Decision{Action: ActionMask}, `"4111111111111111"`},
		{"mask escaped", Decision{Action: ActionMask}, `"4111\n111111111111"`},
		{"generalize ct date", Decision{Action: ActionGeneralize, Params: p(Params{To: ToYear})}, `"$D_632361600"`},
		{"generalize iso", Decision{Action: ActionGeneralize, Params: p(Params{To: ToMonth})}, `"2024-03-05T10:11:12+01:00"`},
		{"generalize epoch number", Decision{Action: ActionGeneralize, Params: p(Params{To: ToYear})}, `1709633472`},
		{"generalize decimals", Decision{Action: ActionGeneralize, Params: p(Params{To: ToDecimals, Decimals: 2})}, `37.774929`},
		{"generalize decimals exp", Decision{Action: ActionGeneralize, Params: p(Params{To: ToDecimals, Decimals: 2})}, `3.7774929e1`},
		{"generalize bucket", Decision{Action: ActionGeneralize, Params: p(Params{To: ToBucket, BucketSize: 10})}, `57`},
		{"generalize ipv4", Decision{Action: ActionGeneralize, Params: p(Params{To: ToPrefix})}, `"203.0.113.77"`},
		{"generalize ipv6", Decision{Action: ActionGeneralize, Params: p(Params{To: ToPrefix})}, `"2001:db8:1234:5678::1"`},
		{"generalize wrong shape", Decision{Action: ActionGeneralize, Params: p(Params{To: ToPrefix})}, `"not an ip"`},
		{"scan clean short", Decision{Action: ActionScan}, `"` + string(benchShort) + `"`},
		{"scan clean 200", Decision{Action: ActionScan}, `"` + string(benchClean) + `"`},
		{"scan clean escaped", Decision{Action: ActionScan}, `"line\none \"two\""`},
		{"scan clean number", Decision{Action: ActionScan}, `1700000000`},
		{"scan pii 200", Decision{Action: ActionScan}, `"` + string(benchPII) + `"`},
		{"scan phone number", Decision{Action: ActionScan}, `14155550123`},
	}
	for _, tc := range cases {
		raw := []byte(tc.raw)
		typ := typeOf(tc.raw)
		dst := make([]byte, 0, 1024)
		var err error
		allocs := testing.AllocsPerRun(200, func() {
			dst, _, _, err = tr.Apply(dst[:0], &tc.d, raw, typ)
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if allocs != 0 {
			t.Errorf("%s: %.1f allocs per call, want 0", tc.name, allocs)
		}
	}
}

func TestDetectAllocs(t *testing.T) {
	dst := make([]Finding, 0, 16)
	for _, in := range [][]byte{benchClean, benchPII, benchShort} {
		if a := testing.AllocsPerRun(200, func() { dst = Detect(dst[:0], in) }); a != 0 {
			t.Errorf("Detect(%.20q...): %.1f allocs, want 0", in, a)
		}
	}
}

// TestMemoAllocs: a remembered result costs no allocation.
func TestMemoAllocs(t *testing.T) {
	m := testMemo(t, 1<<20)
	tr := newMemoTransformer(t, Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, m)
	for _, tc := range memoCases[:5] {
		raw := []byte(tc.raw)
		dst := make([]byte, 0, 256)
		dst, _, _, _ = tr.Apply(dst[:0], &tc.d, raw, typeOf(tc.raw))
		m.c.Wait()
		if n := testing.AllocsPerRun(100, func() { dst, _, _, _ = tr.Apply(dst[:0], &tc.d, raw, typeOf(tc.raw)) }); n != 0 {
			t.Errorf("%s: %v allocations per call", tc.name, n)
		}
	}
}

// TestMemberKeysNoAlloc: walking an object's members allocates nothing
// for plain keys, and escaped keys come decoded.
func TestMemberKeysNoAlloc(t *testing.T) {
	plain := []byte(`{"d":[1,2],"type":"event","x":{"y":1}}`)
	fn := func(key []byte, start int) (int, error) {
		end, _, err := SkipValue(plain, start)
		return end, err
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ForEachMember(plain, fn); err != nil {
			t.Fatal(err)
		}
		if err := EachMember(plain, func(key []byte, start, end int, _ ValueType) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per walk", n)
	}
	esc := []byte(`{"t\u0079pe":1,"a\"b":2,"":3}`)
	var keys []string
	if err := EachMember(esc, func(key []byte, start, end int, _ ValueType) error {
		keys = append(keys, string(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, "|"); got != `type|a"b|` {
		t.Errorf("keys %q", got)
	}
}
