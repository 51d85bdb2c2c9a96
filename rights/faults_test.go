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

func (s *faultStore) Commit(c *Change) error {
	if s.failCommit.Load() {
		return errInjected
	}
	return s.Store.Commit(c)
}

func (s *faultStore) Get(k Key) (Record, bool, error) {
	if s.failGet.Load() {
		return Record{}, false, errInjected
	}
	return s.Store.Get(k)
}

func openFault(t *testing.T) (*Registry, *faultStore) {
	t.Helper()
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{Store: st}
	r, err := New(fs, testKey, WithClock(testClock()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, fs
}

func TestStoreWriteFailureFailsClosed(t *testing.T) {
	t.Parallel()
	r, fs := openFault(t)
	a := r.Ref(tenant, b("A"), nil)
	other := r.Ref(tenant, b("B"), nil)
	if v := r.CheckRef(other); v.Status != StatusClear {
		t.Fatalf("before failure: %+v", v)
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
	if f := r.hot.get(&a.Identity); f == 0 {
		t.Error("suppression of a failed write not applied in memory")
	}
	// Health is sticky even if the store recovers.
	fs.failCommit.Store(false)
	if err := r.OptOut(other, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if r.Healthy() {
		t.Error("registry healthy again without a reopen")
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
}

func TestFailedRetryIsWrittenDurably(t *testing.T) {
	t.Parallel()
	// A write that failed left the suppression in memory only. A retry
	// that succeeds must write the hot entry even though memory has it.
	dir := t.TempDir()
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{Store: st}
	r, err := New(fs, testKey)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Ref(tenant, b("A"), nil)
	fs.failCommit.Store(true)
	_ = r.OptOut(a, false, time.Time{})
	fs.failCommit.Store(false)
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
