package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/consentry/consentry/bench/internal/load"
	"github.com/consentry/consentry/bench/internal/proc"
	"github.com/consentry/consentry/bench/internal/report"
)

// config is the parsed command line.
type config struct {
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	rate         float64
	corpus       corpus.Kind   // the corpus of this run
	corpora      []corpus.Kind // -corpus: each gets a run of its own
	contenders   []string
	seed         int64
	variants     int
	out          string
	smoke        bool
	conns        int
	openConns    int
	timeout      time.Duration
	grace        time.Duration
	pin          bool
	repo         string
	consentryBin string
	buildTimeout time.Duration
	tenant       string
	dump         string
	registrySize int
	regCache     string
	session      int

	flags   map[string]string // every flag's final value, for the report
	command string
}

// parseFlags parses args (without the program name). -smoke changes the
// defaults of the flags not given explicitly.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of each measurement (per contender, per phase, per round)")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "closed-loop warm-up before each measurement (not counted)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; contenders alternate within each round, figures are medians over rounds")
	fs.Float64Var(&c.rate, "rate", 0, "open-model rate in requests/s (0: half of the passthrough's closed-loop capacity)")
	kind := fs.String("corpus", string(corpus.Dense), "payloads, comma-separated, one run each: dense (alias sdk10), typical, churn, sdk1, sdk50, rest100 (-smoke: dense,typical,churn)")
	list := fs.String("contenders", strings.Join(allContenders, ","), "comma-separated contenders, in alternation order: direct (alias sink), passthrough, consentry, naive, nginx")
	fs.Int64Var(&c.seed, "seed", 1, "corpus seed")
	fs.IntVar(&c.variants, "variants", 0, "distinct requests in the corpus, sent round-robin (0: 16, or 1000 for typical and churn; -smoke: 100)")
	fs.StringVar(&c.out, "out", "", "results directory (default <repo>/bench/results)")
	fs.BoolVar(&c.smoke, "smoke", false, "tiny run for CI: 300ms, 1 round, rate 25/s (explicit flags win)")
	fs.IntVar(&c.conns, "conns", 32, "closed-loop connections")
	fs.IntVar(&c.openConns, "open-conns", 64, "open-model connections (the most requests in flight)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&c.grace, "grace", 2*time.Second, "open model: time after -duration to finish the backlog before the rest counts as unsent")
	fs.BoolVar(&c.pin, "pin", true, "pin contenders to CPU 1 and the load generator and sink to CPU 0 (needs ≥ 2 CPUs)")
	fs.StringVar(&c.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&c.consentryBin, "consentry-bin", "", "use this consentry binary instead of building ./cmd/consentry")
	fs.DurationVar(&c.buildTimeout, "build-timeout", 5*time.Minute, "limit for building ./cmd/consentry")
	fs.StringVar(&c.tenant, "tenant", "default", "tenant the naive proxy gives the policy")
	fs.StringVar(&c.dump, "dump", "", "write every corpus (all kinds, -seed, -variants) to this directory and exit")
	fs.IntVar(&c.registrySize, "registry-size", 1_000_000, "members (device, identity, link) of the rights registry Consentry starts with; 0: empty (-smoke: 2000)")
	fs.IntVar(&c.session, "session", 10, "typical: mean requests a returning device sends in a row (an app session) before another member takes its place; 1: every request from a member drawn anew")
	fs.StringVar(&c.regCache, "registry-cache", "", "directory caching grown registries by size and seed (default <user cache dir>/consentry-bench)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("cannot parse arguments: unexpected %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.smoke {
		smoke := map[string]string{
			"duration": "300ms", "warmup": "100ms", "rounds": "1", "rate": "25", "registry-size": "2000",
			"corpus": "dense,typical,churn",
			"grace":  "1s", "conns": "8", "open-conns": "16", "build-timeout": "35s",
		}
		for name, v := range smoke {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	var err error
	for _, name := range strings.Split(*kind, ",") {
		k, err := corpus.ParseKind(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.corpora, k) {
			c.corpora = append(c.corpora, k)
		}
	}
	c.corpus = c.corpora[0]
	if c.contenders, err = parseContenders(*list); err != nil {
		return nil, err
	}
	var bad []error
	if c.registrySize < 0 {
		bad = append(bad, errors.New("-registry-size must not be negative"))
	}
	if c.duration <= 0 || c.rounds <= 0 || c.conns <= 0 || c.openConns <= 0 || c.variants < 0 || c.timeout <= 0 {
		bad = append(bad, errors.New("-duration, -rounds, -conns, -open-conns and -timeout must be positive, -variants not negative"))
	}
	if c.rate < 0 || c.warmup < 0 || c.grace < 0 {
		bad = append(bad, errors.New("-rate, -warmup and -grace must not be negative"))
	}
	if err := errors.Join(bad...); err != nil {
		return nil, fmt.Errorf("cannot use flags: %w", err)
	}
	c.flags = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { c.flags[f.Name] = f.Value.String() })
	c.command = "go run ./bench"
	if len(args) > 0 {
		c.command += " " + strings.Join(args, " ")
	}
	return c, nil
}

// findRepo walks up from dir to the Consentry module root.
func findRepo(dir string) string {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/consentry/consentry\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// harness is one run.
type harness struct {
	cfg      *config
	stderr   io.Writer
	self     string // this executable, for helper roles
	repo     string
	tmp      string
	pinned   bool
	genCPU   int
	contCPU  int
	sink     *proc.Proc
	sinkAddr string
	procs    []*proc.Proc
	reqs     []corpus.Request
	run      *report.Run
	active   []*active

	consentryBin string // built (or given) before the run
	buildErr     error
	dataDir      string // Consentry's --data, pre-grown before the run
	population   uint64 // members typical requests draw from
}

// active is a started contender.
type active struct {
	rep  *report.Contender
	proc *proc.Proc
	addr string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.stderr, "bench: "+format+"\n", args...)
}

// stopAll stops every child the harness started, by PID, newest first.
func (h *harness) stopAll() {
	for i := len(h.procs) - 1; i >= 0; i-- {
		h.procs[i].Stop(3 * time.Second)
	}
	h.procs = nil
}

// forCorpus returns the config of the run of corpus k: -variants 0 resolved
// for it (16, or 1000 for traffic corpora; -smoke: 4 and 100).
func (c *config) forCorpus(k corpus.Kind) *config {
	one := *c
	one.corpus, one.corpora = k, []corpus.Kind{k}
	if one.variants == 0 {
		switch {
		case c.smoke && k.Traffic():
			one.variants = 100
		case c.smoke:
			one.variants = 4
		case k.Traffic():
			one.variants = 1000
		default:
			one.variants = corpus.DefaultVariants
		}
	}
	one.flags = maps.Clone(c.flags)
	one.flags["corpus"], one.flags["variants"] = string(k), strconv.Itoa(one.variants)
	return &one
}

// runAll runs the harness once per corpus of -corpus, building Consentry
// once for all of them, and returns the reports in order.
func runAll(ctx context.Context, cfg *config, stdout, stderr io.Writer) ([]*report.Run, error) {
	if cfg.dump != "" || len(cfg.corpora) <= 1 {
		run, err := runHarness(ctx, cfg.forCorpus(cfg.corpus), stdout, stderr)
		if run == nil {
			return nil, err
		}
		return []*report.Run{run}, err
	}
	if cfg.consentryBin == "" && slices.Contains(cfg.contenders, cConsentry) {
		tmp, err := os.MkdirTemp("", "consentry-bench-bin-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		h := &harness{cfg: cfg, repo: cfg.repo, tmp: tmp}
		if h.repo == "" {
			wd, _ := os.Getwd()
			h.repo = findRepo(wd)
		}
		bin, err := h.buildConsentry(ctx)
		if err == nil {
			c := *cfg
			c.consentryBin = bin
			cfg = &c
		} else {
			fmt.Fprintf(stderr, "bench: consentry: %v\n", err)
		}
	}
	var runs []*report.Run
	for _, k := range cfg.corpora {
		run, err := runHarness(ctx, cfg.forCorpus(k), stdout, stderr)
		if run != nil {
			runs = append(runs, run)
		}
		if err != nil {
			return runs, fmt.Errorf("corpus %s: %w", k, err)
		}
		fmt.Fprintln(stdout)
	}
	return runs, nil
}

// runHarness executes a whole run and returns the report. stdout receives
// the Markdown table; progress goes to stderr.
func runHarness(ctx context.Context, cfg *config, stdout, stderr io.Writer) (*report.Run, error) {
	wd, _ := os.Getwd()
	h := &harness{cfg: cfg, stderr: stderr, genCPU: -1, contCPU: -1}
	h.repo = cfg.repo
	if h.repo == "" {
		h.repo = findRepo(wd)
	}
	if cfg.dump != "" {
		err := corpus.Dump(cfg.dump, corpus.Kinds(), corpus.Options{Seed: cfg.seed, Variants: cfg.variants})
		if err == nil {
			fmt.Fprintf(stdout, "corpus written to %s\n", cfg.dump)
		}
		return nil, err
	}
	var err error
	if h.self, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("cannot find the harness executable: %w", err)
	}
	if h.tmp, err = os.MkdirTemp("", "consentry-bench-*"); err != nil {
		return nil, fmt.Errorf("cannot create a temporary directory: %w", err)
	}
	defer os.RemoveAll(h.tmp)
	defer h.stopAll()

	now := time.Now()
	h.reqs, err = corpus.Generate(cfg.corpus, corpus.Options{Seed: cfg.seed, Variants: cfg.variants, Now: now})
	if err != nil {
		return nil, err
	}
	h.run = &report.Run{
		Started: now, Command: cfg.command, Machine: machine(), Go: runtime.Version(),
		Commit: gitCommit(h.repo), Flags: cfg.flags, Corpus: corpusInfo(cfg, h.reqs),
	}
	// Build and grow before pinning: they would inherit CPU 0 alone.
	h.population = uint64(cfg.registrySize)
	if h.population == 0 {
		h.population = defaultPopulation
	}
	for _, name := range cfg.contenders {
		if name == cConsentry {
			h.consentryBin, h.buildErr = h.buildConsentry(ctx)
			if h.buildErr == nil {
				h.buildErr = h.prepareData()
			}
		}
	}
	restore := h.pin()
	defer restore()

	sp, addr, err := h.startRole(ctx, "sink", roleSink, h.genCPU)
	if err != nil {
		return nil, err
	}
	h.sink, h.sinkAddr = sp, addr
	h.logf("sink on %s (pid %d)", addr, sp.PID)

	for _, name := range cfg.contenders {
		rep := &report.Contender{Name: name, Status: report.StatusOK}
		h.run.Contenders = append(h.run.Contenders, rep)
		p, addr, err := h.startContender(ctx, name)
		if err != nil {
			var se *startError
			rep.Status = report.StatusFailed
			if errors.As(err, &se) {
				rep.Status = se.status
			}
			rep.Note = err.Error()
			h.logf("%s: %s: %v", name, rep.Status, err)
			continue
		}
		rep.PID = p.PID
		if err := load.Probe(ctx, load.Target{Addr: addr, Requests: h.reqs, Timeout: cfg.timeout, Population: h.population, Session: cfg.session}); err != nil {
			rep.Status, rep.Note = report.StatusFailed, "probe: "+err.Error()
			h.logf("%s: %s", name, rep.Note)
			p.Stop(2 * time.Second)
			continue
		}
		h.logf("%s on %s (pid %d)", name, addr, p.PID)
		h.active = append(h.active, &active{rep: rep, proc: p, addr: addr})
	}
	if len(h.active) == 0 {
		return nil, errors.New("cannot run: no contender started")
	}
	wall0, sys0, ours0 := time.Now(), sysBusy(), h.ourCPU()

	for r := 1; r <= cfg.rounds; r++ {
		for _, a := range h.active {
			if err := h.measure(ctx, a, report.PhaseClosed, r, 0); err != nil {
				return nil, err
			}
		}
	}
	h.chooseRate()
	for r := 1; r <= cfg.rounds; r++ {
		for _, a := range h.active {
			if err := h.measure(ctx, a, report.PhaseOpen, r, h.run.Rate); err != nil {
				return nil, err
			}
		}
	}
	if wall := time.Since(wall0); sys0 > 0 {
		foreign := (sysBusy() - sys0) - (h.ourCPU() - ours0)
		h.run.ForeignCPUPct = max(0, float64(100*foreign)/float64(wall))
	}
	for _, c := range h.run.Contenders {
		c.Summarize()
	}
	h.run.ComputeRatios()
	h.addNotes()
	h.run.Finished = time.Now()
	if err := h.run.Markdown(stdout); err != nil {
		return nil, err
	}
	out := cfg.out
	if out == "" {
		out = filepath.Join("bench", "results")
		if h.repo != "" {
			out = filepath.Join(h.repo, "bench", "results")
		}
	}
	jp, mp, err := h.run.Write(out)
	if err != nil {
		return h.run, err
	}
	h.logf("wrote %s and %s", jp, mp)
	return h.run, nil
}

// pin puts the harness (load generator) on CPU 0 and contenders on CPU 1
// when the machine has two CPUs or more.
func (h *harness) pin() (restore func()) {
	restore = func() {}
	switch {
	case !h.cfg.pin:
		h.run.Pinning = "off (-pin=false)"
		return restore
	case runtime.NumCPU() < 2:
		h.run.Pinning = "none (1 CPU)"
		return restore
	case !proc.Available():
		h.run.Pinning = "none (no /proc)"
		return restore
	}
	undo, err := proc.PinSelf(0)
	if err != nil {
		h.run.Pinning = "none (" + err.Error() + ")"
		return restore
	}
	prev := runtime.GOMAXPROCS(1)
	h.pinned, h.genCPU, h.contCPU = true, 0, 1
	h.run.Pinning = "contender on CPU 1 (GOMAXPROCS=1 for Go contenders); load generator and sink on CPU 0"
	return func() {
		runtime.GOMAXPROCS(prev)
		undo()
	}
}

// measure runs one phase of one round against one contender.
func (h *harness) measure(ctx context.Context, a *active, phase string, round int, rate float64) error {
	if a.rep.Status != report.StatusOK {
		return nil
	}
	cfg := h.cfg
	t := load.Target{Addr: a.addr, Requests: h.reqs, Timeout: cfg.timeout, Population: h.population, Session: cfg.session}
	if cfg.warmup > 0 {
		if _, err := load.Closed(ctx, t, cfg.conns, cfg.warmup); err != nil {
			return err
		}
	}
	cpu0, errA := a.proc.CPUTime()
	sink0, errB := h.sink.CPUTime()
	gen0 := proc.SelfCPUTime()
	cores0, errE := proc.PerCPUBusy()
	var res load.Result
	var err error
	if phase == report.PhaseClosed {
		res, err = load.Closed(ctx, t, cfg.conns, cfg.duration)
	} else {
		res, err = load.Open(ctx, t, rate, cfg.duration, cfg.openConns, cfg.grace)
	}
	if err != nil {
		return err
	}
	cpu1, errC := a.proc.CPUTime()
	sink1, errD := h.sink.CPUTime()
	gen1 := proc.SelfCPUTime()
	cores1, errF := proc.PerCPUBusy()
	rd := report.Round{
		Round: round, Phase: phase, OK: res.OK, Errors: res.Errors, Unsent: res.Unsent,
		Seconds: res.Elapsed.Seconds(), RPS: res.RPS(), Kinds: res.Sample,
	}
	if errors.Join(errA, errC) == nil {
		rd.CPUUs = report.PerReq(cpu1-cpu0, res.OK)
	}
	if errors.Join(errB, errD) == nil {
		rd.SinkCPUUs = report.PerReq(sink1-sink0, res.OK)
	}
	rd.GenCPUUs = report.PerReq(gen1-gen0, res.OK)
	if res.Elapsed > 0 {
		rd.GenCoreBusy = float64((gen1-gen0)+(sink1-sink0)) / float64(res.Elapsed)
	}
	if h.pinned && errors.Join(errA, errB, errC, errD, errE, errF) == nil && len(cores0) > h.contCPU && len(cores1) > h.contCPU && res.Elapsed > 0 {
		// The contender is alone on its CPU and the generator and sink on
		// theirs; whatever else those CPUs did was someone else's work.
		pct := func(d time.Duration) float64 { return max(0, 100*float64(d)/float64(res.Elapsed)) }
		rd.ForeignContPct = pct((cores1[h.contCPU] - cores0[h.contCPU]) - (cpu1 - cpu0))
		rd.ForeignGenPct = pct((cores1[h.genCPU] - cores0[h.genCPU]) - (gen1 - gen0) - (sink1 - sink0))
	}
	if phase == report.PhaseOpen {
		rd.Rate = rate
		rd.P50Us = report.Us(res.Percentile(0.50))
		rd.P90Us = report.Us(res.Percentile(0.90))
		rd.P99Us = report.Us(res.Percentile(0.99))
		rd.MaxUs = report.Us(res.Percentile(1))
		rd.Overload = res.Overload
		rd.LagP50Us = report.Us(res.LagPercentile(0.50))
		rd.LagP99Us = report.Us(res.LagPercentile(0.99))
	}
	a.rep.Rounds = append(a.rep.Rounds, rd)
	if phase == report.PhaseClosed {
		h.logf("round %d %s %-11s %8.0f req/s %7.1f CPU-µs/req  errors %d", round, phase, a.rep.Name, rd.RPS, rd.CPUUs, rd.Errors)
	} else {
		h.logf("round %d %s   %-11s p50 %s p99 %s max %s  errors %d unsent %d", round, phase, a.rep.Name,
			report.FormatLatency(rd.P50Us), report.FormatLatency(rd.P99Us), report.FormatLatency(rd.MaxUs), rd.Errors, rd.Unsent)
	}
	if a.proc.Exited() {
		a.rep.Status = report.StatusFailed
		a.rep.Note = fmt.Sprintf("exited during round %d %s: %s", round, phase, lastLines([]byte(a.proc.Stderr()), 2))
		h.logf("%s: %s", a.rep.Name, a.rep.Note)
	}
	return nil
}

// chooseRate sets the open-model rate: the flag, else half of the
// passthrough's (or direct's) median closed-loop throughput.
func (h *harness) chooseRate() {
	if h.cfg.rate > 0 {
		h.run.Rate, h.run.RateSource = h.cfg.rate, "-rate"
		return
	}
	for _, name := range []string{cPassthrough, cDirect} {
		for _, a := range h.active {
			if a.rep.Name != name || a.rep.Status != report.StatusOK {
				continue
			}
			a.rep.Summarize()
			if a.rep.Closed != nil && a.rep.Closed.RPS > 0 {
				h.run.Rate = float64(int(a.rep.Closed.RPS / 2))
				h.run.RateSource = "half of " + name + "'s closed-loop capacity"
				return
			}
		}
	}
	h.run.Rate, h.run.RateSource = 1000, "default; no passthrough measured"
}

// ourCPU is the CPU time of the harness and every child it runs.
func (h *harness) ourCPU() time.Duration {
	total := proc.SelfCPUTime()
	for _, p := range h.procs {
		if d, err := p.CPUTime(); err == nil {
			total += d
		}
	}
	return total
}

func sysBusy() time.Duration {
	d, _ := proc.SystemBusy()
	return d
}

func (h *harness) addNotes() {
	r := h.run
	disturbed, total := 0, 0
	for _, c := range r.Contenders {
		for _, rd := range c.Rounds {
			total++
			if rd.ForeignContPct > 10 || rd.ForeignGenPct > 10 {
				disturbed++
			}
		}
	}
	if disturbed > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d of %d measurements had other processes take more than 10%% of a pinned CPU (foreign_cpu_pct_* in the JSON).", disturbed, total))
	}
	if r.ForeignCPUPct > 10 {
		r.Notes = append(r.Notes, fmt.Sprintf("other processes used %.0f%% of a CPU during the run (%d CPUs): figures are noisy, rerun on a quiet machine.", r.ForeignCPUPct, r.Machine.Cores))
	}
	for _, c := range r.Contenders {
		if c.Name == cNaive && c.Status == report.StatusOK {
			r.Notes = append(r.Notes, "naive: net/http + encoding/json + one OPA query per record with rules/ (Rego v1) and a decision cache keyed by the record's shape; hash, tokenize (AES-SIV), mask, generalize and redact through Consentry's masking.Transformer, scan with two regexes; no rights registry, audit or budgets.")
		}
		if c.Name == cDirect && c.Status == report.StatusOK {
			r.Notes = append(r.Notes, "direct: a second sink process pinned like the contenders; no proxy hop.")
		}
		for _, rd := range c.Rounds {
			if rd.Phase == report.PhaseClosed && rd.GenCoreBusy > 0.9 && h.pinned {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: the load-generator core was %.0f%% busy in closed round %d, so its req/s may be generator-bound; CPU-µs/req is unaffected.", c.Name, 100*rd.GenCoreBusy, rd.Round))
				break
			}
		}
		for _, rd := range c.Rounds {
			if rd.Phase == report.PhaseOpen && rd.GenCoreBusy > 0.8 && h.pinned {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: the load-generator core was %.0f%% busy in open round %d, so its tail latencies include the generator's own queueing; a lower -rate isolates the contender.", c.Name, 100*rd.GenCoreBusy, rd.Round))
				break
			}
		}
		over, open := 0, 0
		for _, rd := range c.Rounds {
			if rd.Phase == report.PhaseOpen {
				open++
				if rd.Overload {
					over++
				}
			}
		}
		switch {
		case c.Open != nil && c.Open.Overload:
			r.Notes = append(r.Notes, fmt.Sprintf("%s: could not sustain %.0f req/s in %d of %d open rounds; its latencies (≥) include requests that were never sent or timed out.", c.Name, r.Rate, over, open))
		case over > 0:
			r.Notes = append(r.Notes, fmt.Sprintf("%s: fell behind %.0f req/s in %d of %d open rounds (medians shown; every round is in the JSON).", c.Name, r.Rate, over, open))
		case c.Open != nil && c.Open.RPS < 0.9*r.Rate:
			r.Notes = append(r.Notes, fmt.Sprintf("%s: answered %.0f of the %.0f req/s offered; its latencies include the queue that built up.", c.Name, c.Open.RPS, r.Rate))
		}
	}
	if !proc.Available() {
		r.Notes = append(r.Notes, "CPU-µs/req unavailable: no /proc on this system.")
	}
}

func corpusInfo(cfg *config, reqs []corpus.Request) report.Corpus {
	total := 0
	for _, r := range reqs {
		total += len(r.Body)
	}
	records := 0
	for _, r := range reqs {
		records += r.Records
	}
	return report.Corpus{
		Kind: string(cfg.corpus), Seed: cfg.seed, Variants: len(reqs), Records: float64(records) / float64(max(len(reqs), 1)),
		AvgBodyBytes: float64(total) / float64(max(len(reqs), 1)),
	}
}

func machine() report.Machine {
	m := report.Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func gitCommit(repo string) string {
	if repo == "" {
		return "unknown"
	}
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "+dirty"
	}
	return commit
}
