package explain_test

import (
	"bytes"
	"testing"

	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// The fixtures shipped in rules/fixtures hold for the shipped policy.
func TestShippedFixtures(t *testing.T) {
	fixtures, err := explain.LoadFixtures("../rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(fixtures) == 0 {
		t.Fatal("no fixtures found in rules/fixtures")
	}
	eng, err := policy.New(policy.WithFS(rules.FS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{1}, 32), TokenKey: bytes.Repeat([]byte{2}, 64), TokenKeyID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		r := explain.RunFixture(f, clevertap.Routes(), eng, tr)
		t.Run(r.Name, func(t *testing.T) {
			for _, msg := range r.Failures {
				t.Error(msg)
			}
		})
	}
}

func TestRunUnknownFormat(t *testing.T) {
	if _, err := explain.Run(clevertap.Routes(), "nope", "t", []byte(`{}`), nil, nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// TestReplacements: explain lists every finding replaced inside a value,
// with its field, detector rule and cue, also inside a page URL's parts.
func TestReplacements(t *testing.T) {
	eng, err := policy.New(policy.WithFS(rules.FS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{1}, 32), TokenKey: bytes.Repeat([]byte{2}, 64), TokenKeyID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"batch":[{"type":"page","userId":"u1","context":{"page":{"url":"https://shop.example.org/u/jane%40example.com?q=call+me+on+%2B1+415+555+2671"}},` +
		`"properties":{"note":"my phone is 030 1234567"}}],"writeKey":"K"}`
	res, err := explain.Run(segment.Routes(), "segment", "t", []byte(payload), eng, tr)
	if err != nil {
		t.Fatal(err)
	}
	var sawURL, sawCue bool
	for _, r := range res.Replacements {
		if r.Kind == "url" && r.Name == "context.page.url" && r.Path == "path" && r.Class == "contact.email" && r.Rule == "email" {
			sawURL = true
		}
		if r.Path == "properties.note" && r.Class == "contact.phone" && r.Cue != "" {
			sawCue = true
		}
	}
	if !sawURL || !sawCue {
		t.Errorf("replacements %+v: want the e-mail in the URL path and the phone with its cue", res.Replacements)
	}
	var b bytes.Buffer
	explain.WriteReplacements(&b, res)
	if !bytes.Contains(b.Bytes(), []byte("context.page.url → path")) {
		t.Errorf("table:\n%s", b.String())
	}
}
