package rights

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/consentry/consentry/rights/pgtest"
)

// The PostgreSQL benchmarks need the test database (see pgtest):
//
//	go test -run XXX -bench PG -benchmem ./rights/
//	CONSENTRY_BENCH_PG_SUBJECTS=10000000 go test -run XXX -bench PGStartup -benchtime 1x ./rights/

// benchPGSubjects is the size of the pre-grown registry (default 1M).
func benchPGSubjects() int {
	if n, err := strconv.Atoi(os.Getenv("CONSENTRY_BENCH_PG_SUBJECTS")); err == nil && n > 0 {
		return n
	}
	return benchSubjects
}

// buildPG writes n suppressed identities (hot set and records) straight
// into a fresh schema with COPY, as a registry of that size would hold
// them.
func buildPG(b *testing.B, n int) (dsn, schema string) {
	b.Helper()
	dsn = pgtest.DSN(b)
	schema = pgtest.Schema(b, dsn)
	st, err := OpenPG(context.Background(), dsn, WithPGSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	k, _ := newKeyer(testKey)
	fp := k.fingerprint()
	if err := st.Bind(BindRegistry, fp[:]); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := EncodeRecord(&Record{Kind: KindIdentity, Reason: ReasonOptOut, Since: at, Updated: at})
	flags := int16(makeFlags(ReasonOptOut, false, ReasonNone, false))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	const batch = 500_000
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		hot := make([][]any, 0, hi-lo)
		subj := make([][]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			key := k.key(tenant, KindIdentity, suppressedID(i))
			hot = append(hot, []any{key[:], flags})
			subj = append(subj, []any{key[:], int16(KindIdentity), int16(ReasonOptOut), rec, at})
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "hot"}, []string{"key", "flags"}, pgx.CopyFromRows(hot)); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "subjects"}, []string{"key", "kind", "reason", "record", "updated_at"}, pgx.CopyFromRows(subj)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "hot"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d-subject PostgreSQL registry in %v", n, time.Since(start).Round(time.Millisecond))
	return dsn, schema
}

func openPGBench(b *testing.B, dsn, schema string) *Registry {
	b.Helper()
	st, err := OpenPG(context.Background(), dsn, WithPGSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(st, testKey)
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	return r
}

// BenchmarkPGStartup is the start-up load of the hot set from PostgreSQL
// and the heap it keeps per suppressed subject.
func BenchmarkPGStartup(b *testing.B) {
	n := benchPGSubjects()
	dsn, schema := buildPG(b, n)
	var perSubject float64
	var loaded int
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		r := openPGBench(b, dsn, schema)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		loaded = r.Len()
		perSubject = float64(after.HeapAlloc-before.HeapAlloc) / float64(loaded)
		runtime.KeepAlive(r)
		r.Close()
		b.StartTimer()
	}
	if loaded != n {
		b.Fatalf("loaded %d subjects, want %d", loaded, n)
	}
	b.ReportMetric(perSubject, "heap-B/subject")
	b.ReportMetric(float64(n), "subjects")
}

// BenchmarkPGCheck1M: lookups of a registry over PostgreSQL read memory
// only, exactly as over the embedded store (compare BenchmarkCheck1M).
func BenchmarkPGCheck1M(b *testing.B) {
	dsn, schema := buildPG(b, benchSubjects)
	r := openPGBench(b, dsn, schema)
	defer r.Close()
	const probes = 1 << 20
	clearRefs, suppRefs := make([]Ref, probes), make([]Ref, probes)
	for i := range probes {
		clearRefs[i] = r.Ref(tenant, clearID(i), nil)
		suppRefs[i] = r.Ref(tenant, suppressedID((i*7919)%benchSubjects), nil)
	}
	for _, c := range []struct {
		name string
		refs []Ref
		want Status
	}{{"clear/CheckRef", clearRefs, StatusClear}, {"suppressed/CheckRef", suppRefs, StatusSuppressed}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			loopCPU(b, func(i int) {
				if v := r.CheckRef(c.refs[i&(probes-1)]); v.Status != c.want {
					b.Fatalf("probe %d: %v, want %v", i, v.Status, c.want)
				}
			})
		})
	}
}

func reportPercentiles(b *testing.B, d []time.Duration, unit string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs/"+unit)
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs/"+unit)
}

// BenchmarkPGOptOut is one acknowledged opt-out against the local
// PostgreSQL: a serializable transaction, the feed row and NOTIFY, the
// commit (synchronous_commit on), and the wait until the follower applied it.
func BenchmarkPGOptOut(b *testing.B) {
	dsn := pgtest.DSN(b)
	r := openPGBench(b, dsn, pgtest.Schema(b, dsn))
	defer r.Close()
	var lat []time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := r.OptOut(r.Ref(tenant, suppressedID(i), nil), false, time.Time{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		i++
	}
	reportPercentiles(b, lat, "optout")
}

// BenchmarkPGPropagation: an opt-out acknowledged by instance A, until
// instance B drops the subject's records (LISTEN/NOTIFY, then a feed poll).
func BenchmarkPGPropagation(b *testing.B) {
	dsn := pgtest.DSN(b)
	schema := pgtest.Schema(b, dsn)
	a, other := openPGBench(b, dsn, schema), openPGBench(b, dsn, schema)
	defer a.Close()
	defer other.Close()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		ref := a.Ref(tenant, suppressedID(i), nil)
		if err := a.OptOut(ref, false, time.Time{}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for other.CheckRef(ref).Status != StatusSuppressed {
			if time.Since(t0) > 5*time.Second {
				b.Fatal("not propagated within 5 s")
			}
			runtime.Gosched()
		}
		lat = append(lat, time.Since(t0))
		i++
	}
	reportPercentiles(b, lat, "propagation")
}

// BenchmarkPGLearnNewLinks: new links learned from concurrent requests
// against PostgreSQL, batched into shared transactions (group commit).
func BenchmarkPGLearnNewLinks(b *testing.B) {
	dsn := pgtest.DSN(b)
	benchNewLinks(b, func(b *testing.B) *Registry { return openPGBench(b, dsn, pgtest.Schema(b, dsn)) })
}
