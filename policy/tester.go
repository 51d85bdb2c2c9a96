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
// settings. It errors when the modules do not compile.
func RunTests(ctx context.Context, fsys fs.FS) ([]TestResult, error) {
	src, err := readFS(fsys, "", true)
	if err != nil {
		return nil, err
	}
	if err := layer(src); err != nil {
		return nil, err
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
	ch, err := tester.NewRunner().
		SetCompiler(newCompiler()).
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(mods).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true).
		SetTimeout(testTimeout).
		RunTests(ctx, txn)
	if err != nil {
		var ae ast.Errors
		if errors.As(err, &ae) {
			explainCompileErrors(ae)
		}
		return nil, fmt.Errorf("cannot compile policy tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		out = append(out, convertResult(r))
	}
	slices.SortFunc(out, func(a, b TestResult) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
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
