package rights

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/rights/pgtest"
)

// Instances that share a registry claim a vendor call in the store before
// making it: a live claim of another instance makes the vendor busy (not
// called), an accepted vendor is done, an expired claim or a requested
// state without a claim (the process stopped during the call) is taken
// over, and recording the answer lifts the claim. Of two instances that
// claim one vendor at once, exactly one gets it. Before, the lock was per
// process and a requested state counted as retryable, so two instances
// both called the vendor.
func TestClaimVendorsBothStores(t *testing.T) {
	t.Parallel()
	live := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)    // after every test clock reading
	expired := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // before
	stores := map[string]func(t *testing.T) (a, b *Registry){
		"bolt": func(t *testing.T) (*Registry, *Registry) {
			r := openTest(t, t.TempDir())
			return r, r
		},
		"postgres": func(t *testing.T) (*Registry, *Registry) {
			dsn := pgtest.DSN(t)
			schema := pgtest.Schema(t, dsn)
			return openPGTest(t, dsn, schema), openPGTest(t, dsn, schema)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			ref := a.Ref(tenant, []byte("C"), nil)
			if _, _, err := a.ClaimVendors(ref, "ops", "i-a", live, []string{"segment"}, nil); err == nil {
				t.Fatal("claimed a vendor for a subject that is not erased")
			}
			if _, err := a.Erase(ref, "ops", true); err != nil {
				t.Fatal(err)
			}
			claim := func(r *Registry, owner string, until time.Time, calls []string, decided ...VendorErasure) Claim {
				t.Helper()
				c, _, err := r.ClaimVendors(ref, "ops", owner, until, calls, decided)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			same := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s: %q, want %q", what, got, want)
				}
			}
			c := claim(a, "i-a", live, []string{"segment", "mixpanel"}, VendorErasure{Vendor: "posthog", State: VendorSkipped, Reason: "nothing to delete"})
			same("a claims", c.Claimed, []string{"segment", "mixpanel"})
			rep, _ := b.Peek(ref)
			if len(rep.VendorErasures) != 3 || rep.VendorErasures[2].Vendor != "segment" || rep.VendorErasures[2].Status != "requested" ||
				rep.VendorErasures[2].Instance != "i-a" || rep.VendorErasures[2].ClaimedUntil == nil || !rep.VendorErasures[2].ClaimedUntil.Equal(live) {
				t.Fatalf("claim not visible to b: %+v", rep.VendorErasures)
			}
			c = claim(b, "i-b", live, []string{"segment", "mixpanel"}, VendorErasure{Vendor: "segment", State: VendorSkipped})
			same("b while a's claims are live: claimed", c.Claimed, nil)
			same("b while a's claims are live: busy", c.Busy, []string{"segment", "mixpanel"})
			if _, err := a.VendorErasures(ref, "ops", []VendorErasure{{Vendor: "segment", State: VendorAccepted, Job: "reg-1", HTTPStatus: 200}}); err != nil {
				t.Fatal(err)
			}
			c = claim(b, "i-b", live, []string{"segment"})
			same("b after a's answer: done", c.Done, []string{"segment"})
			same("b after a's answer: claimed", c.Claimed, nil)
			rep, _ = b.Peek(ref)
			if i := slices.IndexFunc(rep.VendorErasures, func(v VendorReport) bool { return v.Vendor == "segment" }); rep.VendorErasures[i].Instance != "" || rep.VendorErasures[i].ClaimedUntil != nil {
				t.Errorf("the answer did not lift the claim: %+v", rep.VendorErasures[i])
			}
			// a stops during the mixpanel call: its claim expires.
			claim(a, "i-a", expired, []string{"amplitude"})
			same("b takes an expired claim over", claim(b, "i-b", live, []string{"amplitude"}).Claimed, []string{"amplitude"})
			if _, err := a.VendorErasures(ref, "ops", []VendorErasure{{Vendor: "rudderstack", State: VendorRequested}}); err != nil {
				t.Fatal(err)
			}
			same("a requested state without a claim is retryable", claim(b, "i-b", live, []string{"rudderstack"}).Claimed, []string{"rudderstack"})

			// Two instances claim one vendor at once: one wins.
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				won []string
			)
			for _, in := range []struct {
				r     *Registry
				owner string
			}{{a, "i-a"}, {b, "i-b"}} {
				wg.Go(func() {
					c, _, err := in.r.ClaimVendors(ref, "ops", in.owner, live, []string{"clevertap"}, nil)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					won = append(won, c.Claimed...)
					mu.Unlock()
				})
			}
			wg.Wait()
			if len(won) != 1 {
				t.Errorf("concurrent claims of one vendor: %d won, want 1", len(won))
			}
		})
	}
}
