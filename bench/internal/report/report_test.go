package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sampleRun() *Run {
	r := &Run{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: "go run ./bench -rounds 2",
		Machine: Machine{CPUModel: "Test CPU", Cores: 2, OS: "linux", Arch: "amd64"}, Go: "go1.26.8", Commit: "abc123",
		Flags:   map[string]string{"conns": "32", "rounds": "2", "duration": "5s"},
		Corpus:  Corpus{Kind: "sdk10", Seed: 1, Variants: 16, Records: 10, AvgBodyBytes: 3100},
		Pinning: "test", Rate: 10000, RateSource: "half of passthrough's closed-loop capacity",
	}
	round := func(n int, phase string, rps, cpu, p50, p99 float64) Round {
		return Round{Round: n, Phase: phase, OK: 100, RPS: rps, CPUUs: cpu, P50Us: p50, P90Us: p50 * 2, P99Us: p99, MaxUs: p99 * 2}
	}
	pass := &Contender{Name: "passthrough", Status: StatusOK, Rounds: []Round{
		round(1, PhaseClosed, 20000, 20, 0, 0), round(2, PhaseClosed, 22000, 22, 0, 0),
		round(1, PhaseOpen, 10000, 20, 300, 1200), round(2, PhaseOpen, 10000, 21, 320, 1400),
	}}
	cons := &Contender{Name: "consentry", Status: StatusOK, Rounds: []Round{
		round(1, PhaseClosed, 16000, 26, 0, 0), round(2, PhaseClosed, 16800, 25, 0, 0),
		round(1, PhaseOpen, 10000, 26, 350, 1500), round(2, PhaseOpen, 10000, 25, 360, 1700),
	}}
	naive := &Contender{Name: "naive", Status: StatusOK, Rounds: []Round{
		round(1, PhaseClosed, 400, 2500, 0, 0), round(2, PhaseClosed, 420, 2400, 0, 0),
		{Round: 1, Phase: PhaseOpen, OK: 900, Unsent: 40000, RPS: 400, P50Us: 2.5e6, P90Us: 4e6, P99Us: 5e6, MaxUs: 5.5e6, Overload: true},
	}}
	r.Contenders = []*Contender{pass, cons, naive, {Name: "nginx", Status: StatusSkipped, Note: "nginx not on PATH"}}
	for _, c := range r.Contenders {
		c.Summarize()
	}
	r.ComputeRatios()
	r.Notes = []string{"a note"}
	return r
}

func TestSummaryAndRatios(t *testing.T) {
	t.Parallel()
	r := sampleRun()
	pass, cons, naive := r.Contenders[0], r.Contenders[1], r.Contenders[2]
	if pass.Closed.RPS != 21000 || pass.Closed.CPUUs != 21 || pass.Open.P99Us != 1300 {
		t.Fatalf("passthrough medians %+v %+v", pass.Closed, pass.Open)
	}
	if got := cons.Ratios.RPSToPassthrough; got != 16400.0/21000 {
		t.Errorf("consentry ratio %v", got)
	}
	if got := cons.Ratios.AddedP99UsVsPass; got != 300 {
		t.Errorf("added p99 %v, want 300", got)
	}
	if got := cons.Ratios.RPSToNaive; got != 16400.0/410 {
		t.Errorf("ratio to naive %v", got)
	}
	if naive.Errors.Unsent != 40000 || !naive.Open.Overload {
		t.Errorf("naive errors %+v open %+v", naive.Errors, naive.Open)
	}
	if r.Contenders[3].Ratios != nil {
		t.Error("skipped contender has ratios")
	}
}

func TestMarkdownGolden(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sampleRun().Markdown(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "table.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("Markdown differs from %s (go test -update):\n%s", path, b.String())
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jp, mp, err := sampleRun().Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(jp, "20260102T030405Z-sdk10.json") || !strings.HasSuffix(mp, ".md") {
		t.Fatalf("paths %s %s", jp, mp)
	}
	raw, _ := os.ReadFile(jp)
	var back Run
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Contenders) != 4 || back.Contenders[1].Ratios == nil {
		t.Fatalf("round trip: %v %+v", err, back.Contenders)
	}
}

func TestFormatLatency(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		us   float64
		want string
	}{{0, "–"}, {412.4, "412 µs"}, {1234, "1.23 ms"}, {56789, "56.8 ms"}, {2.5e6, "2.5 s"}} {
		if got := FormatLatency(tt.us); got != tt.want {
			t.Errorf("FormatLatency(%v) = %q, want %q", tt.us, got, tt.want)
		}
	}
}

func TestPerReq(t *testing.T) {
	t.Parallel()
	if got := PerReq(2*time.Second, 100000); got != 20 {
		t.Errorf("PerReq = %v, want 20", got)
	}
	if PerReq(time.Second, 0) != 0 || PerReq(-time.Second, 5) != 0 {
		t.Error("PerReq of nothing is not 0")
	}
}
