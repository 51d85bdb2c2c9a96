package rights

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/consentry/consentry/rights/pgtest"
)

// fleet opens n registries ("instances") on one PostgreSQL schema.
func fleet(t *testing.T, n int, opts ...Option) []*Registry {
	t.Helper()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	regs := make([]*Registry, n)
	for i := range regs {
		regs[i] = openPGTest(t, dsn, schema, opts...)
	}
	return regs
}

// eventually waits until cond holds, at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// An opt-out, an admin suppression and an erasure on one instance are in
// force on the others; a lift too.
func TestFleetPropagation(t *testing.T) {
	t.Parallel()
	regs := fleet(t, 3)
	a, c := regs[0], regs[2]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Link(a.Ref(tenant, b("P"), b("p1"))))
	must(c.Link(c.Ref(tenant, b("P"), b("p2"))))
	var lat []time.Duration
	for i := range 20 {
		id := fmt.Sprintf("subject-%d", i)
		ref := a.Ref(tenant, b(id), nil)
		must(a.OptOut(ref, false, time.Time{}))
		for _, r := range regs[1:] {
			lat = append(lat, eventually(t, time.Second, "opt-out on instance 1 seen by the others", func() bool {
				return r.CheckRef(ref).Status == StatusSuppressed
			}))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("propagation over %d lookups: p50 %v, p99 %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	// An erasure on instance 3 of a person known on instance 1's devices.
	if _, err := c.Erase(c.Ref(tenant, b("P"), nil), "dpo", true); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"p1", "p2"} {
		eventually(t, time.Second, "erasure through a linked device", func() bool {
			v := a.Check(tenant, nil, b(dev))
			return v.Status == StatusSuppressed && v.Reason == ReasonAdminErasure
		})
	}
	// A lift travels too.
	if _, err := a.Unsuppress(a.Ref(tenant, b("P"), nil), "dpo"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "unsuppress seen on instance 3", func() bool {
		return c.Check(tenant, nil, b("p1")).Status == StatusClear
	})
}

// Concurrent writers on different instances for the same subject lose no
// update: every channel's consent set by either instance is in the final
// record, and a device linked while its identity opts out is suppressed
// through it.
func TestFleetConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	regs := fleet(t, 2)
	ref := regs[0].Ref(tenant, b("shared-person"), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for ch := range NumChannels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := regs[int(ch)%2]
			errs <- r.Marketing(ref, ch, ConsentGranted, time.Time{})
		}()
	}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := regs[i%2]
			errs <- r.Link(r.Ref(tenant, b("shared-person"), b(fmt.Sprintf("dev-%d", i))))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- regs[1].OptOut(ref, false, time.Time{})
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, err := regs[0].report(tenant, ref.Identity, KindIdentity)
	if err != nil {
		t.Fatal(err)
	}
	for ch := range NumChannels {
		if got := rec.Consent[ch.String()].State; got != "granted" {
			t.Errorf("channel %s: %s, want granted (a concurrent write lost it)", ch, got)
		}
	}
	if *rec.LinkedDevices != 12 {
		t.Errorf("%d linked devices, want 12", *rec.LinkedDevices)
	}
	for _, r := range regs {
		for i := range 12 {
			dev := fmt.Sprintf("dev-%d", i)
			eventually(t, 2*time.Second, "device linked during the opt-out is suppressed via its identity", func() bool {
				return r.Check(tenant, nil, b(dev)).Status == StatusSuppressed
			})
		}
	}
	if st := regs[0].store.(*PGStore).Stats().SerializationRetries + regs[1].store.(*PGStore).Stats().SerializationRetries; st == 0 {
		t.Log("no serialization retry happened in this run (the race was not hit)")
	}
}

func TestFleetRefusesAnotherKey(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	openPGTest(t, dsn, schema)
	st, err := OpenPG(context.Background(), dsn, WithPGSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := New(st, []byte("another-registry-key-0123456789")); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("New with another key: %v, want ErrKeyMismatch", err)
	}
	// Tenant keys are bound the same way.
	r := openPGTest(t, dsn, schema)
	if err := r.BindKey("tenant/acme/hmac", []byte("hmac-key-one-0123456789abcdef012")); err != nil {
		t.Fatal(err)
	}
	if err := r.BindKey("tenant/acme/hmac", []byte("hmac-key-one-0123456789abcdef012")); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
	if err := r.BindKey("tenant/acme/hmac", []byte("hmac-key-two-0123456789abcdef012")); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("another tenant key: %v, want ErrKeyMismatch", err)
	}
}

func TestPGRefusesNewerSchemaAndBadDSN(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	openPGTest(t, dsn, schema)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO "+schema+".schema_version (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPG(context.Background(), dsn, WithPGSchema(schema)); !errors.Is(err, ErrSchemaNewer) {
		t.Fatalf("OpenPG on a newer schema: %v, want ErrSchemaNewer", err)
	}
	for _, bad := range []string{"postgres://secretuser:hunter2@127.0.0.1:1/x?connect_timeout=1", "not a dsn ::: %%"} {
		_, err := OpenPG(context.Background(), bad, WithPGTimeout(time.Second))
		if err == nil {
			t.Fatalf("OpenPG(%q): no error", bad)
		}
		for _, secret := range []string{"hunter2", "secretuser"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the DSN: %v", err)
			}
		}
	}
}

// Two instances starting together on an empty database migrate it once.
func TestPGConcurrentStartMigratesOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := OpenPG(context.Background(), dsn, WithPGSchema(schema))
			if err == nil {
				st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// An instance whose position fell behind the pruned feed reloads
// everything and still sees every suppression.
func TestFleetTruncatedFeedReloads(t *testing.T) {
	t.Parallel()
	regs := fleet(t, 2, WithPollInterval(time.Hour)) // polls only when woken
	a, bReg := regs[0], regs[1]
	// Stop b's follower from hearing: close its store's wake-ups by
	// pruning faster than it polls.
	for i := range 5 {
		if err := a.OptOut(a.Ref(tenant, b(fmt.Sprintf("early-%d", i)), nil), false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	st := a.store.(*PGStore)
	bFollow := bReg.follow
	bFollow.mu.Lock() // b cannot apply while we prune
	if _, err := st.Prune(context.Background(), 0); err != nil {
		bFollow.mu.Unlock()
		t.Fatal(err)
	}
	if err := a.OptOut(a.Ref(tenant, b("late"), nil), false, time.Time{}); err != nil {
		bFollow.mu.Unlock()
		t.Fatal(err)
	}
	if _, err := st.Prune(context.Background(), 0); err != nil {
		bFollow.mu.Unlock()
		t.Fatal(err)
	}
	bFollow.cursor.Store(0) // as if b had been away since the start
	bFollow.mu.Unlock()
	bReg.poll(false)
	if bReg.FollowStats().Reloads.Load() == 0 {
		t.Error("no reload after the feed was truncated")
	}
	for _, id := range []string{"early-0", "early-4", "late"} {
		if v := bReg.Check(tenant, b(id), nil); v.Status != StatusSuppressed {
			t.Errorf("%s after reload: %+v", id, v)
		}
	}
}

// The database goes away: after max_staleness the instance fails closed;
// when it returns the instance recovers by itself, and an opt-out made on
// another instance during the outage is in force.
func TestFleetOutageFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	relay, viaRelay := pgtest.NewRelay(t, dsn)
	cut := openPGTest(t, viaRelay, schema, WithMaxStaleness(300*time.Millisecond))
	other := openPGTest(t, dsn, schema)
	ref := other.Ref(tenant, b("during-outage"), nil)
	if !cut.Healthy() {
		t.Fatal("not healthy at start")
	}
	relay.Cut()
	took := eventually(t, 5*time.Second, "fail closed after max_staleness", func() bool { return !cut.Healthy() })
	t.Logf("failed closed %v after the cut (max_staleness 300ms)", took)
	if v := cut.CheckRef(ref); v.Status != StatusUnknown || !v.Drop(true) {
		t.Errorf("lookup while stale: %+v, want unknown (drop)", v)
	}
	if err := other.OptOut(ref, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	relay.Restore()
	eventually(t, 10*time.Second, "recover without restart", cut.Healthy)
	if v := cut.CheckRef(ref); v.Status != StatusSuppressed {
		t.Errorf("opt-out made during the outage: %+v, want suppressed", v)
	}
}

// A single node's embedded registry grows into a fleet: Migrate merges it
// into PostgreSQL while an instance is already serving there (review
// finding: state PostgreSQL held must not hide a stronger suppression, and
// devices whose identity's state changed must be recomputed); a second run
// changes nothing.
func TestMigrateBoltToPostgres(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	single := openTest(t, dir)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(single.Link(single.Ref(tenant, b("A"), b("a1"))))
	must(single.OptOut(single.Ref(tenant, b("A"), nil), true, time.Time{}))
	must(single.OptOut(single.Ref(tenant, nil, b("anon")), false, time.Time{}))
	if _, err := single.Erase(single.Ref(tenant, b("E"), nil), "dpo", true); err != nil {
		t.Fatal(err)
	}
	must(single.Marketing(single.Ref(tenant, b("C"), nil), ChannelEmail, ConsentGranted, time.Time{}))
	single.Close()

	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	running := openPGTest(t, dsn, schema) // an instance already serving
	// The fleet already knows E (a consent flag only) and d1's user A.
	must(running.Marketing(running.Ref(tenant, b("E"), nil), ChannelSMS, ConsentGranted, time.Time{}))
	must(running.Link(running.Ref(tenant, b("A"), b("d1"))))

	migrate := func() MigrateStats {
		t.Helper()
		src, err := OpenBoltReadOnly(dir)
		must(err)
		defer src.Close()
		dst := openPGTest(t, dsn, schema)
		st, err := Migrate(context.Background(), src, dst)
		must(err)
		return st
	}
	first := migrate()
	if first.Merged == 0 || first.Links != 1 || first.Log == 0 {
		t.Fatalf("first run: %+v", first)
	}
	checks := func(r *Registry, where string) {
		t.Helper()
		for _, c := range []struct {
			id, dev string
			want    Reason
		}{
			{"A", "", ReasonOptOut}, {"", "a1", ReasonOptOut}, {"", "d1", ReasonOptOut}, {"", "anon", ReasonOptOut},
			{"E", "", ReasonAdminErasure}, {"C", "", ReasonNone},
		} {
			var v Verdict
			eventually(t, 2*time.Second, where+" "+c.id+"/"+c.dev, func() bool {
				v = r.Check(tenant, b(c.id), b(c.dev))
				return v.Reason == c.want && (c.want != ReasonNone) == (v.Status == StatusSuppressed)
			})
		}
	}
	checks(running, "running instance")
	checks(openPGTest(t, dsn, schema), "new instance")
	if c, err := running.Consent(running.Ref(tenant, b("C"), nil), ChannelEmail); err != nil || c != ConsentGranted {
		t.Errorf("consent after migration: %v %v", c, err)
	}
	second := migrate()
	if second.Merged != 0 || second.Links != 0 || second.Log != 0 {
		t.Errorf("second run: %+v, want nothing merged again (first %+v)", second, first)
	}
	// Another key is refused.
	src, err := OpenBoltReadOnly(dir)
	must(err)
	defer src.Close()
	st, err := OpenPG(context.Background(), dsn, WithPGSchema(pgtest.Schema(t, dsn)))
	must(err)
	other, err := New(st, []byte("not-the-key-of-this-registry-000"))
	must(err)
	defer other.Close()
	if _, err := Migrate(context.Background(), src, other); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Migrate with another key: %v, want ErrKeyMismatch", err)
	}
	if _, err := OpenBoltReadOnly(t.TempDir()); err == nil {
		t.Error("a directory without rights.db opened as a migration source")
	}
}

// A migration run again after the fleet lifted an erasure it had brought
// over (an admin unsuppress in PostgreSQL) neither erases the subject again
// nor restores the vendor states of the lifted erasure: the target is
// newer. Before, the second run re-erased the subject and brought back
// segment "accepted", so a later erasure skipped Segment.
func TestMigrateAgainAfterUnsuppress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	single := openTest(t, dir)
	ref := single.Ref(tenant, b("E"), nil)
	if _, err := single.Erase(ref, "dpo", true); err != nil {
		t.Fatal(err)
	}
	if _, err := single.VendorErasures(ref, "dpo", []VendorErasure{{Vendor: "segment", State: VendorAccepted, Job: "reg-old", HTTPStatus: 200}}); err != nil {
		t.Fatal(err)
	}
	single.Close()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	later := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // the fleet runs after the single node
	migrate := func() {
		t.Helper()
		src, err := OpenBoltReadOnly(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if _, err := Migrate(context.Background(), src, openPGTest(t, dsn, schema, WithClock(func() time.Time { return later }))); err != nil {
			t.Fatal(err)
		}
	}
	migrate()
	fleet := openPGTest(t, dsn, schema, WithClock(func() time.Time { return later }))
	if rep, err := fleet.Peek(ref); err != nil || rep.Reason != "admin-erasure" || len(rep.VendorErasures) != 1 {
		t.Fatalf("after the first run: %+v %v", rep, err)
	}
	later = later.Add(time.Hour)
	if _, err := fleet.Unsuppress(ref, "dpo"); err != nil {
		t.Fatal(err)
	}
	migrate()
	rep, err := fleet.Peek(ref)
	if err != nil || rep.Suppressed || len(rep.VendorErasures) != 0 {
		t.Errorf("after the second run: suppressed %v reason %q vendors %+v %v", rep.Suppressed, rep.Reason, rep.VendorErasures, err)
	}
	// A newer erasure at the source still wins.
	single = openTest(t, dir, WithClock(func() time.Time { return later.Add(time.Hour) }))
	if _, err := single.Erase(ref, "dpo", true); err != nil {
		t.Fatal(err)
	}
	single.Close()
	migrate()
	if rep, err := fleet.Peek(ref); err != nil || rep.Reason != "admin-erasure" {
		t.Errorf("a newer erasure at the source: %+v %v", rep, err)
	}
}
