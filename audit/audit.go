// Package audit writes one JSON line per request: what Consentry did, in
// counts, classes, rule ids and the policy revision. It never receives a
// field value or a raw identifier, so nothing it writes is personal data.
package audit

import (
	"bufio"
	"io"
	"strconv"
	"sync"
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

// Logger writes records as JSON lines. It is safe for concurrent use.
type Logger struct {
	mu   sync.Mutex
	w    *bufio.Writer
	buf  []byte
	done chan struct{}
	wg   sync.WaitGroup
}

// New returns a Logger writing to w, flushed every interval (and on Close).
// A nil w gives a Logger that discards.
func New(w io.Writer, interval time.Duration) *Logger {
	l := &Logger{done: make(chan struct{})}
	if w == nil {
		return l
	}
	l.w = bufio.NewWriterSize(w, 64<<10)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.mu.Lock()
				_ = l.w.Flush()
				l.mu.Unlock()
			case <-l.done:
				return
			}
		}
	}()
	return l
}

// Write appends r as one JSON line.
func (l *Logger) Write(r *Record) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	l.buf = AppendJSON(l.buf[:0], r)
	_, _ = l.w.Write(l.buf)
	l.mu.Unlock()
}

// Close flushes and stops the Logger.
func (l *Logger) Close() error {
	if l == nil || l.w == nil {
		return nil
	}
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
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
	b = strconv.AppendInt(b, int64(r.Status), 10)
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = masking.AppendQuote(b, []byte(r.Error))
	}
	b = append(b, `,"records_in":`...)
	b = strconv.AppendInt(b, int64(r.RecordsIn), 10)
	b = append(b, `,"records_out":`...)
	b = strconv.AppendInt(b, int64(r.RecordsOut), 10)
	b = append(b, `,"records_dropped":`...)
	b = strconv.AppendInt(b, int64(r.Suppressed+r.PolicyDropped), 10)
	b = append(b, `,"records_suppressed":`...)
	b = strconv.AppendInt(b, int64(r.Suppressed), 10)
	b = append(b, `,"answered_by_proxy":`...)
	b = strconv.AppendBool(b, r.Answered)
	if st := r.Stats; st != nil {
		b = append(b, `,"fields":`...)
		b = strconv.AppendInt(b, int64(st.Fields), 10)
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
			b = strconv.AppendInt(b, int64(n), 10)
		}
		b = append(b, '}')
		b = appendCounter(b, "classes", &st.Classes)
		b = appendCounter(b, "rules", &st.Rules)
		b = append(b, `,"findings":`...)
		b = strconv.AppendInt(b, int64(st.Findings), 10)
		if st.Errors > 0 {
			b = append(b, `,"transform_errors":`...)
			b = strconv.AppendInt(b, int64(st.Errors), 10)
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
				b = strconv.AppendInt(b, int64(n), 10)
			}
			b = append(b, '}')
		}
	}
	b = append(b, `,"policy_revision":`...)
	b = masking.AppendQuote(b, []byte(r.PolicyRevision))
	if r.UpstreamStatus != 0 {
		b = append(b, `,"upstream_status":`...)
		b = strconv.AppendInt(b, int64(r.UpstreamStatus), 10)
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
	c.Each(func(n string, count int) {
		if !first {
			b = append(b, ',')
		}
		first = false
		if n == "" {
			n = "unclassified"
		}
		b = masking.AppendQuote(b, []byte(n))
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(count), 10)
	})
	return append(b, '}')
}
