// Package load is the harness's load generator, built on the fasthttp
// client so that it costs the shared CPU as little as possible.
//
// Closed runs keep N connections busy for a fixed time and measure
// throughput. Open runs send at a fixed rate on a precomputed schedule and
// measure each request's latency from its intended send time, so a
// contender that stalls is charged for the requests that queued behind the
// stall (no coordinated omission); only the generator's own timer lateness
// is left out, and reported separately (see Open). Every response is checked for status 200;
// anything else, and every transport error, counts as an error. Every loop
// ends by a deadline: no request waits longer than Timeout, and an open run
// stops starting requests Grace after its duration and counts the rest as
// unsent.
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/valyala/fasthttp"
)

// Target is what to send and where.
type Target struct {
	Addr     string // "127.0.0.1:8080"
	Requests []corpus.Request
	Timeout  time.Duration // per request; default 10 s
	// Population is the number of members a request with member slots
	// draws from (corpus.Slot); 0 means 1.
	Population uint64
	// Session is the mean number of requests a member sends in a row
	// (an app session of SDK flushes) before another member, drawn
	// uniformly from the population, takes its place; ≤ 1: every request
	// draws anew.
	Session int
}

// fresh numbers every request with fresh slots in this process, so that a
// "never seen" id is never sent twice, whichever contender gets it.
var fresh atomic.Uint64

// Result of one run.
type Result struct {
	OK       int64
	Errors   int64
	Unsent   int64         // open runs: scheduled but never started
	Elapsed  time.Duration // from the first scheduled send to the last answer
	Sample   map[string]int64
	Latency  []time.Duration // open runs: sorted, one per scheduled request
	SendLag  []time.Duration // open runs: sorted timer lateness of the sent requests
	Overload bool            // open runs: some latencies are lower bounds (unsent or timed out)
}

// RPS is successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the q-quantile (0..1) of the latencies, nearest rank.
func (r Result) Percentile(q float64) time.Duration { return quantile(r.Latency, q) }

// LagPercentile returns the q-quantile of the send lag.
func (r Result) LagPercentile(q float64) time.Duration { return quantile(r.SendLag, q) }

func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// maxSampleKinds bounds the error breakdown; errors and status codes never
// contain payload values.
const maxSampleKinds = 8

type counter struct {
	ok, errs atomic.Int64
	mu       sync.Mutex
	sample   map[string]int64
}

func (c *counter) fail(kind string) {
	c.errs.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sample == nil {
		c.sample = map[string]int64{}
	}
	if _, ok := c.sample[kind]; ok || len(c.sample) < maxSampleKinds {
		c.sample[kind]++
	}
}

func errKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connections"
	}
	var s string = err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// client builds a HostClient with exactly conns connections.
func client(t Target, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          t.Addr,
		MaxConns:                      conns,
		MaxIdleConnDuration:           time.Minute,
		ReadTimeout:                   t.timeout(),
		WriteTimeout:                  t.timeout(),
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxResponseBodySize:           16 << 20,
	}
}

func (t Target) timeout() time.Duration {
	if t.Timeout <= 0 {
		return 10 * time.Second
	}
	return t.Timeout
}

// prepared is a corpus request turned into what fasthttp needs.
type prepared struct {
	uri     string
	method  string
	headers []corpus.Header
	body    []byte
	slots   []corpus.Slot
	pop     uint64
	session int
}

func prepare(t Target) ([]prepared, error) {
	if len(t.Requests) == 0 {
		return nil, errors.New("cannot run load: empty corpus")
	}
	out := make([]prepared, len(t.Requests))
	for i, r := range t.Requests {
		out[i] = prepared{uri: "http://" + t.Addr + r.Path, method: r.Method, headers: r.Headers, body: r.Body, slots: r.Slots, pop: max(t.Population, 1), session: t.Session}
	}
	return out, nil
}

func (p *prepared) fill(req *fasthttp.Request, mem *members) {
	req.Reset()
	req.Header.DisableNormalizing()
	req.SetRequestURI(p.uri)
	req.Header.SetMethod(p.method)
	for _, h := range p.headers {
		req.Header.Set(h.Name, h.Value)
	}
	if len(p.slots) == 0 {
		// The body is shared by all workers and never written by the client.
		req.SetBodyRaw(p.body)
		return
	}
	// A copy in the request's own buffer, with this send's ids.
	req.SetBody(p.body)
	corpus.Fill(req.Body(), p.slots, mem.next(p.pop, p.session), fresh.Add(1))
}

// members draws the population member of each request of one worker. It
// keeps a few members in session; each request continues one of them, and
// with probability 1/session that member's session ends first and a member
// drawn uniformly from the population takes its place. So about one member
// request in session is a device's first of the day, as in production,
// where an app sends several batches per session.
type members struct {
	rng    *rand.Rand
	active [8]uint64
	n      int
}

func newMembers() *members {
	return &members{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (w *members) next(pop uint64, session int) uint64 {
	if session <= 1 {
		return w.rng.Uint64N(pop)
	}
	if w.n < len(w.active) {
		w.active[w.n] = w.rng.Uint64N(pop)
		w.n++
		return w.active[w.n-1]
	}
	i := w.rng.IntN(len(w.active))
	if w.rng.IntN(session) == 0 {
		w.active[i] = w.rng.Uint64N(pop)
	}
	return w.active[i]
}

// do sends one request and classifies the outcome.
func do(c *fasthttp.HostClient, p *prepared, req *fasthttp.Request, resp *fasthttp.Response, mem *members, timeout time.Duration, cnt *counter) bool {
	p.fill(req, mem)
	err := c.DoDeadline(req, resp, time.Now().Add(timeout))
	switch {
	case err != nil:
		cnt.fail(errKind(err))
		return false
	case resp.StatusCode() != fasthttp.StatusOK:
		cnt.fail("status " + strconv.Itoa(resp.StatusCode()))
		return false
	}
	cnt.ok.Add(1)
	return true
}

// Closed keeps conns requests in flight for d and returns the throughput.
func Closed(ctx context.Context, t Target, conns int, d time.Duration) (Result, error) {
	reqs, err := prepare(t)
	if err != nil {
		return Result{}, err
	}
	if conns <= 0 {
		return Result{}, fmt.Errorf("cannot run load: %d connections", conns)
	}
	c := client(t, conns)
	defer c.CloseIdleConnections()
	var cnt counter
	var next atomic.Uint64
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			mem := newMembers()
			for ctx.Err() == nil && time.Now().Before(end) {
				i := next.Add(1) - 1
				do(c, &reqs[i%uint64(len(reqs))], req, resp, mem, t.timeout(), &cnt)
			}
		})
	}
	wg.Wait()
	return Result{OK: cnt.ok.Load(), Errors: cnt.errs.Load(), Elapsed: time.Since(start), Sample: cnt.sample}, ctx.Err()
}

// Open sends rate requests per second for d over up to workers
// connections and returns one latency per scheduled request.
//
// Each worker claims the next slot of the schedule when it is free and
// sleeps until the slot's intended time. A slot claimed after its intended
// time waited for a free connection, i.e. for the contender: that wait is
// added to its latency (no coordinated omission). The timer's own lateness
// (Go sleeps wake up to ~1 ms late on an idle scheduler) is not the
// contender's doing and is left out; it is reported as SendLag instead.
// Slots not started by d+grace count as unsent, with their wait so far as a
// lower-bound latency.
func Open(ctx context.Context, t Target, rate float64, d time.Duration, workers int, grace time.Duration) (Result, error) {
	reqs, err := prepare(t)
	if err != nil {
		return Result{}, err
	}
	if rate <= 0 || workers <= 0 {
		return Result{}, fmt.Errorf("cannot run load: rate %.0f/s with %d workers", rate, workers)
	}
	total := int64(rate * d.Seconds())
	if total < 1 {
		total = 1
	}
	interval := time.Duration(float64(time.Second) / rate)
	c := client(t, workers)
	defer c.CloseIdleConnections()
	warm(ctx, c, t, reqs, workers)
	var cnt counter
	var next atomic.Int64
	lat := make([]time.Duration, total) // indexed by schedule slot
	lag := make([]time.Duration, total)
	done := make([]bool, total)
	start := time.Now().Add(5 * time.Millisecond) // let the workers start
	stopAt := start.Add(d + grace)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			mem := newMembers()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				claimed := time.Now()
				intended := start.Add(time.Duration(i) * interval)
				if wait := intended.Sub(claimed); wait > 0 {
					time.Sleep(wait)
				} else if claimed.After(stopAt) {
					next.Store(total) // give up on the backlog
					return
				}
				sent := time.Now()
				do(c, &reqs[i%int64(len(reqs))], req, resp, mem, t.timeout(), &cnt)
				backlog := max(claimed.Sub(intended), 0)
				lat[i] = time.Since(sent) + backlog
				lag[i] = sent.Sub(intended) - backlog
				done[i] = true
			}
		})
	}
	wg.Wait()
	end := time.Now()
	res := Result{OK: cnt.ok.Load(), Errors: cnt.errs.Load(), Elapsed: end.Sub(start), Sample: cnt.sample}
	lags := make([]time.Duration, 0, total)
	for i := range total {
		if !done[i] {
			res.Unsent++
			lat[i] = max(end.Sub(start.Add(time.Duration(i)*interval)), 0)
			continue
		}
		lags = append(lags, lag[i])
	}
	res.Overload = res.Unsent > 0 || res.Sample["timeout"] > 0
	slices.Sort(lat)
	slices.Sort(lags)
	res.Latency = lat
	res.SendLag = lags
	return res, ctx.Err()
}

// warm opens the run's connections before the schedule starts, so that no
// measured request pays for a TCP handshake.
func warm(ctx context.Context, c *fasthttp.HostClient, t Target, reqs []prepared, n int) {
	var wg sync.WaitGroup
	var cnt counter
	for w := range n {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			if ctx.Err() == nil {
				do(c, &reqs[w%len(reqs)], req, resp, newMembers(), t.timeout(), &cnt)
			}
		})
	}
	wg.Wait()
}

// Probe sends every request of the corpus once and returns an error for
// the first one not answered with 200, so that a misconfigured contender is
// reported before any measurement.
func Probe(ctx context.Context, t Target) error {
	reqs, err := prepare(t)
	if err != nil {
		return err
	}
	c := client(t, 1)
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	mem := newMembers()
	for i := range reqs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var cnt counter
		if !do(c, &reqs[i], req, resp, mem, t.timeout(), &cnt) {
			for k := range cnt.sample {
				return fmt.Errorf("request %d of %d: %s", i+1, len(reqs), k)
			}
		}
	}
	return nil
}
