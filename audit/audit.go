// Package audit writes one JSON line per request: what Consentry did, in
// counts, classes, rule ids and the policy revision. It never receives a
// field value or a raw identifier, so nothing it writes is personal data.
package audit

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
)

// Record is one request's decision record.
type Record struct {
	Time           time.Time
	Tenant         string
	Format         string
	Route          string
	Status         int
	Error          string // stable error code, "" on success
	RecordsIn      int
	RecordsOut     int
	Suppressed     int
	PolicyDropped  int
	Answered       bool // Consentry answered itself (all records dropped)
	UpstreamStatus int
	Duration       time.Duration
	PolicyRevision string
	Stats          *masking.Stats
}

// Audit writer bounds.
const (
	// DefaultQueueLines is how many encoded lines wait for the writer; when
	// the queue is full, new lines are dropped and counted, never waited for.
	DefaultQueueLines = 4096
	// DefaultFlushTimeout bounds Close: lines still queued after it are lost.
	DefaultFlushTimeout = 5 * time.Second
	// StallAfter: a write that has not returned for this long makes the
	// output unhealthy (a stalled stdout pipe).
	StallAfter = 5 * time.Second
	// retryInterval is the pause before a failed write is retried.
	retryInterval = time.Second
	// maxBatch is the size of one write; maxPooled the largest line buffer
	// kept for reuse.
	maxBatch  = 64 << 10
	maxPooled = 64 << 10
)

// Logger writes records as JSON lines, asynchronously: Write encodes the
// record and queues the line without ever blocking; one goroutine writes
// queued lines in batches. Memory is bounded by the queue. A full queue
// drops lines (Dropped counts them); a failed write is counted
// (WriteErrors), makes the Logger unhealthy and is retried until it
// succeeds or the Logger closes. It is safe for concurrent use.
type Logger struct {
	w     io.Writer
	queue chan *[]byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	batch []byte

	dropped     atomic.Uint64
	writeErrors atomic.Uint64
	failing     atomic.Bool
	writing     atomic.Int64 // unix nanos when the current write began; 0 when idle
	stall       time.Duration
	retry       time.Duration
}

// Option configures a Logger.
type Option func(*Logger)

// WithQueue sets the queue length in lines (default DefaultQueueLines).
func WithQueue(lines int) Option {
	return func(l *Logger) {
		if lines > 0 {
			l.queue = make(chan *[]byte, lines)
		}
	}
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func putLine(b *[]byte) {
	if cap(*b) <= maxPooled {
		linePool.Put(b)
	}
}

// New returns a Logger writing to w. A nil w gives a Logger that discards.
func New(w io.Writer, opts ...Option) *Logger {
	l := &Logger{w: w, stop: make(chan struct{}), done: make(chan struct{}), stall: StallAfter, retry: retryInterval}
	if w == nil {
		close(l.done)
		return l
	}
	for _, o := range opts {
		o(l)
	}
	if l.queue == nil {
		l.queue = make(chan *[]byte, DefaultQueueLines)
	}
	go l.run()
	return l
}

// Write queues r as one JSON line. It never blocks: when the queue is
// full the line is dropped and counted.
func (l *Logger) Write(r *Record) {
	if l == nil || l.w == nil {
		return
	}
	b := linePool.Get().(*[]byte)
	*b = AppendJSON((*b)[:0], r)
	select {
	case l.queue <- b:
	default:
		l.dropped.Add(1)
		putLine(b)
	}
}

func (l *Logger) run() {
	defer close(l.done)
	for {
		select {
		case b := <-l.queue:
			l.writeBatch(b, false)
		case <-l.stop:
			for {
				select {
				case b := <-l.queue:
					l.writeBatch(b, true)
				default:
					return
				}
			}
		}
	}
}

// writeBatch writes first and whatever else is queued, up to maxBatch
// bytes, in one write. A failed write is retried every l.retry until it
// succeeds or the Logger stops (final: one attempt only).
func (l *Logger) writeBatch(first *[]byte, final bool) {
	l.batch = append(l.batch[:0], *first...)
	putLine(first)
	lines := uint64(1)
fill:
	for len(l.batch) < maxBatch {
		select {
		case b := <-l.queue:
			l.batch = append(l.batch, *b...)
			putLine(b)
			lines++
		default:
			break fill
		}
	}
	for off := 0; ; {
		l.writing.Store(time.Now().UnixNano())
		n, err := l.w.Write(l.batch[off:])
		l.writing.Store(0)
		if err == nil {
			l.failing.Store(false)
			break
		}
		off += n
		l.writeErrors.Add(1)
		l.failing.Store(true)
		if final {
			l.dropped.Add(lines)
			break
		}
		select {
		case <-time.After(l.retry):
		case <-l.stop:
			final = true
		}
	}
	if cap(l.batch) > 4*maxBatch {
		l.batch = nil
	}
}

// Dropped counts lines lost: queue full, or a write that failed at Close.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// WriteErrors counts failed write attempts.
func (l *Logger) WriteErrors() uint64 { return l.writeErrors.Load() }

// Healthy returns "" while the output accepts lines, or why it does not:
// the last write failed, or a write has not returned for StallAfter.
func (l *Logger) Healthy() string {
	if l == nil || l.w == nil {
		return ""
	}
	if l.failing.Load() {
		return "the audit output (audit.output) fails to write; lines are retried, then dropped"
	}
	if t := l.writing.Load(); t != 0 && time.Since(time.Unix(0, t)) > l.stall {
		return "the audit output (audit.output) has not accepted a write for " + time.Since(time.Unix(0, t)).Round(time.Second).String()
	}
	return ""
}

// Close writes the queued lines and stops the Logger, waiting at most
// DefaultFlushTimeout.
func (l *Logger) Close() error { return l.CloseTimeout(DefaultFlushTimeout) }

// CloseTimeout is Close waiting at most d for the queued lines.
func (l *Logger) CloseTimeout(d time.Duration) error {
	if l == nil || l.w == nil {
		return nil
	}
	l.once.Do(func() { close(l.stop) })
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
		return fmt.Errorf("cannot flush the audit log (audit.output) within %s: about %d queued lines are lost", d, len(l.queue))
	}
	if l.failing.Load() {
		return fmt.Errorf("cannot write the audit log (audit.output): %d lines dropped", l.dropped.Load())
	}
	return nil
}

// AppendJSON appends r as a JSON object and a newline.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","tenant":`...)
	b = masking.AppendQuote(b, []byte(r.Tenant))
	b = append(b, `,"format":`...)
	b = masking.AppendQuote(b, []byte(r.Format))
	b = append(b, `,"route":`...)
	b = masking.AppendQuote(b, []byte(r.Route))
	b = append(b, `,"status":`...)
	b = appendInt(b, r.Status)
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = masking.AppendQuote(b, []byte(r.Error))
	}
	b = append(b, `,"records_in":`...)
	b = appendInt(b, r.RecordsIn)
	b = append(b, `,"records_out":`...)
	b = appendInt(b, r.RecordsOut)
	b = append(b, `,"records_dropped":`...)
	b = appendInt(b, r.Suppressed+r.PolicyDropped)
	b = append(b, `,"records_suppressed":`...)
	b = appendInt(b, r.Suppressed)
	b = append(b, `,"answered_by_proxy":`...)
	b = strconv.AppendBool(b, r.Answered)
	if st := r.Stats; st != nil {
		b = append(b, `,"fields":`...)
		b = appendInt(b, st.Fields)
		b = append(b, `,"actions":{`...)
		first := true
		for a, n := range st.Actions {
			if n == 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = masking.AppendQuote(b, []byte(masking.Action(a).String()))
			b = append(b, ':')
			b = appendInt(b, n)
		}
		b = append(b, '}')
		b = appendCounter(b, "classes", &st.Classes)
		b = appendCounter(b, "rules", &st.Rules)
		// Findings of the content detectors that scan replaced: by
		// detector class, by detector rule, and in total.
		b = appendCounter(b, "findings", &st.FindingClasses)
		b = appendCounter(b, "finding_rules", &st.FindingRules)
		b = append(b, `,"findings_total":`...)
		b = appendInt(b, st.Findings)
		if st.Errors > 0 {
			b = append(b, `,"transform_errors":`...)
			b = appendInt(b, st.Errors)
		}
		if st.Budget.Any() {
			// Budgets that ran out: fields dropped (rule consentry.budget)
			// or the request refused, by budget.
			b = append(b, `,"budget_exceeded":{`...)
			first := true
			for k, n := range st.Budget.Exceeded {
				if n == 0 {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = append(b, '"')
				b = append(b, budget.Kind(k).String()...)
				b = append(b, `":`...)
				b = appendInt(b, n)
			}
			b = append(b, '}')
		}
	}
	b = append(b, `,"policy_revision":`...)
	b = masking.AppendQuote(b, []byte(r.PolicyRevision))
	if r.UpstreamStatus != 0 {
		b = append(b, `,"upstream_status":`...)
		b = appendInt(b, r.UpstreamStatus)
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', 3, 64)
	return append(b, "}\n"...)
}

func appendCounter(b []byte, name string, c *masking.Counter) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":{`...)
	first := true
	c.EachQuoted(func(q string, count int) {
		if !first {
			b = append(b, ',')
		}
		first = false
		if q == `""` {
			q = `"unclassified"`
		}
		b = append(b, q...)
		b = append(b, ':')
		b = appendInt(b, count)
	})
	return append(b, '}')
}

// appendInt is strconv.AppendInt for the audit line's counts, most of
// which are below 100.
func appendInt(b []byte, n int) []byte {
	switch {
	case n >= 0 && n < 10:
		return append(b, byte('0'+n))
	case n >= 10 && n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	}
	return strconv.AppendInt(b, int64(n), 10)
}
