package main

import (
	"context"
	"flag"
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

const rulesUsage = `Usage:
  consentry rules test [--config FILE] [--coverage-min N] [DIR]
      load DIR as serve would (layered over the built-in rules unless it defines
      decision or record_decision; every decision validated), run its Rego unit tests
      (test_* rules in *_test.rego, as opa test) and payload fixtures (DIR/fixtures/*.yaml),
      and report rule coverage. --config evaluates with the tenants' policy_data.
      Default DIR: the built-in rules.
  consentry rules export DIR
      write the built-in rules, their Rego tests and payload fixtures to DIR, a complete
      policy to start from (it replaces the built-in rules when loaded).
  consentry rules init [--tenant T] DIR
      scaffold a tenant rule layered over the built-in rules, its Rego test and a fixture.
  consentry rules fmt [--check] [DIR|FILE ...]
      opa fmt the .rego files in place; --check lists those that would change and exits 1.
`

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "test":
		return cmdRulesTest(args[1:], stdout, stderr)
	case "export":
		return cmdRulesExport(args[1:], stdout, stderr)
	case "init":
		return cmdRulesInit(args[1:], stdout, stderr)
	case "fmt":
		return cmdRulesFmt(args[1:], stdout, stderr)
	default:
		if isHelp(args[0]) {
			fmt.Fprint(stdout, rulesUsage)
			return 0
		}
		fmt.Fprintf(stderr, "consentry rules: unknown command %q\n\n%s", args[0], rulesUsage)
		return 2
	}
}

// rulesFlags is a flag set for a rules subcommand whose -h prints
// rulesUsage.
func rulesFlags(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet("rules "+name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stdout, rulesUsage)
		fmt.Fprintln(stdout, "\nFlags of rules "+name+":")
		fl.SetOutput(stdout)
		fl.PrintDefaults()
		fl.SetOutput(stderr)
	}
	return fl
}

// cmdRulesTest runs the Rego unit tests of a policy directory (default: the
// embedded rules) and its payload fixtures (DIR/fixtures/*.yaml).
func cmdRulesTest(args []string, stdout, stderr io.Writer) int {
	fl := rulesFlags("test", stdout, stderr)
	cfgFile := fl.String("config", "", "config file: fixtures and tests see its tenants' policy_data, as serve does")
	minCover := fl.Float64("coverage-min", 0, "fail when the Rego tests cover less than this percentage of the policy's lines")
	if err := fl.Parse(reorder(args)); err != nil {
		return flagExit(err)
	}
	if fl.NArg() > 1 {
		fmt.Fprintf(stderr, "consentry rules test: give at most one DIR\n\n%s", rulesUsage)
		return 2
	}
	var fsys fs.FS = rules.FS
	dir := fl.Arg(0)
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "consentry rules test: %s is not a directory\n", dir)
			return 2
		}
		fsys = os.DirFS(dir)
	}
	var cfg *config.Config
	if *cfgFile != "" {
		var err error
		if cfg, err = config.Load(*cfgFile); err != nil {
			fmt.Fprintf(stderr, "consentry rules test: %v\n", err)
			return 2
		}
	}
	// Load the policy exactly as serve does: a policy serve refuses fails here,
	// with the same errors (file:line of each decision that cannot be applied).
	engine, err := newPolicy(dir, cfg, nil)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL the policy does not load as serve would load it:\n     %s\n0 passed, 1 failed\n", strings.ReplaceAll(err.Error(), "\n", "\n     "))
		return 1
	}
	defer engine.Close()
	if engine.Layered() {
		fmt.Fprintln(stdout, "# layered over the built-in rules (the directory defines neither decision nor record_decision)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report, err := policy.RunTestsWith(ctx, fsys, policy.RunOptions{Data: policyData(cfg), Coverage: true})
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %s\n0 passed, 1 failed\n", strings.ReplaceAll(err.Error(), "\n", "\n     "))
		return 1
	}
	passed, failed := 0, 0
	if unformatted, err := policy.CheckFormat(fsys); err == nil {
		for _, f := range unformatted {
			fmt.Fprintf(stdout, "WARN %s is not opa-fmt formatted (consentry rules fmt)\n", f)
		}
	}
	for _, r := range report.Results {
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
		for _, f := range fixtures {
			tenant := f.Tenant
			if tenant == "" {
				tenant = config.DefaultTenantName
			}
			if cfg != nil {
				if _, ok := cfg.Tenants[tenant]; !ok {
					failed++
					fmt.Fprintf(stdout, "FAIL fixture %s: tenant %q is not in %s\n", f.Name, tenant, *cfgFile)
					continue
				}
			}
			keys, _ := explainKeys(nil, "", tenant)
			applier, err := newApplier(keys)
			if err != nil {
				fmt.Fprintf(stderr, "consentry rules test: %v\n", err)
				return 1
			}
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
	if passed+failed == 0 {
		fmt.Fprintln(stdout, "FAIL no Rego tests (test_* rules in *_test.rego) and no fixtures (fixtures/*.yaml) found")
		failed++
	}
	if c := report.Coverage; c != nil && len(c.Files) > 0 {
		fmt.Fprintf(stdout, "coverage: %.1f%% of policy lines evaluated by the Rego tests\n", c.Percent)
		for _, f := range c.Files {
			line := fmt.Sprintf("  %s %.1f%%", f.File, f.Percent)
			if len(f.NotCovered) > 0 {
				line += " (not covered: lines " + strings.Join(f.NotCovered, ", ") + ")"
			}
			fmt.Fprintln(stdout, line)
		}
		if *minCover > 0 && c.Percent < *minCover {
			fmt.Fprintf(stdout, "FAIL coverage %.1f%% is below --coverage-min %.1f%%\n", c.Percent, *minCover)
			failed++
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// policyData is data.tenants from the configuration's policy_data, as
// newPolicy gives it to the engine.
func policyData(cfg *config.Config) map[string]any {
	if cfg == nil {
		return nil
	}
	tenants := map[string]any{}
	for name, t := range cfg.Tenants {
		if t.PolicyData != nil {
			tenants[name] = t.PolicyData
		}
	}
	if len(tenants) == 0 {
		return nil
	}
	return map[string]any{"tenants": tenants}
}
