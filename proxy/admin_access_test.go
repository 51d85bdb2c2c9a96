package proxy

import (
	"errors"
	"iter"
	"testing"

	"github.com/consentry/consentry/rights"
)

// synthLog is a rights log of n entries; every third is subject "s".
func synthLog(n int, failAt int) iter.Seq2[rights.LogEntry, error] {
	return func(yield func(rights.LogEntry, error) bool) {
		for i := 1; i <= n; i++ {
			if i == failAt {
				yield(rights.LogEntry{}, errors.New("store unavailable"))
				return
			}
			e := rights.LogEntry{Seq: uint64(i), Tenant: "acme", Subject: "other"}
			if i%3 == 0 {
				e.Subject = "s"
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func TestLastEntries(t *testing.T) {
	match := func(e rights.LogEntry) bool { return e.Subject == "s" }
	for _, tc := range []struct {
		name      string
		n, max    int
		wantFirst uint64 // Seq of the oldest kept
		wantLen   int
		truncated bool
	}{
		{"empty", 0, 4, 0, 0, false},
		{"fewer than max", 9, 4, 3, 3, false},
		{"exactly max", 12, 4, 3, 4, false},
		{"one more than max", 15, 4, 6, 4, true},
		{"many more, ring wrapped unevenly", 3*1000 + 2*3, 1000, 3 * 3, 1000, true},
		{"many more, ring wrapped evenly", 3 * 2500, 1000, 3 * 1501, 1000, true},
	} {
		got, truncated, err := lastEntries(synthLog(tc.n, -1), match, tc.max)
		if err != nil || len(got) != tc.wantLen || truncated != tc.truncated {
			t.Errorf("%s: %d entries, truncated %v, %v", tc.name, len(got), truncated, err)
			continue
		}
		for i, e := range got {
			if want := tc.wantFirst + uint64(3*i); e.Seq != want || e.Subject != "s" {
				t.Errorf("%s: entry %d is seq %d (%s), want %d", tc.name, i, e.Seq, e.Subject, want)
				break
			}
		}
	}
	if _, _, err := lastEntries(synthLog(100, 50), match, 4); err == nil {
		t.Error("a log error is not returned")
	}
}

// BenchmarkLastEntries: 100,000 log entries, a third of them the
// subject's, the most recent 1000 kept.
func BenchmarkLastEntries(b *testing.B) {
	match := func(e rights.LogEntry) bool { return e.Subject == "s" }
	log := synthLog(100_000, -1)
	b.ReportAllocs()
	for b.Loop() {
		lastEntries(log, match, maxAccessLogEntries)
	}
}
