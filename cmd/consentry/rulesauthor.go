package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// cmdRulesExport writes the built-in rules, their Rego tests and their
// payload fixtures (with the sample payloads) to a new directory.
func cmdRulesExport(args []string, stdout, stderr io.Writer) int {
	fl := rulesFlags("export", stdout, stderr)
	if err := fl.Parse(args); err != nil {
		return flagExit(err)
	}
	if fl.NArg() != 1 {
		fmt.Fprintf(stderr, "consentry rules export: give one DIR\n\n%s", rulesUsage)
		return 2
	}
	dir := fl.Arg(0)
	files := map[string][]byte{}
	err := fs.WalkDir(rules.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rules.FS, p)
		files[p] = b
		return err
	})
	if err == nil {
		err = exportFixtures(files)
	}
	if err == nil {
		err = writeNew(dir, files)
	}
	if err != nil {
		fmt.Fprintf(stderr, "consentry rules export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote the built-in rules to %s (%d files); it is a complete policy: loaded with --policy %s it replaces the built-in rules.\nCheck it with: consentry rules test %s\n", dir, len(files), dir, dir)
	return 0
}

var payloadFileRe = regexp.MustCompile(`(?m)^payload_file: .*/([^/\n]+\.json)$`)

// exportFixtures adds the shipped fixtures and the sample payloads they
// name, next to them.
func exportFixtures(files map[string][]byte) error {
	return fs.WalkDir(rules.Fixtures, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rules.Fixtures, p)
		if err != nil {
			return err
		}
		for _, m := range payloadFileRe.FindAllSubmatch(b, -1) {
			sample, err := fs.ReadFile(clevertap.Samples, "samples/"+string(m[1]))
			if err != nil {
				return fmt.Errorf("cannot export %s: %w", p, err)
			}
			files[path.Join(path.Dir(p), string(m[1]))] = sample
		}
		files[p] = payloadFileRe.ReplaceAll(b, []byte("payload_file: $1"))
		return nil
	})
}

// writeNew writes files under dir, refusing to overwrite anything.
func writeNew(dir string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n))); err == nil {
			return fmt.Errorf("%s already exists (nothing written)", filepath.Join(dir, filepath.FromSlash(n)))
		}
	}
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

var tenantIDRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// cmdRulesInit scaffolds a tenant rule layered over the built-in rules,
// with a Rego test and a payload fixture.
func cmdRulesInit(args []string, stdout, stderr io.Writer) int {
	fl := rulesFlags("init", stdout, stderr)
	tenant := fl.String("tenant", "acme", "tenant the scaffolded rule applies to")
	if err := fl.Parse(reorder(args)); err != nil {
		return flagExit(err)
	}
	if fl.NArg() != 1 {
		fmt.Fprintf(stderr, "consentry rules init: give one DIR\n\n%s", rulesUsage)
		return 2
	}
	if !tenantIDRe.MatchString(*tenant) {
		fmt.Fprintf(stderr, "consentry rules init: --tenant %q: want lower-case letters, digits, - and _\n", *tenant)
		return 2
	}
	dir := fl.Arg(0)
	t := *tenant
	pkg := strings.NewReplacer("-", "_").Replace(t)
	files := map[string][]byte{
		pkg + ".rego":               []byte(strings.ReplaceAll(initRule, "TENANT", t)),
		pkg + "_test.rego":          []byte(strings.ReplaceAll(initTest, "TENANT", t)),
		"fixtures/" + pkg + ".yaml": []byte(strings.ReplaceAll(initFixture, "TENANT", t)),
	}
	for n, b := range files {
		if strings.HasSuffix(n, ".rego") {
			f, err := policy.FormatSource(n, b)
			if err != nil {
				fmt.Fprintf(stderr, "consentry rules init: %v\n", err)
				return 1
			}
			files[n] = f
		}
	}
	if err := writeNew(dir, files); err != nil {
		fmt.Fprintf(stderr, "consentry rules init: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s/%s.rego, %s_test.rego and fixtures/%s.yaml: a rule for tenant %s layered over the built-in rules.\nNext: consentry rules test %s; consentry explain --policy %s --tenant %s --format clevertap.sdk FILE\n",
		dir, pkg, pkg, pkg, t, dir, dir, t)
	return 0
}

const initRule = `package consentry

# Rules of tenant TENANT, layered over the built-in rules (consentry rules export shows them).
# Precedence: the tenant's policy_data (fields, then classes) > by_field > class_override >
# the built-in rules by class, class family and type. Every decision is checked at load.

# METADATA
# description: |
#   Coupon codes of TENANT are joined across events: keyed pseudonyms, not text.
by_field := {"action": "hash", "params": {"hex_len": 16}, "rule": "TENANT.coupon"} if {
	input.tenant == "TENANT"
	input.field.path == "evtData.Coupon"
}
`

const initTest = `package consentry_test

import data.consentry

_coupon(tenant) := {
	"tenant": tenant,
	"format": "clevertap.sdk",
	"record": {"kind": "event", "name": "Charged"},
	"field": {"path": "evtData.Coupon", "key": "Coupon", "class": "", "type": "string"},
}

test_TENANT_coupon_is_hashed if {
	d := consentry.decision with input as _coupon("TENANT")
	d == {"action": "hash", "params": {"hex_len": 16}, "rule": "TENANT.coupon"}
}

test_other_tenants_keep_the_default if {
	d := consentry.decision with input as _coupon("someone-else")
	d.rule == "gdpr.unclassified.scan"
}
`

const initFixture = `name: TENANT coupon codes are pseudonymised
format: clevertap.sdk
tenant: TENANT
payload: '[{"type":"meta","id":"TEST-RK4-654-R75Z"},{"type":"event","evtName":"Charged","evtData":{"Coupon":"SPRING-2026","Amount":42}}]'
expect:
  absent: ["SPRING-2026"]
  present: ["Charged"]
  actions:
    "event:evtData.Coupon": hash
  records_out: 1
`

// cmdRulesFmt is opa fmt over .rego files: in place, or --check.
func cmdRulesFmt(args []string, stdout, stderr io.Writer) int {
	fl := rulesFlags("fmt", stdout, stderr)
	check := fl.Bool("check", false, "write nothing; list the files that would change and exit 1 if any")
	if err := fl.Parse(reorder(args)); err != nil {
		return flagExit(err)
	}
	targets := fl.Args()
	if len(targets) == 0 {
		targets = []string{"."}
	}
	var files []string
	for _, t := range targets {
		err := filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != t && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(p, ".rego") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(stderr, "consentry rules fmt: %v\n", err)
			return 2
		}
	}
	changed, failed := 0, false
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err == nil {
			var out []byte
			if out, err = policy.FormatSource(f, src); err == nil && !bytes.Equal(out, src) {
				changed++
				if *check {
					fmt.Fprintln(stdout, f)
				} else if err = os.WriteFile(f, out, 0o644); err == nil {
					fmt.Fprintf(stdout, "formatted %s\n", f)
				}
			}
		}
		if err != nil {
			failed = true
			fmt.Fprintf(stderr, "consentry rules fmt: %v\n", err)
		}
	}
	switch {
	case failed:
		return 2
	case *check && changed > 0:
		return 1
	}
	return 0
}
