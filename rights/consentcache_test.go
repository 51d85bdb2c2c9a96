package rights

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentry/consentry/rights/pgtest"
)

// countingStore counts read-only views, the store reads a repeated signal
// should skip.
type countingStore struct {
	Store
	views atomic.Int64
	// afterView (once) runs after the next view ended, before the
	// registry acts on what it read.
	afterView atomic.Pointer[func()]
}

func (s *countingStore) View(fn func(StoreReader) error) error {
	s.views.Add(1)
	err := s.Store.View(fn)
	if f := s.afterView.Swap(nil); f != nil {
		(*f)()
	}
	return err
}

func (s *countingStore) Interrupt() {
	if in, ok := s.Store.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}

// countingFeedStore keeps a shared store's feed visible to the registry.
type countingFeedStore struct {
	*countingStore
	Feed
}

func (c *consentCache) hasOne(k *Key, ch Channel, s Consent) bool {
	var want [NumChannels]Consent
	want[ch] = s
	return c.has(k, &want)
}

type countedOpener func(t *testing.T, opts ...Option) (*Registry, *countingStore)

func countedBolt(t *testing.T, opts ...Option) (*Registry, *countingStore) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	return newCounted(t, cs, cs, opts)
}

// countedPG returns an opener of instances of one fleet (one schema).
func countedPG(t *testing.T) countedOpener {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	return func(t *testing.T, opts ...Option) (*Registry, *countingStore) {
		st, err := OpenPG(context.Background(), dsn, WithPGSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		cs := &countingStore{Store: st}
		return newCounted(t, countingFeedStore{cs, st}, cs, opts)
	}
}

func newCounted(t *testing.T, st Store, cs *countingStore, opts []Option) (*Registry, *countingStore) {
	t.Helper()
	r, err := New(st, testKey, append([]Option{WithClock(testClock())}, opts...)...)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, cs
}

func consentOf(t *testing.T, r *Registry, ref Ref, ch Channel) string {
	t.Helper()
	rep, err := r.Peek(ref)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Consent[ch.String()].State
}

func profilePush(email, push Consent) Signals {
	var s Signals
	s.Marketing[ChannelEmail] = email
	s.Marketing[ChannelPush] = push
	s.Marketing[ChannelSMS] = ConsentRevoked
	s.Marketing[ChannelWhatsApp] = ConsentGranted
	return s
}

// A repeated consent signal is answered from the consent cache without a
// store read on the embedded store (a fleet instance reads the shared
// store every time, see TestFleetConsentCacheFollowsOtherInstances); a
// change after a cached no-op is written; admin changes and a reload
// invalidate the cache.
func TestConsentCacheSkipsRepeatsAndNeverAChange(t *testing.T) {
	t.Parallel()
	for _, st := range []struct {
		name   string
		open   func(t *testing.T) countedOpener
		cached bool // the consent cache serves this store
	}{
		{"bolt", func(*testing.T) countedOpener { return countedBolt }, true},
		{"postgres", countedPG, false},
	} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			r, cs := st.open(t)(t)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			ref := r.Ref(tenant, b("A"), b("a1"))
			id := r.Ref(tenant, b("A"), nil)
			dev := r.Ref(tenant, nil, b("a1"))
			granted := profilePush(ConsentGranted, ConsentGranted)
			must(r.Learn(ref, granted)) // written
			must(r.Learn(ref, granted)) // read-only pass: cached
			views := cs.views.Load()
			for range 5 {
				must(r.Learn(ref, granted))
				must(r.Learn(dev, granted)) // person through the session identity
			}
			got, want := cs.views.Load()-views, int64(0)
			if !st.cached {
				want = 10
			}
			if got != want {
				t.Fatalf("repeated consent read the store %d times, want %d", got, want)
			}

			// A change after a cached no-op is written, and so is the old
			// value again.
			must(r.Learn(ref, profilePush(ConsentRevoked, ConsentGranted)))
			if got := consentOf(t, r, id, ChannelEmail); got != "revoked" {
				t.Fatalf("email consent after revoke = %s, want revoked", got)
			}
			must(r.Learn(ref, granted))
			if got := consentOf(t, r, id, ChannelEmail); got != "granted" {
				t.Fatalf("email consent after grant again = %s, want granted", got)
			}
			// The device's push consent changes through a device-only record.
			must(r.Learn(ref, granted))
			must(r.Learn(dev, profilePush(ConsentGranted, ConsentRevoked)))
			if got := consentOf(t, r, dev, ChannelPush); got != "revoked" {
				t.Fatalf("push consent after device-only revoke = %s, want revoked", got)
			}
			must(r.Learn(ref, granted))
			must(r.Learn(ref, granted))

			// An admin erasure forgets consent: the repeat is written again.
			if _, err := r.Erase(id, "dpo", true); err != nil {
				t.Fatal(err)
			}
			if got := consentOf(t, r, id, ChannelEmail); got != "unknown" {
				t.Fatalf("email consent after erasure = %s, want unknown", got)
			}
			must(r.Learn(ref, granted))
			if got := consentOf(t, r, id, ChannelEmail); got != "granted" {
				t.Fatalf("email consent learned after erasure = %s, want granted (cache not invalidated)", got)
			}
			// An unsuppress writes the record: the next repeat reads the store.
			must(r.Learn(ref, granted))
			if _, err := r.Unsuppress(id, "dpo"); err != nil {
				t.Fatal(err)
			}
			views = cs.views.Load()
			must(r.Learn(ref, granted))
			if cs.views.Load() == views {
				t.Fatal("repeat after an unsuppress was answered from the cache")
			}
			// A reload forgets everything.
			must(r.Learn(ref, granted))
			if r.cons.hasOne(&ref.Identity, ChannelEmail, ConsentGranted) != st.cached {
				t.Fatalf("repeated consent cached: %v, want %v", !st.cached, st.cached)
			}
			r.wmu.Lock()
			_, err := r.load()
			r.wmu.Unlock()
			must(err)
			if r.cons.len() != 0 {
				t.Fatalf("%d consent entries survived a reload", r.cons.len())
			}
		})
	}
}

// A change committed between a read-only pass that found the consent
// unchanged and the caching of that finding is not overtaken: the stale
// finding is not cached, and the old value repeated afterwards is written.
func TestConsentCacheNotFilledByAnOvertakenRead(t *testing.T) {
	t.Parallel()
	for _, st := range []struct {
		name string
		open func(t *testing.T) countedOpener
	}{
		{"bolt", func(*testing.T) countedOpener { return countedBolt }},
		{"postgres", countedPG},
	} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			r, cs := st.open(t)(t)
			ref := r.Ref(tenant, b("R"), b("r1"))
			granted := profilePush(ConsentGranted, ConsentGranted)
			if err := r.Learn(ref, granted); err != nil {
				t.Fatal(err)
			}
			revoke := func() {
				if err := r.Learn(ref, profilePush(ConsentRevoked, ConsentGranted)); err != nil {
					t.Error(err)
				}
			}
			cs.afterView.Store(&revoke)
			if err := r.Learn(ref, granted); err != nil { // read-only pass, then the revoke commits
				t.Fatal(err)
			}
			if r.cons.hasOne(&ref.Identity, ChannelEmail, ConsentGranted) {
				t.Fatal("a read overtaken by a commit filled the cache")
			}
			if err := r.Learn(ref, granted); err != nil {
				t.Fatal(err)
			}
			if got := consentOf(t, r, r.Ref(tenant, b("R"), nil), ChannelEmail); got != "granted" {
				t.Fatalf("email consent = %s, want granted", got)
			}
		})
	}
}

// A fleet instance answers no consent from memory: another instance's
// change reaches it only when the feed applies it, and a record that
// repeats the old value here right after that change was acknowledged (a
// user re-granting what was just revoked elsewhere, or the reverse) must
// be written, not skipped. Nothing here waits for the feed.
func TestFleetConsentCacheFollowsOtherInstances(t *testing.T) {
	t.Parallel()
	open := countedPG(t)
	a, _ := open(t)
	c, _ := open(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		here, there Consent // repeated on instance a; written on instance c in between
	}{
		{"grant after a revoke elsewhere", ConsentGranted, ConsentRevoked},
		{"revoke after a grant elsewhere", ConsentRevoked, ConsentGranted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 20 {
				u := fmt.Sprintf("%s-%d", tc.here, i)
				ref := a.Ref(tenant, b("F"+u), b("f"+u))
				id := a.Ref(tenant, b("F"+u), nil)
				dev := a.Ref(tenant, nil, b("f"+u))
				here := profilePush(tc.here, tc.here)
				must(a.Learn(ref, here))
				must(a.Learn(ref, here))
				must(c.Learn(ref, profilePush(tc.there, tc.there)))
				must(a.Learn(ref, here)) // at once: a's feed may not have brought c's change
				if e, p := consentOf(t, c, id, ChannelEmail), consentOf(t, c, dev, ChannelPush); e != tc.here.String() || p != tc.here.String() {
					t.Fatalf("subject %d: stored email %s, push %s after the later %s on instance 1", i, e, p, tc.here)
				}
			}
			if n := a.cons.len(); n != 0 {
				t.Errorf("a fleet instance cached %d consents", n)
			}
		})
	}

	// The same with instance a's feed held back for certain: the repeat
	// is written (its own commit then waits for the feed to reach it).
	t.Run("feed held back", func(t *testing.T) {
		ref := a.Ref(tenant, b("H"), b("h1"))
		id := a.Ref(tenant, b("H"), nil)
		granted := profilePush(ConsentGranted, ConsentGranted)
		must(a.Learn(ref, granted))
		must(a.Learn(ref, granted))
		a.follow.mu.Lock() // a applies no feed change meanwhile
		locked := true
		defer func() {
			if locked {
				a.follow.mu.Unlock()
			}
		}()
		must(c.Learn(ref, profilePush(ConsentRevoked, ConsentGranted)))
		done := make(chan error, 1)
		go func() { done <- a.Learn(ref, granted) }()
		var answered bool
		eventually(t, 5*time.Second, "the repeat on instance 1 is answered or written", func() bool {
			select {
			case err := <-done:
				done <- err
				answered = true
				return true
			default:
				return consentOf(t, c, id, ChannelEmail) == "granted"
			}
		})
		if answered {
			t.Fatalf("instance 1 answered the repeat without waiting for its feed: stored email %s", consentOf(t, c, id, ChannelEmail))
		}
		a.follow.mu.Unlock()
		locked = false
		must(<-done)
	})

	// An erasure on the other instance.
	ref := a.Ref(tenant, b("F"), b("f1"))
	id := a.Ref(tenant, b("F"), nil)
	granted := profilePush(ConsentGranted, ConsentGranted)
	must(a.Learn(ref, granted))
	must(a.Learn(ref, granted))
	if _, err := c.Erase(id, "dpo", true); err != nil {
		t.Fatal(err)
	}
	must(a.Learn(ref, granted)) // at once
	if got := consentOf(t, c, id, ChannelEmail); got != "granted" {
		t.Fatalf("consent repeated after an erasure on another instance = %s, want granted", got)
	}
}

// The cache holds at most its slot budget.
func TestConsentCacheBounded(t *testing.T) {
	t.Parallel()
	r, _ := countedBolt(t, WithConsentCache(8))
	s := profilePush(ConsentGranted, ConsentGranted)
	for i := range 100 {
		ref := r.Ref(tenant, b(fmt.Sprintf("u%d", i)), nil)
		for range 2 {
			if err := r.Learn(ref, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(r.cons.slots); n != 8 {
		t.Fatalf("cache has %d slots, want 8", n)
	}
	if n := r.cons.len(); n == 0 || n > 8 {
		t.Fatalf("cache holds %d entries, want 1..8", n)
	}
}

// BenchmarkLearnRepeatedConsent is a CleverTap profile push that repeats
// the stored consent flags (email, push, sms, whatsapp) of a known link.
func BenchmarkLearnRepeatedConsent(b *testing.B) {
	r, err := Open(b.TempDir(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	benchRepeatedConsent(b, r)
}

// BenchmarkPGLearnRepeatedConsent: the same against PostgreSQL.
func BenchmarkPGLearnRepeatedConsent(b *testing.B) {
	dsn := pgtest.DSN(b)
	r := openPGBench(b, dsn, pgtest.Schema(b, dsn))
	defer r.Close()
	benchRepeatedConsent(b, r)
}

func benchRepeatedConsent(b *testing.B, r *Registry) {
	ref := r.Ref(tenant, []byte("user-1"), []byte("__g-device-1"))
	var s Signals
	s.Marketing[ChannelEmail] = ConsentGranted
	s.Marketing[ChannelPush] = ConsentGranted
	s.Marketing[ChannelSMS] = ConsentRevoked
	s.Marketing[ChannelWhatsApp] = ConsentGranted
	for range 2 {
		if err := r.Learn(ref, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Learn(ref, s); err != nil {
			b.Fatal(err)
		}
	}
}
