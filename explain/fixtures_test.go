package explain_test

import (
	"bytes"
	"testing"

	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/formats/clevertap"
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
