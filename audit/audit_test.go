package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/masking"
)

func TestAppendJSONIsValidAndHoldsNoValues(t *testing.T) {
	var st masking.Stats
	st.Fields = 3
	st.Actions[masking.ActionDrop] = 2
	st.Actions[masking.ActionKeep] = 1
	st.Classes.Add(masking.Intern("contact.email"), 2)
	st.Classes.Add(masking.Intern(""), 1)
	st.Rules.Add(masking.Intern(`gdpr."quoted"`), 3)
	st.Findings = 3
	st.FindingClasses.Add(masking.Intern("contact.email"), 2)
	st.FindingClasses.Add(masking.Intern("contact.phone"), 1)
	st.FindingRules.Add(masking.Intern("email"), 2)
	st.FindingRules.Add(masking.Intern("phone.intl"), 1)
	r := &Record{Time: time.Unix(1700000000, 0), Tenant: "acme", Format: "clevertap.sdk", Route: "/a1", Status: 200,
		RecordsIn: 4, RecordsOut: 3, PolicyDropped: 1, Duration: 1500 * time.Microsecond, PolicyRevision: "abc", Stats: &st}
	line := AppendJSON(nil, r)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("not JSON: %s", line)
	}
	if m["records_dropped"] != float64(1) || m["classes"].(map[string]any)["unclassified"] != float64(1) ||
		m["rules"].(map[string]any)[`gdpr."quoted"`] != float64(3) || m["duration_ms"] != 1.5 {
		t.Errorf("record %s", line)
	}
	if !bytes.Contains(line, []byte(`"findings":{"contact.email":2,"contact.phone":1},"finding_rules":{"email":2,"phone.intl":1},"findings_total":3`)) {
		t.Errorf("findings by class and rule missing: %s", line)
	}
	if !bytes.HasSuffix(line, []byte("\n")) {
		t.Error("no newline")
	}
}

func TestLoggerFlushesOnClose(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	l.Write(&Record{Tenant: "t"})
	if err := l.Close(); err != nil || !bytes.Contains(buf.Bytes(), []byte(`"tenant":"t"`)) {
		t.Fatalf("%v %q", err, buf.String())
	}
	var nilLogger *Logger
	nilLogger.Write(&Record{}) // discards
}

// blockedWriter never returns from Write until released: a stalled stdout.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// flakyWriter fails while failing is set: a full disk.
type flakyWriter struct {
	mu      sync.Mutex
	failing bool
	buf     bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		return 0, syscall.ENOSPC
	}
	return w.buf.Write(p)
}

func (w *flakyWriter) set(failing bool) {
	w.mu.Lock()
	w.failing = failing
	w.mu.Unlock()
}

func (w *flakyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStalledOutputNeverBlocksWrites: with an output that never returns,
// Write stays fast, lines beyond the queue are dropped and counted, the
// Logger turns unhealthy, and Close gives up after its bound.
func TestStalledOutputNeverBlocksWrites(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	defer close(w.release)
	l := New(w, WithQueue(16))
	l.stall = 20 * time.Millisecond
	r := &Record{Tenant: "t", Route: "/a1", Status: 200}
	start := time.Now()
	const n = 10000
	for range n {
		l.Write(r)
	}
	// Blocked writes would wait for the release at the test's end: any
	// bound far above the work itself shows they did not (a tight one
	// fails on a loaded machine).
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%d writes took %s with a stalled output", n, d)
	}
	// The stalled writer holds one batch (up to maxBatch bytes of lines it
	// took while the loop was filling the queue), the queue 16 more.
	held := uint64(16 + maxBatch/len(AppendJSON(nil, r)) + 2)
	if d := l.Dropped(); d < n-held || d > n {
		t.Errorf("dropped %d of %d lines with a queue of 16 (at most %d held)", d, n, held)
	}
	eventually(t, "unhealthy", func() bool { return strings.Contains(l.Healthy(), "has not accepted a write") })
	start = time.Now()
	if err := l.CloseTimeout(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "cannot flush") {
		t.Errorf("Close = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %s with a timeout of 50ms", d)
	}
}

// TestFailingOutputIsCountedAndRecovers: write errors are counted and make
// the Logger unhealthy; the failed batch is retried, and nothing is lost
// once the output accepts writes again.
func TestFailingOutputIsCountedAndRecovers(t *testing.T) {
	w := &flakyWriter{failing: true}
	l := New(w)
	l.retry = 5 * time.Millisecond
	l.Write(&Record{Tenant: "first"})
	eventually(t, "a write error", func() bool { return l.WriteErrors() > 0 })
	if h := l.Healthy(); !strings.Contains(h, "fails to write") {
		t.Errorf("Healthy() = %q", h)
	}
	w.set(false)
	l.Write(&Record{Tenant: "second"})
	eventually(t, "recovery", func() bool { return l.Healthy() == "" && strings.Contains(w.String(), `"tenant":"second"`) })
	if !strings.Contains(w.String(), `"tenant":"first"`) || l.Dropped() != 0 {
		t.Errorf("lost lines: dropped %d, written %q", l.Dropped(), w.String())
	}
	// Failing at Close: one attempt, the lines are counted as dropped.
	w.set(true)
	l.Write(&Record{Tenant: "third"})
	if err := l.Close(); err == nil || !strings.Contains(err.Error(), "cannot write the audit log") {
		t.Errorf("Close = %v", err)
	}
	if l.Dropped() == 0 {
		t.Error("lines lost at Close not counted")
	}
}

func TestAppendInt(t *testing.T) {
	for _, n := range []int{-100, -10, -1, 0, 1, 9, 10, 42, 99, 100, 101, 999, 1 << 40} {
		if got, want := string(appendInt([]byte("x"), n)), "x"+strconv.Itoa(n); got != want {
			t.Errorf("appendInt(%d) = %s, want %s", n, got, want)
		}
	}
}
