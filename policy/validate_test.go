package policy

import (
	"errors"
	"strings"
	"testing"
)

// A decision the proxy cannot apply is refused at load, with the file and
// line of the rule that produces it, instead of failing closed in production.
func TestValidationRefusesBrokenDecisions(t *testing.T) {
	good := shippedFiles(t)
	tests := []struct {
		name  string
		rule  string         // appended to extra.rego (package consentry)
		data  map[string]any // tenant data
		want  []string       // in the error
		input bool           // found by evaluation: the error names the input
	}{
		{"unknown param", `by_field := {"action": "hash", "params": {"hexlen": 8}, "rule": "acme.id"} if input.field.path == "evtData.Id"`,
			nil, []string{"extra.rego:3", `param "hexlen": unknown for action hash`}, false},
		{"unknown action", `by_field := {"action": "delete", "rule": "acme.id"} if input.field.path == "evtData.Id"`,
			nil, []string{"extra.rego:3", `unknown action "delete"`}, false},
		{"bad param type", `by_field := {"action": "mask", "params": {"keep_first": "one"}, "rule": "acme.m"} if input.field.path == "x"`,
			nil, []string{"extra.rego:3", `param "keep_first"`}, false},
		{"unknown key", `by_field := {"action": "keep", "rule": "acme.k", "parms": {}} if input.field.path == "x"`,
			nil, []string{"extra.rego:3", `unknown key "parms"`}, false},
		{"reserved rule id", `by_field := {"action": "keep", "rule": "consentry.error"} if input.field.path == "x"`,
			nil, []string{"extra.rego:3", "reserved"}, false},
		{"no rule id", `by_field := {"action": "keep"} if input.field.path == "evtData.Id"`,
			nil, []string{"extra.rego:3", "no rule id", `path "evtData.Id"`}, true},
		{"computed bad param", `by_field := {"action": "hash", "params": {"hex_len": count(input.field.path)}, "rule": "acme.computed"} if input.field.path == "ab"`,
			nil, []string{"extra.rego:3", `param "hex_len"`, `rule "acme.computed"`, `path "ab"`}, true},
		{"conflict with a built-in class rule", `by_class := {"action": "drop", "rule": "acme.email"} if input.field.class == "contact.email"`,
			nil, []string{"eval_conflict_error", `class "contact.email"`}, true},
		{"tenant-specific rule", `by_field := {"action": "keep", "rule": "acme.a"} if {
	input.tenant == "acme"
	input.record.kind == "profile"
	input.field.path == "profile.Extra"
	input.field.type == "number"
	to_number("x")
}`, nil, []string{"eval_builtin_error", `tenant "acme"`, `kind "profile"`, `path "profile.Extra"`}, true},
		{"record action", `record_override := {"action": "hash", "rule": "acme.r"} if input.record.name == "Debug"`,
			nil, []string{"extra.rego:3", `record decision action "hash"`, `name "Debug"`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := with(good, "extra.rego", "package consentry\n\n"+tt.rule+"\n")
			e, err := New(WithFS(policyFS(files)), WithData(tt.data))
			if err == nil {
				e.Close()
				t.Fatal("New accepted the policy")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			hasInput := false
			for _, p := range ve.Problems {
				hasInput = hasInput || p.Input != ""
			}
			if hasInput != tt.input {
				t.Errorf("found by evaluation = %v, want %v:\n%v", hasInput, tt.input, err)
			}
		})
	}
}

// The shipped policy and valid extensions pass; the shipped policy's tenant
// overrides are checked with their tenant.
func TestValidationAcceptsValidPolicies(t *testing.T) {
	good := shippedFiles(t)
	for name, files := range map[string]map[string]string{
		"shipped": good,
		"field rule": with(good, "extra.rego", `package consentry

by_field := {"action": "hash", "params": {"hex_len": 16}, "rule": "acme.coupon"} if input.field.path == "evtData.Coupon"
`),
		"computed params": with(good, "extra.rego", `package consentry

by_field := {"action": "mask", "params": {"keep_first": count(input.field.key)}, "rule": "acme.mask"} if input.field.key == "Code"
`),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := New(WithFS(policyFS(files)))
			if err != nil {
				t.Fatal(err)
			}
			e.Close()
		})
	}
}

// Reload and Watch go through the same validation: the last good policy
// stays and the reload is counted as failed.
func TestValidationOnReloadKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, shippedFiles(t))
	e := newEngine(t, WithDir(dir))
	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"extra.rego": "package consentry\n\nby_field := {\"action\": \"hash\", \"params\": {\"hexlen\": 8}, \"rule\": \"a.b\"} if input.field.path == \"x\"\n"})
	err := e.Reload()
	if err == nil || !strings.Contains(err.Error(), "extra.rego:3") || !strings.Contains(err.Error(), "hexlen") {
		t.Fatalf("Reload: %v", err)
	}
	if s := e.Stats(); e.Revision() != rev || s.LastReloadOK || s.ReloadErrors != 1 {
		t.Fatalf("after a refused reload: revision %s (was %s), stats %+v", e.Revision(), rev, s)
	}
}

// A refused non-deterministic built-in says so, instead of OPA's "undefined
// function".
func TestNonDeterministicBuiltinRefusedAsSuch(t *testing.T) {
	for _, fn := range []string{"time.now_ns()", `rand.intn("x", 10)`, `http.send({"method": "get", "url": "http://x"})`} {
		files := with(shippedFiles(t), "extra.rego", "package consentry\n\nx := "+fn+"\n")
		_, err := New(WithFS(policyFS(files)))
		if err == nil || !strings.Contains(err.Error(), "non-deterministic") || strings.Contains(err.Error(), "undefined function") {
			t.Errorf("%s: %v", fn, err)
		}
	}
}
