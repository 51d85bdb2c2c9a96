package load

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/valyala/fasthttp"
)

// server answers every request with code and counts what it saw.
func server(t *testing.T, code int, delay time.Duration) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		if len(ctx.PostBody()) == 0 || string(ctx.Request.Header.Peek("X-CleverTap-Account-Id")) == "" {
			ctx.SetStatusCode(400)
			return
		}
		time.Sleep(delay)
		ctx.SetStatusCode(code)
	}}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String(), &n
}

func target(t *testing.T, addr string) Target {
	t.Helper()
	reqs, err := corpus.Generate(corpus.SDK1, corpus.Options{Variants: 3})
	if err != nil {
		t.Fatal(err)
	}
	return Target{Addr: addr, Requests: reqs, Timeout: 2 * time.Second}
}

func TestClosedCountsSuccesses(t *testing.T) {
	t.Parallel()
	addr, seen := server(t, 200, 0)
	res, err := Closed(context.Background(), target(t, addr), 4, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Errors != 0 || res.OK != seen.Load() || res.RPS() <= 0 {
		t.Fatalf("ok %d errors %d seen %d rps %.0f %v", res.OK, res.Errors, seen.Load(), res.RPS(), res.Sample)
	}
}

func TestClosedCountsBadStatus(t *testing.T) {
	t.Parallel()
	addr, _ := server(t, 503, 0)
	res, err := Closed(context.Background(), target(t, addr), 2, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Errors == 0 || res.Sample["status 503"] != res.Errors {
		t.Fatalf("ok %d errors %d kinds %v", res.OK, res.Errors, res.Sample)
	}
}

func TestClosedCountsTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res, err := Closed(context.Background(), target(t, addr), 2, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Errors == 0 {
		t.Fatalf("ok %d errors %d", res.OK, res.Errors)
	}
}

func TestOpenSchedule(t *testing.T) {
	t.Parallel()
	addr, seen := server(t, 200, 0)
	res, err := Open(context.Background(), target(t, addr), 200, 250*time.Millisecond, 8, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// 50 scheduled plus 8 connection warm-ups.
	if res.OK != 50 || res.Unsent != 0 || res.Errors != 0 || len(res.Latency) != 50 || seen.Load() != 58 {
		t.Fatalf("ok %d unsent %d errors %d latencies %d seen %d", res.OK, res.Unsent, res.Errors, len(res.Latency), seen.Load())
	}
	if res.Percentile(0.5) <= 0 || res.Percentile(0.5) > res.Percentile(1) || res.Overload {
		t.Fatalf("p50 %v max %v overload %v", res.Percentile(0.5), res.Percentile(1), res.Overload)
	}
}

// A contender slower than the schedule is charged for the queue: latency
// grows well beyond its service time, and what cannot be sent within the
// grace period is unsent.
func TestOpenOverload(t *testing.T) {
	t.Parallel()
	addr, _ := server(t, 200, 20*time.Millisecond)
	res, err := Open(context.Background(), target(t, addr), 400, 200*time.Millisecond, 2, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unsent == 0 || !res.Overload || len(res.Latency) != 80 {
		t.Fatalf("unsent %d overload %v latencies %d", res.Unsent, res.Overload, len(res.Latency))
	}
	if res.Percentile(0.99) < 100*time.Millisecond {
		t.Fatalf("p99 %v does not include the queue", res.Percentile(0.99))
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	ok, _ := server(t, 200, 0)
	bad, _ := server(t, 502, 0)
	if err := Probe(context.Background(), target(t, ok)); err != nil {
		t.Fatal(err)
	}
	if err := Probe(context.Background(), target(t, bad)); err == nil {
		t.Fatal("probe accepted 502")
	}
	if _, err := Closed(context.Background(), Target{Addr: ok}, 1, time.Millisecond); err == nil {
		t.Fatal("empty corpus accepted")
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
	}
	r := Result{Latency: lat}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := r.Percentile(tt.q); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if (Result{}).Percentile(0.5) != 0 {
		t.Error("empty result has a percentile")
	}
}

// Traffic corpora get their ids per send: every churn request names a
// device never sent before, and typical members stay inside the population.
func TestSlotsAreFilledPerSend(t *testing.T) {
	t.Parallel()
	for _, kind := range []corpus.Kind{corpus.Churn, corpus.Typical} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			seen := map[string]int{}
			s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
				var batch []map[string]any
				if err := json.Unmarshal(ctx.PostBody(), &batch); err != nil || len(batch) == 0 {
					ctx.SetStatusCode(400)
					return
				}
				g, _ := batch[0]["g"].(string)
				mu.Lock()
				seen[g]++
				mu.Unlock()
			}}
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln) //nolint:errcheck // ends with Shutdown
			t.Cleanup(func() { _ = s.Shutdown() })
			reqs, err := corpus.Generate(kind, corpus.Options{Seed: 1, Variants: 20})
			if err != nil {
				t.Fatal(err)
			}
			const pop = 5
			res, err := Closed(context.Background(), Target{Addr: ln.Addr().String(), Requests: reqs, Population: pop, Timeout: 2 * time.Second}, 4, 150*time.Millisecond)
			if err != nil || res.Errors != 0 || res.OK < 50 {
				t.Fatalf("ok %d errors %d %v: %v", res.OK, res.Errors, res.Sample, err)
			}
			members := map[string]bool{}
			for m := range uint64(pop) {
				members[corpus.MemberDevice(1, m)] = true
			}
			var fresh, member int
			for g, n := range seen {
				switch {
				case members[g]:
					member += n
				case n != 1:
					t.Fatalf("fresh device %s sent %d times", g, n)
				default:
					fresh++
				}
			}
			if kind == corpus.Churn && member != 0 {
				t.Fatalf("churn sent %d requests from members", member)
			}
			if kind == corpus.Typical && (member == 0 || fresh == 0) {
				t.Fatalf("typical: %d member and %d fresh requests, want both", member, fresh)
			}
		})
	}
}

// A member sends about session requests before another takes its place, so
// about one member request in session is a device's first.
func TestMembersSessions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		session  int
		min, max int // distinct members in 10,000 draws
	}{{1, 9990, 10000}, {10, 800, 1250}} {
		w := newMembers()
		seen := map[uint64]bool{}
		for range 10000 {
			seen[w.next(1<<40, tt.session)] = true
		}
		if n := len(seen); n < tt.min || n > tt.max {
			t.Errorf("session %d: %d distinct members in 10,000 requests, want %d..%d", tt.session, n, tt.min, tt.max)
		}
	}
}
