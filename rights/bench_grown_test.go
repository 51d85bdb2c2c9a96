package rights

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A registry pre-grown the way the bench harness grows it (package
// bench/internal/grow): benchSubjects members, each a device record whose
// session is its identity and one link each way, written in sorted
// transactions of 50,000 and then compacted. Built once per test binary
// run; each benchmark works on a copy.
// The uncompacted variant ("bulk") keeps the ~15 % free pages the bulk
// load leaves, as a store grown by traffic and swept of expired links has:
// every commit then writes (and bbolt sorts) a large freelist.
var (
	grownOnce [2]sync.Once
	grownDir  [2]string
	grownErr  [2]error
)

func buildGrown1M(tb testing.TB, compacted bool) string {
	tb.Helper()
	i := 0
	if compacted {
		i = 1
	}
	grownOnce[i].Do(func() {
		start := time.Now()
		grownDir[i], grownErr[i] = os.MkdirTemp("", "consentry-rights-grown-")
		if grownErr[i] != nil {
			return
		}
		grownErr[i] = growMembers(grownDir[i], benchSubjects, compacted)
		if grownErr[i] == nil {
			fmt.Fprintf(os.Stderr, "grew %d-member rights store (compacted %v) in %v\n", benchSubjects, compacted, time.Since(start).Round(time.Millisecond))
		}
	})
	if grownErr[i] != nil {
		tb.Fatalf("cannot grow benchmark store: %v", grownErr[i])
	}
	return grownDir[i]
}

func growMembers(dir string, n int, compacted bool) error {
	st, err := OpenBolt(dir)
	if err != nil {
		return err
	}
	k, _ := newKeyer(testKey)
	fp := k.fingerprint()
	if err := st.Bind(BindRegistry, fp[:]); err != nil {
		st.Close()
		return err
	}
	type member struct{ dev, id Key }
	ms := make([]member, n)
	for i := range ms {
		ms[i] = member{k.key(tenant, KindDevice, fmt.Appendf(nil, "__g-member-%d", i)), k.key(tenant, KindIdentity, fmt.Appendf(nil, "member-%d", i))}
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.dev[:], b.dev[:]) })
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st.db.NoSync = true // set-up only
	const batch = 50_000
	for lo := 0; lo < n; lo += batch {
		c := &Change{}
		for i, m := range ms[lo:min(lo+batch, n)] {
			seen := now.Add(-time.Duration(24+(lo+i)%(29*24)) * time.Hour)
			c.Records = append(c.Records, Record{Key: m.dev, Kind: KindDevice, Session: m.id, HasSession: true, SessionAt: seen, Updated: seen})
			c.Links = append(c.Links, Link{Identity: m.id, Device: m.dev, Seen: seen})
		}
		if err := st.Update(func(tx StoreTx) error { return tx.Apply(c) }); err != nil {
			st.Close()
			return err
		}
	}
	if err := st.db.Sync(); err != nil {
		st.Close()
		return err
	}
	if err := st.Close(); err != nil || !compacted {
		return err
	}
	return CompactBolt(dir)
}

func copyGrown(b *testing.B, compacted bool) string {
	b.Helper()
	src := buildGrown1M(b, compacted)
	dst := b.TempDir()
	in, err := os.Open(filepath.Join(src, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(dst, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}

// boltVariants are the bbolt settings compared over the grown store.
var boltVariants = []struct {
	name string
	tune func(*bolt.Options)
}{
	{"freelist=sync", func(o *bolt.Options) { o.NoFreelistSync = false; o.InitialMmapSize = 0 }},
	{"freelist=nosync", func(o *bolt.Options) { o.NoFreelistSync = true; o.InitialMmapSize = 0 }},
	{"freelist=nosync,mmap=1GiB", func(o *bolt.Options) { o.NoFreelistSync = true; o.InitialMmapSize = 1 << 30 }},
}

// BenchmarkLearnNewLinksGrown1M is BenchmarkLearnNewLinks (64 clients per
// GOMAXPROCS, churn's worst case: every login a new link) over a
// registry pre-grown to 1M members, per bbolt setting. cpu-µs/op is the
// whole process's CPU per new link; alloc-B/commit the pages bbolt wrote
// per commit (B/commit is the kernel's write_bytes, which counts whole
// page-cache folios and overstates it ~10×); free-pages the freelist's
// size. Run with a fixed count, e.g. -benchtime 3000x, so that each
// variant copies the store once.
func BenchmarkLearnNewLinksGrown1M(b *testing.B) {
	for _, store := range grownStores {
		for _, v := range boltVariants {
			b.Run(store.name+"/"+v.name, func(b *testing.B) { benchGrownNewLinks(b, store.compacted, v.tune) })
		}
	}
}

// grownStores are the two shapes of the grown store.
var grownStores = []struct {
	name      string
	compacted bool
}{{"store=compacted", true}, {"store=bulk", false}}

func benchGrownNewLinks(b *testing.B, compacted bool, tune func(*bolt.Options)) {
	dir := copyGrown(b, compacted)
	st, err := openBolt(dir, tune)
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(st, testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var n atomic.Int64
	b.SetParallelism(64)
	b.ReportAllocs()
	c0, w0, k0 := processCPU(), writeBytes(), r.stats.commits.Load()
	s0 := st.db.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := r.Link(r.Ref(tenant, fmt.Appendf(nil, "new-user-%d", i), fmt.Appendf(nil, "__g-new-%d", i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	commits := r.stats.commits.Load() - k0
	if c := processCPU() - c0; c > 0 {
		b.ReportMetric(float64(c.Microseconds())/float64(b.N), "cpu-µs/op")
	}
	if commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "ops/commit")
		if w := writeBytes() - w0; w > 0 {
			b.ReportMetric(float64(w)/float64(commits), "B/commit")
		}
		s1 := st.db.Stats()
		d := s1.Sub(&s0)
		free := s1.FreePageN + s1.PendingPageN
		b.ReportMetric(float64(d.TxStats.GetPageAlloc())/float64(commits), "alloc-B/commit")
		b.ReportMetric(float64(d.TxStats.GetWrite())/float64(commits), "writes/commit")
		b.ReportMetric(float64(free), "free-pages")
	}
}

// BenchmarkOpenGrown1M is the start-up cost of each bbolt setting over
// the grown store: with NoFreelistSync bbolt rebuilds the freelist by
// scanning every page at open. The store is opened once with the setting
// first (and written, so that the file is as that setting leaves it).
func BenchmarkOpenGrown1M(b *testing.B) {
	for _, store := range grownStores {
		for _, v := range boltVariants {
			b.Run(store.name+"/"+v.name, func(b *testing.B) { benchOpenGrown(b, store.compacted, v.tune) })
		}
	}
}

func benchOpenGrown(b *testing.B, compacted bool, tune func(*bolt.Options)) {
	dir := copyGrown(b, compacted)
	r, err := func() (*Registry, error) {
		st, err := openBolt(dir, tune)
		if err != nil {
			return nil, err
		}
		return New(st, testKey)
	}()
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Link(r.Ref(tenant, []byte("someone"), []byte("__g-someone"))); err != nil {
		b.Fatal(err)
	}
	r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := openBolt(dir, tune)
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(st, testKey)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
}
