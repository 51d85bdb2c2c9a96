package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/bench/internal/report"
)

// TestMain lets the test binary serve as the harness's helper processes:
// the harness re-executes os.Executable() with BENCH_ROLE set.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness with tiny durations, once per corpus of
// -smoke (dense, typical and churn, against a small pre-grown registry), and
// checks that every contender answered without errors and that both outputs
// are well-formed. It asserts no timings.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	out := t.TempDir()
	args := []string{"-smoke", "-out", out, "-registry-cache", t.TempDir(), "-contenders", "direct,passthrough,naive,consentry,nginx"}
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	runs, err := runAll(ctx, cfg, &stdout, &stderr)
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, stderr.String())
	}
	t.Logf("progress:\n%s\ntable:\n%s", stderr.String(), stdout.String())
	var kinds []string
	for _, run := range runs {
		kinds = append(kinds, run.Corpus.Kind)
		checkRun(t, run)
	}
	if strings.Join(kinds, ",") != "dense,typical,churn" {
		t.Fatalf("smoke ran corpora %v, want dense, typical, churn", kinds)
	}
	for _, part := range strings.Split(stdout.String(), "\n\n| contender")[1:] {
		checkMarkdown(t, "| contender"+part, len(runs[0].Contenders))
	}
	checkFiles(t, out, runs)
}

func checkRun(t *testing.T, run *report.Run) {
	t.Helper()
	if run.Registry == nil || run.Registry.Members != 2000 {
		t.Errorf("%s: registry %+v, want 2000 pre-grown members", run.Corpus.Kind, run.Registry)
	}
	for _, c := range run.Contenders {
		switch {
		case c.Name == cConsentry && c.Status == report.StatusNotBuilt:
			t.Logf("consentry not built, not asserted: %s", c.Note)
			continue
		case c.Name == cNginx && c.Status == report.StatusSkipped:
			if _, err := exec.LookPath("nginx"); err == nil {
				t.Errorf("nginx is on PATH but was skipped: %s", c.Note)
			}
			continue
		case c.Status != report.StatusOK:
			t.Errorf("%s: status %s: %s", c.Name, c.Status, c.Note)
			continue
		}
		phases := map[string]bool{}
		for _, r := range c.Rounds {
			phases[r.Phase] = true
			if r.OK == 0 || r.Errors != 0 || r.Unsent != 0 {
				t.Errorf("%s %s round %d %s: ok %d errors %d unsent %d (%v)", run.Corpus.Kind, c.Name, r.Round, r.Phase, r.OK, r.Errors, r.Unsent, r.Kinds)
			}
		}
		if !phases[report.PhaseClosed] || !phases[report.PhaseOpen] {
			t.Errorf("%s %s: phases measured %v, want closed and open", run.Corpus.Kind, c.Name, phases)
		}
	}
}

func checkMarkdown(t *testing.T, md string, contenders int) {
	t.Helper()
	var rows []string
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "|") {
			rows = append(rows, l)
		} else if len(rows) > 0 {
			break
		}
	}
	if len(rows) != contenders+2 {
		t.Fatalf("table has %d lines, want header + separator + %d rows:\n%s", len(rows), contenders, md)
	}
	if !strings.HasPrefix(rows[0], "| contender | req/s | × passthrough | CPU-µs/req | p50 | p90 | p99 | max | errors |") {
		t.Errorf("unexpected header %q", rows[0])
	}
	for _, r := range rows {
		if n := strings.Count(r, "|"); n != 10 {
			t.Errorf("row has %d cells, want 9: %q", n-1, r)
		}
	}
}

func checkFiles(t *testing.T, dir string, runs []*report.Run) {
	t.Helper()
	for _, run := range runs {
		checkFilesOf(t, dir, run)
	}
}

func checkFilesOf(t *testing.T, dir string, run *report.Run) {
	t.Helper()
	kind := run.Corpus.Kind
	js, _ := filepath.Glob(filepath.Join(dir, "*-"+kind+".json"))
	mds, _ := filepath.Glob(filepath.Join(dir, "*-"+kind+".md"))
	if len(js) != 1 || len(mds) != 1 {
		t.Fatalf("results: %d JSON and %d Markdown files for %s, want 1 each", len(js), len(mds), kind)
	}
	raw, err := os.ReadFile(js[0])
	if err != nil {
		t.Fatal(err)
	}
	var got report.Run
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if got.Machine.Cores == 0 || got.Go == "" || got.Commit == "" || got.Corpus.Kind != kind || got.Rate <= 0 || got.Flags["duration"] != "300ms" {
		t.Errorf("results JSON lacks run facts: machine %+v go %q commit %q corpus %+v rate %v", got.Machine, got.Go, got.Commit, got.Corpus, got.Rate)
	}
	if len(got.Contenders) != len(run.Contenders) {
		t.Errorf("results JSON has %d contenders, want %d", len(got.Contenders), len(run.Contenders))
	}
	for _, c := range got.Contenders {
		if c.Name == cPassthrough && (c.Ratios == nil || c.Ratios.RPSToPassthrough != 1) {
			t.Errorf("passthrough ratio to itself = %+v, want 1", c.Ratios)
		}
	}
	md, err := os.ReadFile(mds[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("| contender |")) || !bytes.Contains(md, []byte("go run ./bench -smoke")) {
		t.Errorf("results Markdown lacks the table or the command:\n%s", md)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		check   func(*config) bool
		wantErr bool
	}{
		{"defaults", nil, func(c *config) bool {
			return c.duration == 5*time.Second && c.rounds == 3 && c.corpus == "dense" && len(c.corpora) == 1 && c.registrySize == 1_000_000 && len(c.contenders) == 5 && c.rate == 0
		}, false},
		{"smoke", []string{"-smoke"}, func(c *config) bool {
			return c.duration == 300*time.Millisecond && c.rounds == 1 && c.rate == 25 && c.registrySize == 2000 &&
				fmt.Sprint(c.corpora) == "[dense typical churn]"
		}, false},
		{"corpus list and alias", []string{"-corpus", "sdk10,churn,dense"}, func(c *config) bool {
			return fmt.Sprint(c.corpora) == "[dense churn]" && c.corpus == "dense"
		}, false},
		{"negative registry", []string{"-registry-size", "-1"}, nil, true},
		{"explicit flag beats smoke", []string{"-smoke", "-rounds", "2", "-rate", "50"}, func(c *config) bool {
			return c.rounds == 2 && c.rate == 50 && c.duration == 300*time.Millisecond
		}, false},
		{"sink alias and order", []string{"-contenders", "naive,sink,naive"}, func(c *config) bool {
			return strings.Join(c.contenders, ",") == "naive,direct"
		}, false},
		{"corpus", []string{"-corpus", "rest100"}, func(c *config) bool { return c.corpus == "rest100" }, false},
		{"bad corpus", []string{"-corpus", "sdk7"}, nil, true},
		{"bad contender", []string{"-contenders", "envoy"}, nil, true},
		{"zero rounds", []string{"-rounds", "0"}, nil, true},
		{"negative rate", []string{"-rate", "-1"}, nil, true},
		{"stray argument", []string{"now"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sink bytes.Buffer
			c, err := parseFlags(tt.args, &sink)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestRoleFromArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		role     string
		rest     int
		wantRole bool
	}{
		{[]string{"-role", "sink", "-listen", "127.0.0.1:0"}, "sink", 2, true},
		{[]string{"--role=naive"}, "naive", 0, true},
		{[]string{"-role=passthrough", "-upstream", "x"}, "passthrough", 2, true},
		{[]string{"-role"}, "", 0, false},
		{[]string{"role", "sink"}, "", 0, false},
		{[]string{"-smoke"}, "", 0, false},
		{nil, "", 0, false},
	}
	for _, tt := range tests {
		role, rest, ok := roleFromArgs(tt.args)
		if ok != tt.wantRole || role != tt.role || len(rest) != tt.rest {
			t.Errorf("roleFromArgs(%q) = %q, %q, %v", tt.args, role, rest, ok)
		}
	}
}

func TestDump(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := parseFlags([]string{"-dump", dir, "-variants", "2"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if _, err := runHarness(context.Background(), cfg, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if want := 6*2 + 1; len(files) != want { // 6 kinds × 2 variants + manifest
		t.Fatalf("dump wrote %d files, want %d", len(files), want)
	}
}
