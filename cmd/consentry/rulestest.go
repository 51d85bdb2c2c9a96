package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// cmdRulesTest runs the Rego unit tests of a policy directory (default: the
// embedded rules) and its payload fixtures (DIR/fixtures/*.yaml).
func cmdRulesTest(args []string, stdout, stderr io.Writer) int {
	var fsys fs.FS = rules.FS
	dir := ""
	if len(args) > 0 {
		dir = args[0]
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "consentry rules test: %s is not a directory\n", dir)
			return 2
		}
		fsys = os.DirFS(dir)
	}
	// Load the policy exactly as serve does: a policy serve refuses fails here.
	engine, err := newPolicy(dir, nil, nil)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL the policy does not load as serve would load it:\n     %s\n0 passed, 1 failed\n", strings.ReplaceAll(err.Error(), "\n", "\n     "))
		return 1
	}
	defer engine.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := policy.RunTests(ctx, fsys)
	if err != nil {
		fmt.Fprintf(stderr, "consentry rules test: %v\n", err)
		return 1
	}
	passed, failed := 0, 0
	if unformatted, err := policy.CheckFormat(fsys); err == nil {
		for _, f := range unformatted {
			fmt.Fprintf(stdout, "WARN %s is not opa-fmt formatted\n", f)
		}
	}
	for _, r := range results {
		switch {
		case r.Skip:
			fmt.Fprintf(stdout, "SKIP %s.%s\n", r.Package, r.Name)
		case r.Pass:
			passed++
			fmt.Fprintf(stdout, "PASS %s.%s\n", r.Package, r.Name)
		default:
			failed++
			fmt.Fprintf(stdout, "FAIL %s.%s (%s)\n     %s\n", r.Package, r.Name, r.Location, strings.ReplaceAll(r.Fail, "\n", "\n     "))
		}
	}
	if dir != "" {
		fixtures, err := explain.LoadFixtures(dir)
		if err != nil {
			fmt.Fprintf(stderr, "consentry rules test: %v\n", err)
			return 1
		}
		if len(fixtures) > 0 {
			keys, _ := explainKeys(nil, "", config.DefaultTenantName)
			applier, err := newApplier(keys)
			if err != nil {
				fmt.Fprintf(stderr, "consentry rules test: %v\n", err)
				return 1
			}
			for _, f := range fixtures {
				r := explain.RunFixture(f, allRoutes(), engine, applier)
				if r.Pass() {
					passed++
					fmt.Fprintf(stdout, "PASS fixture %s\n", r.Name)
					continue
				}
				failed++
				fmt.Fprintf(stdout, "FAIL fixture %s (%s)\n     %s\n", r.Name, r.File, strings.Join(r.Failures, "\n     "))
			}
		}
	}
	if passed+failed == 0 {
		fmt.Fprintln(stdout, "FAIL no Rego tests (test_* rules in *_test.rego) and no fixtures (fixtures/*.yaml) found")
		failed++
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
