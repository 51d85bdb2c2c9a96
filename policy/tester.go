package policy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds one Rego test.
const testTimeout = 10 * time.Second

// TestResult is the outcome of one Rego test rule (test_*).
type TestResult struct {
	Package  string // e.g. "data.consentry_test"
	Name     string // e.g. "test_default_decision"
	Location string // file:line of the rule
	Pass     bool
	Skip     bool   // todo_test_* rules
	Fail     string // why it did not pass: the error, the failed cases, print output
	Cases    []TestCase
	Duration time.Duration
}

// TestCase is one case of a parameterized test (test_x[name] if { ... }).
type TestCase struct {
	Name string // nested case names joined with "/"
	Pass bool
}

// RunTests runs the Rego unit tests in fsys (every *.rego including
// *_test.rego, and data.json at the root) with the engine's compiler
// settings. A folder that defines neither decision nor record_decision is
// layered over the built-in rules, as New loads it. It errors when the
// modules do not compile.
func RunTests(ctx context.Context, fsys fs.FS) ([]TestResult, error) {
	r, err := RunTestsWith(ctx, fsys, RunOptions{})
	if err != nil {
		return nil, err
	}
	return r.Results, nil
}

// RunOptions configure RunTestsWith.
type RunOptions struct {
	// Data is merged over the folder's data.json, as WithData (a tenant's
	// policy_data from the configuration, under "tenants").
	Data map[string]any
	// Coverage computes which lines of the policy modules (not the tests,
	// not the built-in modules a layered folder is compiled with) the tests
	// evaluated, as opa test --coverage.
	Coverage bool
}

// TestReport is what RunTestsWith found.
type TestReport struct {
	Results  []TestResult
	Coverage *Coverage // nil unless RunOptions.Coverage
}

// Coverage is the share of policy lines the Rego tests evaluated.
type Coverage struct {
	Percent float64 // over all files
	Files   []FileCoverage
}

// FileCoverage is one module's coverage; NotCovered lists its uncovered
// line ranges ("12", "20-24").
type FileCoverage struct {
	File       string
	Percent    float64
	NotCovered []string
}

// RunTestsWith is RunTests with tenant data and coverage.
func RunTestsWith(ctx context.Context, fsys fs.FS, opts RunOptions) (*TestReport, error) {
	src, err := readFS(fsys, "", true)
	if err != nil {
		return nil, err
	}
	if err := layer(src); err != nil {
		return nil, err
	}
	if opts.Data != nil {
		extra, err := normalizeJSON(opts.Data)
		if err != nil {
			return nil, fmt.Errorf("cannot use policy data: %w", err)
		}
		src.data = mergeData(src.data, extra)
	}
	mods, err := parseModules(src)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObject(src.data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot open policy data: %w", err)
	}
	defer store.Abort(ctx, txn)
	runner := tester.NewRunner().
		SetCompiler(newCompiler()).
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(mods).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true).
		SetTimeout(testTimeout)
	var cov *cover.Cover
	if opts.Coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		var ae ast.Errors
		if errors.As(err, &ae) {
			explainCompileErrors(ae)
		}
		return nil, fmt.Errorf("cannot compile policy tests: %w", err)
	}
	rep := &TestReport{}
	for r := range ch {
		rep.Results = append(rep.Results, convertResult(r))
	}
	slices.SortFunc(rep.Results, func(a, b TestResult) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Name, b.Name))
	})
	if cov != nil {
		rep.Coverage = coverageOf(cov, mods)
	}
	return rep, nil
}

// coverageOf reports the coverage of the author's policy modules.
func coverageOf(cov *cover.Cover, mods map[string]*ast.Module) *Coverage {
	own := map[string]*ast.Module{}
	for n, m := range mods {
		if !strings.HasSuffix(n, "_test.rego") && !strings.HasPrefix(n, builtinPrefix) {
			own[n] = m
		}
	}
	r := cov.Report(own)
	out := &Coverage{}
	covered, total := 0, 0
	for _, n := range sortedKeysOf(r.Files) {
		if _, ok := own[n]; !ok {
			continue
		}
		f := r.Files[n]
		fc := FileCoverage{File: n, Percent: f.Coverage}
		for _, rg := range f.NotCovered {
			if rg.Start.Row == rg.End.Row {
				fc.NotCovered = append(fc.NotCovered, fmt.Sprint(rg.Start.Row))
			} else {
				fc.NotCovered = append(fc.NotCovered, fmt.Sprintf("%d-%d", rg.Start.Row, rg.End.Row))
			}
		}
		covered += f.CoveredLines
		total += f.CoveredLines + f.NotCoveredLines
		out.Files = append(out.Files, fc)
	}
	if total > 0 {
		out.Percent = 100 * float64(covered) / float64(total)
	}
	return out
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func convertResult(r *tester.Result) TestResult {
	tr := TestResult{
		Package:  r.Package,
		Name:     r.Name,
		Pass:     r.Pass(),
		Skip:     r.Skip,
		Duration: r.Duration,
	}
	if r.Location != nil {
		tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
	}
	var failed []string
	for names, sr := range r.SubResults.Iter {
		if len(sr.SubResults) > 0 {
			continue // report leaves only
		}
		c := TestCase{Name: strings.Join(names, "/"), Pass: !sr.Fail}
		tr.Cases = append(tr.Cases, c)
		if !c.Pass {
			failed = append(failed, fmt.Sprintf("%q", c.Name))
		}
	}
	var msg []string
	switch {
	case r.Error != nil:
		msg = append(msg, "error: "+r.Error.Error())
	case r.Fail && len(failed) > 0:
		msg = append(msg, "failed cases: "+strings.Join(failed, ", "))
	case r.Fail:
		msg = append(msg, "failed")
		if r.FailedAt != nil && r.FailedAt.Location != nil {
			msg = append(msg, fmt.Sprintf("at %s:%d: %s", r.FailedAt.Location.File, r.FailedAt.Location.Row, r.FailedAt.String()))
		}
	}
	if len(msg) > 0 && len(r.Output) > 0 {
		msg = append(msg, "output:\n"+string(r.Output))
	}
	tr.Fail = strings.Join(msg, "; ")
	return tr
}

// CheckFormat returns the .rego files in fsys that `opa fmt` would change,
// like `opa fmt --fail`. It errors on files that do not parse.
func CheckFormat(fsys fs.FS) ([]string, error) {
	var bad []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		got, err := format.SourceWithOpts(p, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("cannot format %s: %w", p, err)
		}
		if !bytes.Equal(got, src) {
			bad = append(bad, p)
		}
		return nil
	})
	return bad, err
}

// FormatSource is `opa fmt` of one Rego v1 file: the formatted source, or
// an error naming file:line when it does not parse.
func FormatSource(name string, src []byte) ([]byte, error) {
	return format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
}
