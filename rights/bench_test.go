package rights

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The 1M-subject benchmarks share one store, built once per test binary
// run in a temporary directory:
//
//	go test -run XXX -bench . -benchmem ./rights/
const benchSubjects = 1_000_000

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	for _, d := range grownDir {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

func suppressedID(i int) []byte { return fmt.Appendf(nil, "user-%d", i) }
func clearID(i int) []byte      { return fmt.Appendf(nil, "someone-else-%d", i) }

// build1M writes benchSubjects suppressed identities straight into the
// bbolt buckets, sorted and in large transactions, so that building takes
// seconds; the registry then loads them as it would its own.
func build1M(tb testing.TB) string {
	tb.Helper()
	benchOnce.Do(func() {
		start := time.Now()
		benchDir, benchErr = os.MkdirTemp("", "consentry-rights-bench-")
		if benchErr != nil {
			return
		}
		st, err := OpenBolt(benchDir)
		if err != nil {
			benchErr = err
			return
		}
		defer st.Close()
		k, _ := newKeyer(testKey)
		fp := k.fingerprint()
		if benchErr = st.Bind(BindRegistry, fp[:]); benchErr != nil {
			return
		}
		keys := make([]Key, benchSubjects)
		for i := range keys {
			keys[i] = k.key(tenant, KindIdentity, suppressedID(i))
		}
		slices.SortFunc(keys, func(a, b Key) int { return bytes.Compare(a[:], b[:]) })
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		rec := EncodeRecord(&Record{Kind: KindIdentity, Reason: ReasonOptOut, Since: at, Updated: at})
		flags := []byte{byte(makeFlags(ReasonOptOut, false, ReasonNone, false))}
		st.db.NoSync = true // set-up only: one Sync at the end
		const batch = 100_000
		for lo := 0; lo < len(keys); lo += batch {
			benchErr = st.db.Update(func(tx *bolt.Tx) error {
				subj, hot := tx.Bucket(bucketSubjects), tx.Bucket(bucketHot)
				subj.FillPercent, hot.FillPercent = 1, 1
				for _, key := range keys[lo:min(lo+batch, len(keys))] {
					if err := subj.Put(key[:], rec); err != nil {
						return err
					}
					if err := hot.Put(key[:], flags); err != nil {
						return err
					}
				}
				return nil
			})
			if benchErr != nil {
				return
			}
		}
		if benchErr = st.db.Sync(); benchErr != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "built %d-subject rights store in %v\n", benchSubjects, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		tb.Fatalf("cannot build benchmark store: %v", benchErr)
	}
	return benchDir
}

// loopCPU runs f in b.Loop on one locked OS thread and also reports the
// thread's CPU time per op (cpu-ns/op), which stays meaningful when other
// processes share the machine's cores; ns/op is wall time.
func loopCPU(b *testing.B, f func(i int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	n := 0
	for b.Loop() {
		f(n)
		n++
	}
	if c1 := threadCPU(); c1 > 0 && n > 0 {
		b.ReportMetric(float64(c1-c0)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkStartup1M measures Open (load of the hot set from bbolt) and
// the heap it keeps per suppressed subject.
func BenchmarkStartup1M(b *testing.B) {
	dir := build1M(b)
	var perSubject float64
	var n int
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		r, err := Open(dir, testKey)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		n = r.Len()
		perSubject = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		runtime.KeepAlive(r)
		r.Close()
		b.StartTimer()
	}
	if n != benchSubjects {
		b.Fatalf("loaded %d subjects, want %d", n, benchSubjects)
	}
	b.ReportMetric(perSubject, "heap-B/subject")
}

// BenchmarkCheck1M measures lookups against 1M suppressed subjects:
// Check hashes the raw identifier (HMAC-SHA-256) and looks it up;
// CheckRef is the lookup alone, for a Ref computed once per request.
func BenchmarkCheck1M(b *testing.B) {
	dir := build1M(b)
	r, err := Open(dir, testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	// 2^20 distinct probes of each kind: the probed table lines (tens of
	// MB) do not stay in the CPU caches, so every lookup pays a memory miss,
	// as it would in production.
	const probes = 1 << 20
	clearIDs, suppIDs := make([][]byte, probes), make([][]byte, probes)
	clearRefs, suppRefs, devRefs := make([]Ref, probes), make([]Ref, probes), make([]Ref, probes)
	// Identifiers live in one buffer, as in a request body, not in 2M
	// scattered allocations whose cache misses would be charged to Check.
	var buf []byte
	for i := range probes {
		buf = append(buf, clearID(i)...)
		buf = append(buf, suppressedID((i*7919)%benchSubjects)...)
	}
	for i, p := 0, 0; i < probes; i++ {
		n := len(clearID(i))
		clearIDs[i], p = buf[p:p+n:p+n], p+n
		n = len(suppressedID((i * 7919) % benchSubjects))
		suppIDs[i], p = buf[p:p+n:p+n], p+n
		clearRefs[i] = r.Ref(tenant, clearIDs[i], nil)
		suppRefs[i] = r.Ref(tenant, suppIDs[i], nil)
		devRefs[i] = r.Ref(tenant, nil, clearIDs[i])
	}
	run := func(name string, want Status, f func(i int) Verdict) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			loopCPU(b, func(i int) {
				if v := f(i & (probes - 1)); v.Status != want {
					b.Fatalf("probe %d: %v, want %v", i, v.Status, want)
				}
			})
		})
	}
	run("clear/CheckRef", StatusClear, func(i int) Verdict { return r.CheckRef(clearRefs[i]) })
	run("suppressed/CheckRef", StatusSuppressed, func(i int) Verdict { return r.CheckRef(suppRefs[i]) })
	run("clear-device/CheckRef", StatusClear, func(i int) Verdict { return r.CheckRef(devRefs[i]) })
	run("clear/Check", StatusClear, func(i int) Verdict { return r.Check(tenant, clearIDs[i], nil) })
	run("suppressed/Check", StatusSuppressed, func(i int) Verdict { return r.Check(tenant, suppIDs[i], nil) })
	run("clear-identity+device/Check", StatusClear, func(i int) Verdict { return r.Check(tenant, clearIDs[i], clearIDs[i]) })
	b.Run("clear/CheckRef/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if r.CheckRef(clearRefs[i&(probes-1)]).Status != StatusClear {
					b.Error("not clear")
					return
				}
				i++
			}
		})
	})
}

// BenchmarkKey is the cost of one subject key (HMAC-SHA-256, truncated).
func BenchmarkKey(b *testing.B) {
	k, _ := newKeyer(testKey)
	id := []byte("__g4f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6")
	b.ReportAllocs()
	loopCPU(b, func(int) { k.key(tenant, KindDevice, id) })
}

// BenchmarkLearnKnownLink is Learn for a record that repeats a known
// identity↔device link and carries no signal: the common case.
func BenchmarkLearnKnownLink(b *testing.B) {
	r, err := Open(b.TempDir(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ref := r.Ref(tenant, []byte("user-1"), []byte("__g-device-1"))
	if err := r.Link(ref); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Learn(ref, Signals{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOptOutDurable is one acknowledged opt-out: read, commit, fsync.
func BenchmarkOptOutDurable(b *testing.B) {
	r, err := Open(b.TempDir(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := r.OptOut(r.Ref(tenant, suppressedID(i), nil), false, time.Time{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLearnNewLinks is the cost of learning new identity↔device links
// (logins on new devices) from concurrent requests: each op is one
// durable write, and writes that arrive while a commit is in flight share
// the next one (group commit). ops/commit is the batch size reached.
func BenchmarkLearnNewLinks(b *testing.B) {
	benchNewLinks(b, func(b *testing.B) *Registry {
		r, err := Open(b.TempDir(), testKey)
		if err != nil {
			b.Fatal(err)
		}
		return r
	})
}

// benchNewLinks runs the new-links benchmark over registries from open,
// with 1, 16 and 64 clients per GOMAXPROCS.
func benchNewLinks(b *testing.B, open func(b *testing.B) *Registry) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			r := open(b)
			defer r.Close()
			var n atomic.Int64
			b.SetParallelism(clients)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := r.Link(r.Ref(tenant, fmt.Appendf(nil, "user-%d", i), fmt.Appendf(nil, "__g-%d", i))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if c := r.stats.commits.Load(); c > 0 {
				b.ReportMetric(float64(r.stats.batched.Load())/float64(c), "ops/commit")
			}
		})
	}
}
