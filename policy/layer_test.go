package policy

import (
	"strings"
	"testing"

	"github.com/consentry/consentry/masking"
)

// A policy directory adds to the built-in rules unless it defines decision
// or record_decision, in which case it replaces them.
func TestLayering(t *testing.T) {
	cl := pathClassifier{"profile.Email": "contact.email", "evtData.Coupon": "", "evtData.Pet": "pet.name", "profile.Gender": "person.gender"}
	fields := []field{{"profile.Email", masking.TypeString}, {"evtData.Coupon", masking.TypeString}, {"evtData.Pet", masking.TypeString}, {"profile.Gender", masking.TypeString}}
	tests := []struct {
		name    string
		files   map[string]string
		data    map[string]any
		layered bool
		want    []string // rule per field
	}{
		{"field rule for an unclassified key", map[string]string{"acme.rego": `package consentry

by_field := {"action": "hash", "params": {"hex_len": 16}, "rule": "acme.coupon"} if input.field.path == "evtData.Coupon"
`}, nil, true, []string{"gdpr.contact.email", "acme.coupon", "gdpr.unclassified.scan", "gdpr.person.gender"}},
		{"new class", map[string]string{"pets.rego": `package consentry

by_class := {"action": "drop", "rule": "acme.pet"} if input.field.class == "pet.name"
`}, nil, true, []string{"gdpr.contact.email", "gdpr.unclassified.scan", "acme.pet", "gdpr.person.gender"}},
		{"class override", map[string]string{"acme.rego": `package consentry

class_override := {"action": "hash", "params": {"normalize": "email"}, "rule": "acme.email"} if input.field.class == "contact.email"
`}, nil, true, []string{"acme.email", "gdpr.unclassified.scan", "gdpr.unclassified.scan", "gdpr.person.gender"}},
		{"tenant data wins over a layered rule", map[string]string{"acme.rego": `package consentry

by_field := {"action": "hash", "rule": "acme.coupon"} if input.field.path == "evtData.Coupon"
`}, map[string]any{"tenants": map[string]any{"acme": map[string]any{"fields": map[string]any{"evtData.Coupon": map[string]any{"action": "keep"}}}}},
			true, []string{"gdpr.contact.email", "tenant.field", "gdpr.unclassified.scan", "gdpr.person.gender"}},
		{"helper package only", map[string]string{"lib/lib.rego": "package lib\n\nx := 1\n"}, nil, true,
			[]string{"gdpr.contact.email", "gdpr.unclassified.scan", "gdpr.unclassified.scan", "gdpr.person.gender"}},
		{"complete policy replaces", map[string]string{"p.rego": `package consentry

decision := {"action": "keep", "rule": "all.keep"}

record_decision := {"action": "keep", "rule": "all.rec"}
`}, nil, false, []string{"all.keep", "all.keep", "all.keep", "all.keep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			e := newEngine(t, WithDir(dir), WithData(tt.data))
			if e.Layered() != tt.layered {
				t.Fatalf("Layered() = %v, want %v", e.Layered(), tt.layered)
			}
			plan, err := e.Plan(newQuery("acme", "clevertap.sdk", "event", "E", cl, fields...))
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				if got := plan.Decisions[i].Rule; got != w {
					t.Errorf("%s: rule %s, want %s", fields[i].path, got, w)
				}
			}
		})
	}
}

// A layered policy with only one of the entry points is incomplete, and the
// error says so once (no doubled prefix); errors in built-in modules are
// named as such.
func TestLayeringErrors(t *testing.T) {
	for _, tt := range []struct {
		name, src, want string
	}{
		{"only record_decision", "package consentry\n\nrecord_decision := {\"action\": \"keep\", \"rule\": \"r\"}\n", "it defines no data.consentry.decision"},
		{"conflict with a built-in rule", "package consentry\n\nby_class := {\"action\": \"keep\", \"rule\": \"acme.x\"} if input.field.class == \"person.name\"\n", "eval_conflict_error"},
		{"name clash with a built-in rule", "package consentry\n\nscan_findings := 1\n", "builtin:consentry/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"p.rego": tt.src})
			_, err := New(WithDir(dir))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Count(err.Error(), "cannot load policy") > 1 {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
