package policy

import (
	"strings"
	"testing"
)

func TestRunTests(t *testing.T) {
	fsys := policyFS(map[string]string{
		"p/p.rego": "package p\n\nallow if input.ok\n",
		"p/p_test.rego": `package p_test

import data.p

test_pass if p.allow with input as {"ok": true}

test_fail if p.allow with input as {"ok": false}

test_error if to_number("x") > 0

test_cases[note] if {
	some note, ok in {"yes": true, "no": false}
	p.allow with input as {"ok": ok}
}

todo_test_later if false
`,
	})
	results, err := RunTests(t.Context(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]TestResult{}
	for _, r := range results {
		got[r.Name] = r
	}
	check := func(name string, pass, skip bool, failHas string) {
		t.Helper()
		r, ok := got[name]
		if !ok {
			t.Fatalf("no result for %s in %+v", name, results)
		}
		if r.Pass != pass || r.Skip != skip || !strings.Contains(r.Fail, failHas) {
			t.Errorf("%s: %+v", name, r)
		}
		if r.Package != "data.p_test" || !strings.HasPrefix(r.Location, "p/p_test.rego:") {
			t.Errorf("%s: package %q location %q", name, r.Package, r.Location)
		}
	}
	check("test_pass", true, false, "")
	check("test_fail", false, false, "failed")
	check("test_error", false, false, "error:")
	check("test_cases", false, false, `"no"`)
	check("todo_test_later", false, true, "")
	if cs := got["test_cases"].Cases; len(cs) != 2 {
		t.Errorf("cases: %+v", cs)
	}

	if _, err := RunTests(t.Context(), policyFS(map[string]string{"x.rego": "package x\n\ny := \n"})); err == nil ||
		!strings.Contains(err.Error(), "x.rego:") {
		t.Errorf("RunTests on a broken module: %v", err)
	}
}

func TestCheckFormat(t *testing.T) {
	bad, err := CheckFormat(policyFS(map[string]string{
		"ok.rego":  "package ok\n\nx := 1\n",
		"bad.rego": "package bad\nx:=1\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0] != "bad.rego" {
		t.Fatalf("CheckFormat = %v, want [bad.rego]", bad)
	}
}
