//go:build !race

package rights

import (
	"testing"
	"time"
)

func TestHotPathDoesNotAllocate(t *testing.T) {
	r := openTest(t, t.TempDir())
	id, dev := b("user-1"), b("__g-device-1")
	known := r.Ref(tenant, b("user-2"), b("__g-device-2"))
	if err := r.Link(known); err != nil {
		t.Fatal(err)
	}
	if err := r.OptOut(r.Ref(tenant, id, nil), false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ref := r.Ref(tenant, id, dev)
	knownDev := r.Ref(tenant, nil, b("__g-device-2"))
	if err := r.Learn(knownDev, Signals{}); err != nil {
		t.Fatal(err)
	}
	consent := profilePush(ConsentGranted, ConsentRevoked)
	for _, ref := range []Ref{known, knownDev, known} { // written, then read: cached
		if err := r.Learn(ref, consent); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]func(){
		"Check suppressed":              func() { r.Check(tenant, id, dev) },
		"Check clear":                   func() { r.Check(tenant, b2, nil) },
		"CheckRef":                      func() { r.CheckRef(ref) },
		"Ref":                           func() { r.Ref(tenant, id, dev) },
		"Key":                           func() { r.Key(tenant, KindDevice, dev) },
		"Learn known link":              func() { _ = r.Learn(known, Signals{}) },
		"Learn known device":            func() { _ = r.Learn(knownDev, Signals{}) },
		"Learn repeated consent":        func() { _ = r.Learn(known, consent) },
		"Learn repeated consent device": func() { _ = r.Learn(knownDev, consent) },
		"Drop":                          func() { r.CheckRef(ref).Drop(true) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, n)
		}
	}
}

var b2 = []byte("someone-else")
