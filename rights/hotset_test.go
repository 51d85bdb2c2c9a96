package rights

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// tableKey builds key number i of a small universe whose probe homes
// collide a lot (only a few distinct values in bytes 7-14), so that probe
// runs are long and wrap around the table end.
func tableKey(i byte) Key {
	var k Key
	k[0], k[1] = i, i%3 // few distinct tags (0 and 1 share tag 1)
	k[8] = 0xfe + i%5   // few homes, around the end and the start of the table
	return k
}

// applyOps runs ops (pairs of key number, flags) on a hotTable and on a
// map, and checks they agree after every op.
func applyOps(t *testing.T, ops []byte) {
	t.Helper()
	var tab hotTable
	model := map[Key]Flags{}
	for p := 0; p+1 < len(ops); p += 2 {
		k, f := tableKey(ops[p]%64), Flags(ops[p+1]%4) // 0 deletes
		tab.set(&k, f)
		if f == 0 {
			delete(model, k)
		} else {
			model[k] = f
		}
		if tab.n != len(model) {
			t.Fatalf("op %d: n = %d, model has %d", p/2, tab.n, len(model))
		}
		for i := range 64 {
			k := tableKey(byte(i))
			if got, want := tab.get(&k), model[k]; got != want {
				t.Fatalf("op %d: get(key %d) = %d, want %d", p/2, i, got, want)
			}
		}
	}
}

func TestHotTableMatchesMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		ops := make([]byte, 2*rng.IntN(300))
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		applyOps(t, ops)
	}
}

func FuzzHotTable(f *testing.F) {
	f.Add([]byte{1, 1, 2, 2, 1, 0, 3, 3, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) { applyOps(t, ops) })
}

func TestHotShardIsCacheLineSized(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(hotShard{}); n != 128 {
		t.Errorf("hotShard is %d bytes, want 128 (two cache lines)", n)
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	t.Parallel()
	for d := ReasonNone; d <= maxReason; d++ {
		for v := ReasonNone; v <= maxReason; v++ {
			for _, da := range []bool{false, true} {
				for _, va := range []bool{false, true} {
					f := makeFlags(d, da, v, va)
					gd, gda := f.direct()
					gv, gva := f.via()
					if gd != d || gv != v || gda != (da && d != ReasonNone) || gva != (va && v != ReasonNone) {
						t.Errorf("makeFlags(%v,%v,%v,%v) round trip = %v,%v,%v,%v", d, da, v, va, gd, gda, gv, gva)
					}
					if f.suppressing() != (d != ReasonNone || v != ReasonNone) {
						t.Errorf("suppressing(%08b) wrong", f)
					}
				}
			}
		}
	}
}

func TestFlagsFromFormat1(t *testing.T) {
	t.Parallel()
	// Format 1: bits 0-1 direct reason, 2 direct allow, 3-4 via reason, 5 via allow.
	for _, tt := range []struct {
		old  byte
		want Flags
	}{
		{0b000001, makeFlags(ReasonOptOut, false, ReasonNone, false)},
		{0b000101, makeFlags(ReasonOptOut, true, ReasonNone, false)},
		{0b000010, makeFlags(ReasonErasure, false, ReasonNone, false)},
		{0b011000, makeFlags(ReasonNone, false, ReasonAdmin, false)},
		{0b101011, makeFlags(ReasonAdmin, false, ReasonOptOut, true)},
	} {
		if got := flagsFromFormat1(tt.old); got != tt.want {
			t.Errorf("flagsFromFormat1(%06b) = %08b, want %08b", tt.old, got, tt.want)
		}
	}
}
