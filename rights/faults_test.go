package rights

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// faultStore wraps a Store and fails on demand.
type faultStore struct {
	Store
	failCommit, failGet atomic.Bool
}

var errInjected = errors.New("injected store failure")

type faultReader struct {
	StoreReader
	s *faultStore
}

func (r faultReader) Get(k Key) (Record, bool, error) {
	if r.s.failGet.Load() {
		return Record{}, false, errInjected
	}
	return r.StoreReader.Get(k)
}

type faultTx struct {
	faultReader
	tx StoreTx
}

func (t faultTx) Apply(c *Change) error { return t.tx.Apply(c) }

func (s *faultStore) View(fn func(StoreReader) error) error {
	return s.Store.View(func(rd StoreReader) error { return fn(faultReader{rd, s}) })
}

func (s *faultStore) Update(fn func(StoreTx) error) error {
	return s.Store.Update(func(tx StoreTx) error {
		if err := fn(faultTx{faultReader{tx, s}, tx}); err != nil {
			return err
		}
		if s.failCommit.Load() {
			return errInjected // rolled back, as a failed fsync would be
		}
		return nil
	})
}

func openFault(t *testing.T) (*Registry, *faultStore) {
	t.Helper()
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{Store: st}
	r, err := New(fs, testKey, WithClock(testClock()), WithRecoveryDelay(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, fs
}

func waitHealthy(t *testing.T, r *Registry) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !r.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("registry did not recover within 5 s after the store came back")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestStoreWriteFailureFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	r, fs := openFault(t)
	a := r.Ref(tenant, b("A"), nil)
	other := r.Ref(tenant, b("B"), nil)
	if err := r.OptOut(other, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fs.failCommit.Store(true)
	err := r.OptOut(a, false, time.Time{})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errInjected) {
		t.Fatalf("OptOut with failing store: %v, want ErrUnavailable wrapping the cause", err)
	}
	if r.Healthy() {
		t.Error("registry healthy after a failed write")
	}
	for _, ref := range []Ref{a, other} {
		if v := r.CheckRef(ref); v.Status != StatusUnknown || !v.Drop(true) {
			t.Errorf("after failed write: %+v, want unknown (drop)", v)
		}
	}
	// The unacknowledged suppression is still applied in memory.
	if f := r.hot.Load().get(&a.Identity); f == 0 {
		t.Error("suppression of a failed write not applied in memory")
	}
	// While unhealthy, writes (traffic and admin) are refused.
	if _, err := r.Suppress(r.Ref(tenant, b("C"), nil), "ops"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("admin Suppress while unhealthy: %v, want ErrUnavailable", err)
	}
	time.Sleep(20 * time.Millisecond)
	if r.Healthy() {
		t.Fatal("registry healthy while the store still fails")
	}
	// The store works again: the registry recovers without a restart and
	// memory is what the store holds (the failed opt-out was never
	// acknowledged; the SDK retries it).
	fs.failCommit.Store(false)
	waitHealthy(t, r)
	if v := r.CheckRef(other); v.Status != StatusSuppressed {
		t.Errorf("after recovery, committed opt-out: %+v, want suppressed", v)
	}
	if v := r.CheckRef(a); v.Status != StatusClear {
		t.Errorf("after recovery, unacknowledged opt-out: %+v, want clear (memory reloaded from the store)", v)
	}
	if err := r.OptOut(a, false, time.Time{}); err != nil {
		t.Fatalf("retried opt-out after recovery: %v", err)
	}
	if v := r.CheckRef(a); v.Status != StatusSuppressed {
		t.Errorf("retried opt-out: %+v, want suppressed", v)
	}
	if _, err := r.Show(a, "ops"); err != nil {
		t.Errorf("Show after recovery: %v", err)
	}
}

func TestStoreReadFailureFailsClosed(t *testing.T) {
	t.Parallel()
	r, fs := openFault(t)
	fs.failGet.Store(true)
	if err := r.OptOut(r.Ref(tenant, nil, b("d1")), false, time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("OptOut with failing reads: %v, want ErrUnavailable", err)
	}
	if v := r.Check(tenant, nil, b("d1")); v.Status != StatusUnknown {
		t.Errorf("after failed read: %+v, want unknown", v)
	}
	if _, err := r.Show(r.Ref(tenant, b("A"), nil), "ops"); err == nil {
		t.Error("Show with failing reads: no error")
	}
	fs.failGet.Store(false)
	waitHealthy(t, r)
}

func TestFailedRetryIsWrittenDurably(t *testing.T) {
	t.Parallel()
	// A write that failed left the suppression in memory only. A retry
	// that succeeds must write the hot entry durably.
	dir := t.TempDir()
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{Store: st}
	r, err := New(fs, testKey, WithRecoveryDelay(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	a := r.Ref(tenant, b("A"), nil)
	fs.failCommit.Store(true)
	_ = r.OptOut(a, false, time.Time{})
	fs.failCommit.Store(false)
	waitHealthy(t, r)
	if err := r.OptOut(a, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r2 := openTest(t, dir)
	if v := r2.CheckRef(a); v.Status != StatusSuppressed {
		t.Errorf("after restart: %+v, want suppressed", v)
	}
}

func TestLearnRejectsInvalidSignals(t *testing.T) {
	t.Parallel()
	r := openTest(t, t.TempDir())
	ref := r.Ref(tenant, b("A"), nil)
	bad := []Signals{{OptOut: 9}, {Marketing: [NumChannels]Consent{ChannelSMS: 7}}}
	for _, s := range bad {
		if err := r.Learn(ref, s); err == nil {
			t.Errorf("Learn(%+v): no error", s)
		}
	}
	if err := r.Marketing(ref, NumChannels, ConsentGranted, time.Time{}); err == nil {
		t.Error("Marketing with an unknown channel: no error")
	}
	if !r.Healthy() {
		t.Error("invalid input made the registry unhealthy")
	}
	if _, err := r.Consent(ref, NumChannels); err == nil {
		t.Error("Consent with an unknown channel: no error")
	}
}
