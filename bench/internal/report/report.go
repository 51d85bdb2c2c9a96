// Package report holds the harness's result model and writes it as a
// Markdown table and a JSON document. Everything in it is figures and
// settings; no payload value ever reaches a report.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Status of a contender.
const (
	StatusOK       = "ok"
	StatusSkipped  = "skipped"
	StatusNotBuilt = "not built"
	StatusFailed   = "failed"
)

// Phases of a measurement.
const (
	PhaseClosed = "closed"
	PhaseOpen   = "open"
)

// Run is one harness invocation.
type Run struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Command  string            `json:"command"`
	Machine  Machine           `json:"machine"`
	Go       string            `json:"go"`
	Commit   string            `json:"commit"`
	Flags    map[string]string `json:"flags"`
	Corpus   Corpus            `json:"corpus"`
	// Registry is the rights registry Consentry started with (nil: empty).
	Registry *Registry `json:"registry,omitempty"`
	Pinning  string    `json:"pinning"`
	// Rate is the open-model rate in requests/s and where it came from.
	Rate       float64 `json:"rate"`
	RateSource string  `json:"rate_source"`
	// ForeignCPUPct is the CPU other processes used during the
	// measurements, in percent of one CPU.
	ForeignCPUPct float64      `json:"foreign_cpu_pct"`
	Contenders    []*Contender `json:"contenders"`
	Notes         []string     `json:"notes,omitempty"`
}

// Registry describes the pre-grown rights registry of a run.
type Registry struct {
	Members     int     `json:"members"`
	OptOuts     int     `json:"opt_outs"`
	HotSet      int     `json:"hot_set"`
	Bytes       int64   `json:"bytes"`
	Seed        int64   `json:"seed"`
	GrowSeconds float64 `json:"grow_seconds"` // when it was grown
	Cached      bool    `json:"cached"`       // reused from the cache in this run
	Population  uint64  `json:"population"`   // members typical requests draw from
	Session     int     `json:"session"`      // typical: mean requests per member session
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel string `json:"cpu_model"`
	Cores    int    `json:"cores"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel,omitempty"`
}

// Corpus describes the payloads sent.
type Corpus struct {
	Kind         string  `json:"kind"`
	Seed         int64   `json:"seed"`
	Variants     int     `json:"variants"`
	Records      float64 `json:"records_per_request"` // average
	AvgBodyBytes float64 `json:"avg_body_bytes"`
}

// Contender is one system under test with its per-round figures and
// medians.
type Contender struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	PID    int    `json:"-"`

	Rounds []Round   `json:"rounds,omitempty"`
	Closed *Summary  `json:"closed,omitempty"`
	Open   *Summary  `json:"open,omitempty"`
	Ratios *Ratios   `json:"ratios,omitempty"`
	Errors ErrorInfo `json:"errors"`
}

// Round is one measurement of one contender.
type Round struct {
	Round   int     `json:"round"`
	Phase   string  `json:"phase"`
	OK      int64   `json:"ok"`
	Errors  int64   `json:"errors"`
	Unsent  int64   `json:"unsent,omitempty"`
	Seconds float64 `json:"seconds"`
	RPS     float64 `json:"rps"`
	// CPU microseconds per successful request: the contender's process
	// (and its children), the shared sink, and the load generator.
	CPUUs     float64 `json:"cpu_us_per_req"`
	SinkCPUUs float64 `json:"sink_cpu_us_per_req,omitempty"`
	GenCPUUs  float64 `json:"gen_cpu_us_per_req,omitempty"`
	// GenCoreBusy is the load generator's plus the sink's CPU time over
	// the wall time: near 1 on a pinned run means CPU 0 was the limit.
	GenCoreBusy float64 `json:"gen_core_busy,omitempty"`
	// CPU time other processes took on the pinned CPUs during the
	// measurement, in percent of the wall time: noise indicators.
	ForeignContPct float64 `json:"foreign_cpu_pct_contender_cpu,omitempty"`
	ForeignGenPct  float64 `json:"foreign_cpu_pct_generator_cpu,omitempty"`
	// Open phase only: latency from the intended send time.
	Rate     float64 `json:"rate,omitempty"`
	P50Us    float64 `json:"p50_us,omitempty"`
	P90Us    float64 `json:"p90_us,omitempty"`
	P99Us    float64 `json:"p99_us,omitempty"`
	MaxUs    float64 `json:"max_us,omitempty"`
	Overload bool    `json:"overload,omitempty"`
	// Timer lateness of the generator, excluded from the latencies above.
	LagP50Us float64          `json:"send_lag_p50_us,omitempty"`
	LagP99Us float64          `json:"send_lag_p99_us,omitempty"`
	Kinds    map[string]int64 `json:"error_kinds,omitempty"`
}

// Summary is the median over rounds of one phase.
type Summary struct {
	Rounds    int     `json:"rounds"`
	RPS       float64 `json:"rps"`
	CPUUs     float64 `json:"cpu_us_per_req"`
	SinkCPUUs float64 `json:"sink_cpu_us_per_req,omitempty"`
	GenCPUUs  float64 `json:"gen_cpu_us_per_req,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	P50Us     float64 `json:"p50_us,omitempty"`
	P90Us     float64 `json:"p90_us,omitempty"`
	P99Us     float64 `json:"p99_us,omitempty"`
	MaxUs     float64 `json:"max_us,omitempty"`
	// Overload: in more than half of the rounds some latencies were
	// lower bounds (unsent or timed-out requests), so the medians are too.
	Overload bool `json:"overload,omitempty"`
}

// Ratios compare a contender with the passthrough and the naive proxy.
type Ratios struct {
	RPSToPassthrough   float64 `json:"rps_to_passthrough,omitempty"`
	CPUToPassthrough   float64 `json:"cpu_to_passthrough,omitempty"`
	AddedP50UsVsPass   float64 `json:"added_p50_us_vs_passthrough,omitempty"`
	AddedP99UsVsPass   float64 `json:"added_p99_us_vs_passthrough,omitempty"`
	RPSToNaive         float64 `json:"rps_to_naive,omitempty"`
	PassthroughPresent bool    `json:"-"`
}

// ErrorInfo totals failures over all rounds and phases.
type ErrorInfo struct {
	Errors int64 `json:"errors"`
	Unsent int64 `json:"unsent"`
}

// Total is errors plus unsent requests.
func (e ErrorInfo) Total() int64 { return e.Errors + e.Unsent }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Summarize fills Closed, Open and Errors from Rounds.
func (c *Contender) Summarize() {
	c.Errors = ErrorInfo{}
	for _, r := range c.Rounds {
		c.Errors.Errors += r.Errors
		c.Errors.Unsent += r.Unsent
	}
	c.Closed = summarize(c.Rounds, PhaseClosed)
	c.Open = summarize(c.Rounds, PhaseOpen)
}

func summarize(rounds []Round, phase string) *Summary {
	var rps, cpu, sink, gen, rate, p50, p90, p99, mx []float64
	s := &Summary{}
	overloaded := 0
	for _, r := range rounds {
		if r.Phase != phase {
			continue
		}
		s.Rounds++
		rps = append(rps, r.RPS)
		cpu = append(cpu, r.CPUUs)
		sink = append(sink, r.SinkCPUUs)
		gen = append(gen, r.GenCPUUs)
		rate = append(rate, r.Rate)
		p50 = append(p50, r.P50Us)
		p90 = append(p90, r.P90Us)
		p99 = append(p99, r.P99Us)
		mx = append(mx, r.MaxUs)
		if r.Overload {
			overloaded++
		}
	}
	s.Overload = 2*overloaded > s.Rounds
	if s.Rounds == 0 {
		return nil
	}
	s.RPS, s.CPUUs, s.SinkCPUUs, s.GenCPUUs = median(rps), median(cpu), median(sink), median(gen)
	s.Rate, s.P50Us, s.P90Us, s.P99Us, s.MaxUs = median(rate), median(p50), median(p90), median(p99), median(mx)
	return s
}

// ComputeRatios fills every contender's Ratios against the passthrough and
// the naive contender, when those were measured.
func (r *Run) ComputeRatios() {
	pass, naive := r.find("passthrough"), r.find("naive")
	for _, c := range r.Contenders {
		if c.Status != StatusOK || c.Closed == nil {
			continue
		}
		q := &Ratios{}
		if pass != nil && pass.Closed != nil && pass.Closed.RPS > 0 {
			q.PassthroughPresent = true
			q.RPSToPassthrough = c.Closed.RPS / pass.Closed.RPS
			if pass.Closed.CPUUs > 0 {
				q.CPUToPassthrough = c.Closed.CPUUs / pass.Closed.CPUUs
			}
			if c.Open != nil && pass.Open != nil {
				q.AddedP50UsVsPass = c.Open.P50Us - pass.Open.P50Us
				q.AddedP99UsVsPass = c.Open.P99Us - pass.Open.P99Us
			}
		}
		if naive != nil && naive.Closed != nil && naive.Closed.RPS > 0 {
			q.RPSToNaive = c.Closed.RPS / naive.Closed.RPS
		}
		c.Ratios = q
	}
}

func (r *Run) find(name string) *Contender {
	for _, c := range r.Contenders {
		if c.Name == name && c.Status == StatusOK {
			return c
		}
	}
	return nil
}

// FormatLatency prints microseconds as µs, ms or s with three significant
// digits.
func FormatLatency(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 1e6:
		return fmt.Sprintf("%.3g ms", us/1000)
	default:
		return fmt.Sprintf("%.3g s", us/1e6)
	}
}

// Markdown writes the side-by-side table and the notes that make it
// reproducible.
func (r *Run) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| contender | req/s | × passthrough | CPU-µs/req | p50 | p90 | p99 | max | errors |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Contenders {
		if c.Status != StatusOK {
			fmt.Fprintf(&b, "| %s | %s: %s | | | | | | | |\n", c.Name, c.Status, cell(c.Note))
			continue
		}
		rps, ratio, cpu := "–", "–", "–"
		if c.Closed != nil {
			rps = fmt.Sprintf("%.0f", c.Closed.RPS)
			if c.Closed.CPUUs > 0 {
				cpu = fmt.Sprintf("%.1f", c.Closed.CPUUs)
			}
		}
		if c.Ratios != nil && c.Ratios.PassthroughPresent {
			ratio = fmt.Sprintf("%.2f", c.Ratios.RPSToPassthrough)
		}
		lat := [4]string{"–", "–", "–", "–"}
		if o := c.Open; o != nil {
			pre := ""
			if o.Overload {
				pre = "≥ "
			}
			for i, v := range []float64{o.P50Us, o.P90Us, o.P99Us, o.MaxUs} {
				lat[i] = pre + FormatLatency(v)
			}
		}
		errs := fmt.Sprintf("%d", c.Errors.Errors)
		if c.Errors.Unsent > 0 {
			errs += fmt.Sprintf(" (+%d unsent)", c.Errors.Unsent)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Name, rps, ratio, cpu, lat[0], lat[1], lat[2], lat[3], errs)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Corpus %s (%.3g records/request, %.0f bytes average, %d variants, seed %d). ",
		r.Corpus.Kind, r.Corpus.Records, r.Corpus.AvgBodyBytes, r.Corpus.Variants, r.Corpus.Seed)
	if g := r.Registry; g != nil {
		fmt.Fprintf(&b, "Rights registry pre-grown to %d members (device, identity, link; %d opted out, %d in the hot set, %.0f MB; grown in %.0f s%s). ",
			g.Members, g.OptOuts, g.HotSet, float64(g.Bytes)/1e6, g.GrowSeconds, map[bool]string{true: ", reused from the cache", false: ""}[g.Cached])
		if r.Corpus.Kind == "typical" {
			fmt.Fprintf(&b, "Returning devices are members, each sending a session of %d requests on average. ", g.Session)
		}
	} else {
		b.WriteString("Rights registry empty at start. ")
	}
	fmt.Fprintf(&b, "req/s and CPU-µs/req: closed loop, %s connections, median of %s rounds of %s. ",
		r.Flags["conns"], r.Flags["rounds"], r.Flags["duration"])
	fmt.Fprintf(&b, "Latency: open model at %.0f req/s (%s), counted from the intended send time (the generator's own timer lateness excluded, see send_lag in the JSON). ", r.Rate, r.RateSource)
	fmt.Fprintf(&b, "Pinning: %s. Machine: %s, %d cores, %s, commit %s.\n", r.Pinning, r.Machine.CPUModel, r.Machine.Cores, r.Go, r.Commit)
	if c := r.find("consentry"); c != nil && c.Ratios != nil && c.Ratios.PassthroughPresent {
		q := c.Ratios
		target := "target ≥ 0.70, stretch 0.85"
		switch r.Corpus.Kind {
		case "typical":
			target = "target ≥ 0.85"
		case "churn":
			target = "churn's targets: CPU-µs/req ≤ 1.5 × typical's, p99 ≤ +2 ms over passthrough at 5,000 req/s"
		}
		fmt.Fprintf(&b, "\nConsentry against the targets: %.2f × passthrough req/s", q.RPSToPassthrough)
		if q.CPUToPassthrough > 0 {
			fmt.Fprintf(&b, " and %.2f × by CPU-µs/req (%s; the CPU ratio holds even when the load generator saturates)", 1/q.CPUToPassthrough, target)
		} else {
			fmt.Fprintf(&b, " (%s)", target)
		}
		if q.RPSToNaive > 0 {
			fmt.Fprintf(&b, ", %.1f × naive (target ≥ 10)", q.RPSToNaive)
		}
		if c.Open != nil {
			p99 := "target ≤ +1000 µs at half the passthrough's capacity"
			switch r.Corpus.Kind {
			case "churn":
				p99 = "target ≤ +2000 µs at 5,000 req/s"
			case "typical":
				p99 = "no p99 target for typical"
			}
			fmt.Fprintf(&b, ", p99 %+.0f µs over passthrough at %.0f req/s (%s)", q.AddedP99UsVsPass, r.Rate, p99)
		}
		b.WriteString(".\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps a note on one table line.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// Write stores the run as <dir>/<stamp>-<corpus>.json and .md and returns
// both paths.
func (r *Run) Write(dir string) (jsonPath, mdPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("cannot create results directory: %w", err)
	}
	base := filepath.Join(dir, r.Started.UTC().Format("20060102T150405Z")+"-"+r.Corpus.Kind)
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("cannot encode results: %w", err)
	}
	if err := os.WriteFile(base+".json", append(raw, '\n'), 0o644); err != nil {
		return "", "", fmt.Errorf("cannot write results: %w", err)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmark %s\n\n`%s`\n\n", r.Started.UTC().Format(time.RFC3339), r.Command)
	if err := r.Markdown(&md); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".md", []byte(md.String()), 0o644); err != nil {
		return "", "", fmt.Errorf("cannot write results: %w", err)
	}
	return base + ".json", base + ".md", nil
}

// Us converts a duration to float microseconds.
func Us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// PerReq returns CPU microseconds per request, or 0 when n is 0.
func PerReq(cpu time.Duration, n int64) float64 {
	if n <= 0 || cpu < 0 {
		return 0
	}
	return math.Round(Us(cpu)/float64(n)*100) / 100
}
