package grow

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/consentry/consentry/rights"
)

// A grown directory answers like one grown by traffic: member m's device
// and identity are linked under the keys Consentry computes from the same
// ids, one member in OptOutEvery is suppressed, others are clear, and a
// second call reuses the cache.
func TestGrowLinksMembersUnderConsentryKeys(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	const n, seed = 1000, 3
	dst := filepath.Join(t.TempDir(), "data")
	st, err := Cached(cache, dst, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached || st.Members != n || st.OptOuts != n/OptOutEvery || st.HotSet < st.OptOuts {
		t.Fatalf("stats %+v", st)
	}
	reg, err := rights.Open(dst, RegistryKey())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, m := range []uint64{0, 1, 99, 100, 555, n - 1} {
		ref := reg.Ref(Tenant, []byte(corpus.MemberIdentity(m)), []byte(corpus.MemberDevice(seed, m)))
		rep, err := reg.Show(rights.Ref{Tenant: Tenant, Device: ref.Device, HasDevice: true}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if rep.LinkedIdentities == nil || *rep.LinkedIdentities != 1 {
			t.Errorf("member %d: device report %+v, want one linked identity", m, rep)
		}
		// The device alone (an event without identity) is judged by its
		// session identity: suppressed exactly for the opted-out members.
		dev := rights.Ref{Tenant: Tenant, Device: ref.Device, HasDevice: true}
		if got, want := reg.CheckRef(dev).Drop(false), m%OptOutEvery == 0; got != want {
			t.Errorf("member %d: device dropped %v, want %v", m, got, want)
		}
	}
	// The rights log survived compaction: one opt-out entry per opted-out
	// member.
	optOuts := 0
	for e, err := range reg.Log(time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == rights.ActionOptOut {
			optOuts++
		}
	}
	if optOuts != n/OptOutEvery {
		t.Errorf("rights log holds %d opt-outs, want %d", optOuts, n/OptOutEvery)
	}
	other := reg.Ref(Tenant, nil, []byte(corpus.FreshDevice(seed, 1)))
	if reg.CheckRef(other).Drop(false) {
		t.Error("a fresh device is suppressed")
	}
	if _, err := os.Stat(filepath.Join(dst, "keys", "rights.key")); err != nil {
		t.Fatal(err)
	}
	again, err := Cached(cache, filepath.Join(t.TempDir(), "data"), n, seed)
	if err != nil || !again.Cached {
		t.Fatalf("second call: cached %v, %v", again.Cached, err)
	}
}
