package masking

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// memoCases are the keyed transforms a memo serves: hash and tokenize of
// fields, and hash and tokenize of findings inside scanned text.
var memoCases = []struct {
	name string
	d    Decision
	raw  string
}{
	{"hash", Decision{Action: ActionHash}, `"alice@example.com"`},
	{"hash email", Decision{Action: ActionHash, Params: &Params{Normalize: "email"}}, `"Alice@Example.com "`},
	{"hash number", Decision{Action: ActionHash}, `14155550123`},
	{"hash escaped", Decision{Action: ActionHash}, `"al\u0069ce@example.com"`},
	{"tokenize", Decision{Action: ActionTokenize}, `"alice@example.com"`},
	{"tokenize escaped", Decision{Action: ActionTokenize}, `"al\u0069ce@example.com"`},
	{"tokenize number", Decision{Action: ActionTokenize}, `14155550123`},
	{"scan hash finding", Decision{Action: ActionScan, Params: &Params{Findings: map[string]Action{ClassEmail: ActionHash}}}, `"write to bob@example.org today"`},
	{"scan tokenize finding", Decision{Action: ActionScan, Params: &Params{Findings: map[string]Action{ClassEmail: ActionTokenize, ClassPhone: ActionTokenize}}}, `"bob@example.org or +1 415 555 0123"`},
	{"scan hash number", Decision{Action: ActionScan, Params: &Params{Findings: map[string]Action{ClassPhone: ActionHash}}}, `14155550123`},
}

func newMemoTransformer(t testing.TB, k Keys, m *Memo) *Transformer {
	t.Helper()
	tr, err := NewTransformer(k, WithMemo(m))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func testMemo(t testing.TB, maxBytes int64) *Memo {
	t.Helper()
	m, err := newMemo(maxBytes, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func applyString(t testing.TB, tr *Transformer, d *Decision, raw string) string {
	t.Helper()
	out, drop, _, err := tr.Apply(nil, d, []byte(raw), typeOf(raw))
	if err != nil || drop {
		t.Fatalf("Apply(%s) = drop %v, %v", raw, drop, err)
	}
	return string(out)
}

// TestMemoSameResults: a remembered result is the one the transform
// computes, on the first call (miss) and on later ones (hits).
func TestMemoSameResults(t *testing.T) {
	plain := newTestTransformer(t)
	m := testMemo(t, 1<<20)
	tr := newMemoTransformer(t, Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, m)
	for _, tc := range memoCases {
		t.Run(tc.name, func(t *testing.T) {
			want := applyString(t, plain, &tc.d, tc.raw)
			for i := range 3 {
				if got := applyString(t, tr, &tc.d, tc.raw); got != want {
					t.Fatalf("call %d: %s, want %s", i, got, want)
				}
				m.c.Wait()
			}
		})
	}
	if mt := m.c.Metrics; mt.Hits() == 0 {
		t.Errorf("no hits: %s", mt)
	}
}

// TestMemoNoRawValues: entries hold digests and token bodies, never the
// value or a piece of it; the keys are 16-byte hashes.
func TestMemoNoRawValues(t *testing.T) {
	m := testMemo(t, 1<<20)
	tr := newMemoTransformer(t, Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, m)
	values := []string{"alice@example.com", "14155550123", "user-42", "bob@example.org"}
	found := 0
	for _, v := range values {
		for _, d := range []Decision{{Action: ActionHash}, {Action: ActionTokenize}} {
			raw := `"` + v + `"`
			applyString(t, tr, &d, raw)
			m.c.Wait()
			sc := tr.get()
			for _, op := range []memoOp{memoHMAC, memoToken} {
				in := []byte(v)
				if op == memoToken {
					in = []byte(raw)
				}
				k := tr.memoKey(sc, op, in)
				if len(k) != 16 || bytes.Contains([]byte(k), []byte(v[:4])) {
					t.Errorf("key %q for %s", k, v)
				}
				e, ok := m.c.Get(k)
				if !ok {
					continue
				}
				found++
				if bytes.Contains(e.out, []byte(v)) || bytes.Contains(e.out, []byte(v[:5])) {
					t.Errorf("entry %q holds the value %s", e.out, v)
				}
				if op == memoHMAC && len(e.out) != 32 {
					t.Errorf("HMAC entry has %d bytes", len(e.out))
				}
			}
			tr.put(sc)
		}
	}
	if found < len(values) {
		t.Errorf("%d entries found, want at least %d", found, len(values))
	}
}

// TestMemoTenantsApart: two tenants (and a tenant after a key rotation)
// sharing one memo never read each other's results. Each Transformer's
// seeds already hash a value to different keys, so the other Transformers
// here are given the first one's seeds: every lookup then finds the first
// tenant's entry under the same key, and only the owner check keeps it
// apart.
func TestMemoTenantsApart(t *testing.T) {
	m := testMemo(t, 1<<20)
	k1 := Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}
	k2 := Keys{HMACKey: bytes.Repeat([]byte{0x42}, 32), TokenKey: bytes.Repeat([]byte{0x43}, 64), TokenKeyID: "k2"}
	k3 := Keys{HMACKey: bytes.Repeat([]byte{0x44}, 32), TokenKey: bytes.Repeat([]byte{0x45}, 64), TokenKeyID: "k3"}
	a := newMemoTransformer(t, k1, m)
	others := []struct {
		name string
		keys Keys
	}{
		{"another tenant", k2},
		{"rotated", k3}, // tenant a after rotating to new keys
	}
	// Two Transformers never derive the same memo key by themselves.
	sa := a.get()
	defer a.put(sa)
	if fresh := newMemoTransformer(t, k1, m); a.memoKey(sa, memoHMAC, []byte("x")) == fresh.memoKey(fresh.get(), memoHMAC, []byte("x")) {
		t.Error("two transformers derive the same memo key")
	}
	for _, o := range others {
		other := newMemoTransformer(t, o.keys, m)
		other.memoSeeds = a.memoSeeds // the same memo keys as a: a test hook
		plain, err := NewTransformer(o.keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range memoCases {
			t.Run(o.name+"/"+tc.name, func(t *testing.T) {
				ra := applyString(t, a, &tc.d, tc.raw)
				m.Wait()
				want := applyString(t, plain, &tc.d, tc.raw)
				if got := applyString(t, other, &tc.d, tc.raw); got != want || got == ra {
					t.Fatalf("other keys: %s, want %s (first tenant: %s)", got, want, ra)
				}
				m.Wait()
				if got := applyString(t, a, &tc.d, tc.raw); got != ra {
					t.Fatalf("first tenant again: %s, want %s", got, ra)
				}
			})
		}
	}
}

// TestMemoBounded: many distinct values never make the memo hold more
// than its budget.
func TestMemoBounded(t *testing.T) {
	const budget = 64 << 10
	m := testMemo(t, budget)
	tr := newMemoTransformer(t, Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, m)
	d := Decision{Action: ActionTokenize}
	for i := range 5000 {
		applyString(t, tr, &d, fmt.Sprintf(`"user-%d@example.com"`, i))
	}
	m.c.Wait()
	mt := m.c.Metrics
	if held := int64(mt.CostAdded() - mt.CostEvicted()); held > budget || held <= 0 {
		t.Fatalf("memo holds %d bytes, budget %d", held, budget)
	}
	if mt.KeysEvicted() == 0 && mt.SetsRejected() == 0 {
		t.Errorf("5000 tokens fit a 64 KiB memo: %s", mt)
	}
	if _, err := NewMemo(0); err == nil {
		t.Error("NewMemo(0) accepted")
	}
}

func BenchmarkApplyMemo(b *testing.B) {
	m, err := NewMemo(16 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	plain := newTestTransformer(b)
	memo := newMemoTransformer(b, Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}, m)
	for _, bc := range memoCases[:5] {
		for _, v := range []struct {
			name string
			tr   *Transformer
		}{{"plain", plain}, {"memo", memo}} {
			b.Run(bc.name+"/"+v.name, func(b *testing.B) {
				raw := []byte(bc.raw)
				dst := make([]byte, 0, 512)
				b.ReportAllocs()
				for b.Loop() {
					dst, _, _, _ = v.tr.Apply(dst[:0], &bc.d, raw, typeOf(bc.raw))
				}
			})
		}
	}
}

// TestMemoCloseDuringTraffic: closing the memo while transforms run (a
// shutdown whose grace period ran out) neither panics nor changes a
// result; a closed memo misses and remembers nothing.
func TestMemoCloseDuringTraffic(t *testing.T) {
	m, err := NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys{HMACKey: testHMACKey, TokenKey: testTokenKey, TokenKeyID: "k1"}
	tr := newMemoTransformer(t, keys, m)
	plain := newTestTransformer(t)
	d := Decision{Action: ActionTokenize}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range 3000 {
				raw := []byte(fmt.Sprintf(`"u%d-%d"`, g, i%50))
				got, _, _, err := tr.Apply(nil, &d, raw, TypeString)
				want, _, _, _ := plain.Apply(nil, &d, raw, TypeString)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("Apply(%s) = %s, %v; want %s", raw, got, err, want)
					return
				}
			}
		}()
	}
	close(start)
	m.Close()
	m.Close() // twice is fine
	wg.Wait()
	m.Wait()
	k := string(bytes.Repeat([]byte{1}, 16))
	m.set(k, &memoEntry{owner: tr.id, op: memoToken, out: []byte("x")})
	if _, ok := m.get(k); ok {
		t.Error("a closed memo remembered an entry")
	}
}
