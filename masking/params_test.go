package masking

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseParams(t *testing.T) {
	t.Parallel()
	withDefaults := func(f func(p *Params)) *Params {
		p := defaultParams
		f(&p)
		return &p
	}
	tests := []struct {
		name    string
		a       Action
		m       map[string]any
		want    *Params
		wantErr []string // substrings of the error
	}{
		{name: "nil", a: ActionHash, m: nil, want: nil},
		{name: "empty", a: ActionGeneralize, m: map[string]any{}, want: nil},
		{name: "redact", a: ActionRedact, m: map[string]any{"replacement": "***"},
			want: withDefaults(func(p *Params) { p.Replacement = "***" })},
		{name: "mask", a: ActionMask, m: map[string]any{"keep_first": 2.0, "mask_char": "#"},
			want: withDefaults(func(p *Params) { p.KeepFirst, p.MaskChar = 2, '#' })},
		{name: "mask keep_last from json.Number", a: ActionMask, m: map[string]any{"keep_last": json.Number("6")},
			want: withDefaults(func(p *Params) { p.KeepLast = 6 })},
		{name: "hash device", a: ActionHash, m: map[string]any{"if_prefix": map[string]any{"__g": "__", "-g": "-"}, "hex_len": 32},
			want: withDefaults(func(p *Params) { p.HexLen, p.IfPrefix = 32, map[string]string{"__g": "__", "-g": "-"} })},
		{name: "hash normalize", a: ActionHash, m: map[string]any{"normalize": "phone"},
			want: withDefaults(func(p *Params) { p.Normalize = "phone" })},
		{name: "generalize prefix", a: ActionGeneralize, m: map[string]any{"to": "prefix", "ipv4_bits": 16, "ipv6_bits": int64(32)},
			want: withDefaults(func(p *Params) { p.To, p.IPv4Bits, p.IPv6Bits = ToPrefix, 16, 32 })},
		{name: "generalize decimals", a: ActionGeneralize, m: map[string]any{"to": "decimals", "decimals": 3.0},
			want: withDefaults(func(p *Params) { p.To, p.Decimals = ToDecimals, 3 })},
		{name: "generalize bucket", a: ActionGeneralize, m: map[string]any{"to": "bucket", "bucket_size": 0.5},
			want: withDefaults(func(p *Params) { p.To, p.BucketSize = ToBucket, 0.5 })},
		{name: "scan findings", a: ActionScan, m: map[string]any{"findings": map[string]any{"contact.email": "hash", "net.ip": "generalize"}, "hex_len": 16},
			want: withDefaults(func(p *Params) {
				p.HexLen, p.Findings = 16, map[string]Action{ClassEmail: ActionHash, ClassIP: ActionGeneralize}
			})},
		{name: "scan findings typed", a: ActionScan, m: map[string]any{"findings": map[string]string{"payment.card": "mask"}},
			want: withDefaults(func(p *Params) { p.Findings = map[string]Action{ClassCard: ActionMask} })},

		{name: "unknown param", a: ActionHash, m: map[string]any{"salt": "x"}, wantErr: []string{`"salt"`, "unknown for action hash", "hex_len"}},
		{name: "param of other action", a: ActionMask, m: map[string]any{"replacement": "x"}, wantErr: []string{`"replacement"`}},
		{name: "keep takes none", a: ActionKeep, m: map[string]any{"x": 1}, wantErr: []string{"action keep takes no params"}},
		{name: "tokenize takes none", a: ActionTokenize, m: map[string]any{"key": "k2"}, wantErr: []string{"takes no params"}},
		{name: "wrong type", a: ActionMask, m: map[string]any{"keep_last": "4"}, wantErr: []string{`"keep_last"`, "integer"}},
		{name: "fraction", a: ActionMask, m: map[string]any{"keep_last": 4.5}, wantErr: []string{`"keep_last"`}},
		{name: "range", a: ActionMask, m: map[string]any{"keep_first": -1, "keep_last": 65}, wantErr: []string{`"keep_first"`, `"keep_last"`}},
		{name: "mask char long", a: ActionMask, m: map[string]any{"mask_char": "**"}, wantErr: []string{`"mask_char"`}},
		{name: "mask char quote", a: ActionMask, m: map[string]any{"mask_char": `"`}, wantErr: []string{`"mask_char"`}},
		{name: "normalize", a: ActionHash, m: map[string]any{"normalize": "upper"}, wantErr: []string{`"normalize"`}},
		{name: "hex_len small", a: ActionHash, m: map[string]any{"hex_len": 4}, wantErr: []string{`"hex_len"`}},
		{name: "hex_len big", a: ActionHash, m: map[string]any{"hex_len": 65}, wantErr: []string{`"hex_len"`}},
		{name: "if_prefix type", a: ActionHash, m: map[string]any{"if_prefix": []any{"__g"}}, wantErr: []string{`"if_prefix"`}},
		{name: "if_prefix empty key", a: ActionHash, m: map[string]any{"if_prefix": map[string]any{"": "x"}}, wantErr: []string{`"if_prefix"`}},
		{name: "if_prefix value", a: ActionHash, m: map[string]any{"if_prefix": map[string]any{"a": 1}}, wantErr: []string{`"if_prefix"`}},
		{name: "if_prefix empty", a: ActionHash, m: map[string]any{"if_prefix": map[string]any{}}, wantErr: []string{`"if_prefix"`}},
		{name: "to", a: ActionGeneralize, m: map[string]any{"to": "week"}, wantErr: []string{`"to"`}},
		{name: "bucket needs size", a: ActionGeneralize, m: map[string]any{"to": "bucket"}, wantErr: []string{`"bucket_size"`, "required"}},
		{name: "bucket size", a: ActionGeneralize, m: map[string]any{"to": "bucket", "bucket_size": 0}, wantErr: []string{`"bucket_size"`, "positive"}},
		{name: "bits", a: ActionGeneralize, m: map[string]any{"ipv4_bits": 0, "ipv6_bits": 129}, wantErr: []string{`"ipv4_bits"`, `"ipv6_bits"`}},
		{name: "decimals", a: ActionGeneralize, m: map[string]any{"decimals": 11}, wantErr: []string{`"decimals"`}},
		{name: "findings class", a: ActionScan, m: map[string]any{"findings": map[string]any{"contact.fax": "redact"}}, wantErr: []string{`"findings"`, "contact.fax"}},
		{name: "findings action", a: ActionScan, m: map[string]any{"findings": map[string]any{"contact.email": "encrypt"}}, wantErr: []string{`"findings"`, "unknown action"}},
		{name: "findings scan", a: ActionScan, m: map[string]any{"findings": map[string]any{"contact.email": "scan"}}, wantErr: []string{"scan cannot apply"}},
		{name: "findings type", a: ActionScan, m: map[string]any{"findings": "redact"}, wantErr: []string{`"findings"`}},
		{name: "replacement long", a: ActionRedact, m: map[string]any{"replacement": strings.Repeat("x", 257)}, wantErr: []string{`"replacement"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseParams(tc.a, tc.m)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				if !strings.HasPrefix(err.Error(), "cannot parse params of action") {
					t.Errorf("error %q lacks context", err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParseParamsDefaultPolicy parses the params objects the default GDPR
// policy (rules/consentry/classes.rego) returns, as encoding/json gives them.
func TestParseParamsDefaultPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a    Action
		json string
	}{
		{ActionHash, `{"if_prefix": {"__g": "__", "-g": "-"}, "hex_len": 32}`},
		{ActionGeneralize, `{"to": "year"}`},
		{ActionGeneralize, `{"to": "prefix", "ipv4_bits": 24, "ipv6_bits": 48}`},
		{ActionGeneralize, `{"to": "decimals", "decimals": 2}`},
		{ActionScan, `{"findings": {"contact.email": "redact", "contact.phone": "redact", "net.ip": "redact", "device.ad_id": "redact"}}`},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(tc.json), &m); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseParams(tc.a, m); err != nil {
			t.Errorf("%s %s: %v", tc.a, tc.json, err)
		}
	}
}

func TestParseScanDetectorParams(t *testing.T) {
	p, err := ParseParams(ActionScan, map[string]any{
		"regions": []any{"de", "UK"}, "languages": []any{"de-AT"}, "text": false,
		"hotwords": map[string]any{"contact.phone": map[string]any{"positive": []any{"hotline"}, "negative": []any{"kundennr"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Detect.String(); !strings.HasPrefix(got, "regions=DE,GB text=false") {
		t.Errorf("options %s", got)
	}
	if _, err := ParseParams(ActionScan, map[string]any{"regions": []any{"XX"}}); err == nil {
		t.Error("unknown region accepted")
	}
	if _, err := ParseParams(ActionScan, map[string]any{"hotwords": map[string]any{"nope": map[string]any{}}}); err == nil {
		t.Error("unknown hotword class accepted")
	}
}
