package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/consentry/consentry/masking"
)

// FuzzParseDecision feeds arbitrary JSON as a policy result: it must never
// panic, and any error must come with the fail-closed decision.
func FuzzParseDecision(f *testing.F) {
	for _, s := range []string{
		`{"action": "keep", "rule": "r"}`,
		`{"action": "hash", "params": {"if_prefix": {"__g": "__"}, "hex_len": 32}, "rule": "gdpr.id.device"}`,
		`{"action": "generalize", "params": {"to": "decimals", "decimals": 2}, "rule": "g"}`,
		`{"action": "scan", "params": {"findings": {"contact.email": "redact"}}, "rule": "s"}`,
		`{"action": "mask", "params": {"keep_first": 1, "keep_last": 2, "mask_char": "#"}, "rule": "m"}`,
		`{"action": "obliterate", "rule": "r"}`,
		`{"action": "keep"}`,
		`{"action": "keep", "rule": "r", "extra": 1}`,
		`"keep"`,
		`null`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, record bool) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // as Rego results arrive
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		d, err := parseDecision(v, record, "")
		if err != nil {
			if d != failClosed {
				t.Fatalf("error %v with decision %+v, want fail-closed", err, d)
			}
			return
		}
		if d.Rule == "" || len(d.Rule) > maxRuleLen {
			t.Fatalf("accepted decision with rule %q", d.Rule)
		}
		if record && d.Action != masking.ActionKeep && d.Action != masking.ActionDrop {
			t.Fatalf("record decision with action %s", d.Action)
		}
	})
}
