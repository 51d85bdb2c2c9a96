package rights

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/consentry/consentry/rights/pgtest"
)

// Vendor deletions are kept with the erased subject and in the log, on
// both stores: a later call replaces a vendor's state, show reports it,
// an unsuppress forgets it, and a subject that is not erased has none.
func TestVendorErasuresBothStores(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) *Registry{
		"bolt": func(t *testing.T) *Registry { return openTest(t, t.TempDir()) },
		"postgres": func(t *testing.T) *Registry {
			dsn := pgtest.DSN(t)
			return openPGTest(t, dsn, pgtest.Schema(t, dsn))
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := open(t)
			ref := r.Ref(tenant, b("E"), nil)
			if _, err := r.VendorErasures(ref, "dpo", []VendorErasure{{Vendor: "segment", State: VendorRequested}}); !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("vendor state for a subject that is not erased: %v", err)
			}
			if _, err := r.Erase(ref, "dpo", true); err != nil {
				t.Fatal(err)
			}
			_, err := r.VendorErasures(ref, "dpo", []VendorErasure{
				{Vendor: "segment", State: VendorRequested}, {Vendor: "mixpanel", State: VendorRequested},
			})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := r.VendorErasures(ref, "dpo", []VendorErasure{
				{Vendor: "segment", State: VendorAccepted, HTTPStatus: 200, Job: "reg-1"},
				{Vendor: "mixpanel", State: VendorFailed, HTTPStatus: 503, Reason: "HTTP 503"},
			})
			if err != nil {
				t.Fatal(err)
			}
			got := rep.VendorErasures
			if len(got) != 2 || got[0].Vendor != "mixpanel" || got[0].Status != "failed" || got[0].HTTPStatus != 503 ||
				got[1].Vendor != "segment" || got[1].Status != "accepted" || got[1].Job != "reg-1" || got[1].At.IsZero() {
				t.Fatalf("report: %+v", got)
			}
			if show, err := r.Show(ref, "dpo"); err != nil || !slices.Equal(show.VendorErasures, got) {
				t.Errorf("show: %+v %v", show.VendorErasures, err)
			}
			var log []string
			for e, err := range r.Log(time.Time{}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Action == ActionVendorErase {
					log = append(log, e.Vendor+":"+e.VendorStatus+":"+e.Job+":"+e.Detail+":"+itoa(e.HTTPStatus))
				}
			}
			want := []string{"segment:requested:::0", "mixpanel:requested:::0", "segment:accepted:reg-1::200", "mixpanel:failed::HTTP 503:503"}
			if !slices.Equal(log, want) {
				t.Errorf("log:\n got %q\nwant %q", log, want)
			}
			if rep, err := r.Unsuppress(ref, "dpo"); err != nil || len(rep.VendorErasures) != 0 {
				t.Errorf("after unsuppress: %+v %v", rep.VendorErasures, err)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
