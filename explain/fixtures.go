package explain

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Fixture is a sample payload with what the policy must do to it. Authors
// write them next to their rules (fixtures/*.yaml) and run them with
// `consentry rules test`.
type Fixture struct {
	Name        string `yaml:"name"`
	Format      string `yaml:"format"`
	Tenant      string `yaml:"tenant"`
	Payload     string `yaml:"payload"`      // inline JSON
	PayloadFile string `yaml:"payload_file"` // or a file, relative to the fixture
	Expect      struct {
		// Absent strings must not appear in the cleaned payload.
		Absent []string `yaml:"absent"`
		// Present strings must survive unchanged.
		Present []string `yaml:"present"`
		// Actions maps "path" (or "kind:path") to the expected action.
		Actions map[string]string `yaml:"actions"`
		// RecordsOut, when set, is the number of records forwarded.
		RecordsOut *int `yaml:"records_out"`
	} `yaml:"expect"`

	file string
}

// FixtureResult is the outcome of one fixture.
type FixtureResult struct {
	File     string
	Name     string
	Failures []string
}

// Pass reports whether the fixture held.
func (r FixtureResult) Pass() bool { return len(r.Failures) == 0 }

// LoadFixtures reads every *.yaml / *.yml file under dir/fixtures (or dir
// itself when it is the fixtures folder). A missing folder is no fixtures.
func LoadFixtures(dir string) ([]Fixture, error) {
	fdir := filepath.Join(dir, "fixtures")
	if st, err := os.Stat(fdir); err != nil || !st.IsDir() {
		return nil, nil
	}
	var out []Fixture
	err := filepath.WalkDir(fdir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var f Fixture
		if err := dec.Decode(&f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		f.file = path
		if f.Name == "" {
			f.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// RunFixture cleans the fixture's payload and checks its expectations.
func RunFixture(f Fixture, routes []formats.Route, pol Policy, applier masking.Applier) FixtureResult {
	r := FixtureResult{File: f.file, Name: f.Name}
	failf := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	payload := []byte(f.Payload)
	if f.PayloadFile != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(f.file), f.PayloadFile))
		if err != nil {
			failf("cannot read payload_file: %v", err)
			return r
		}
		payload = b
	}
	tenant := f.Tenant
	if tenant == "" {
		tenant = "default"
	}
	res, err := Run(routes, f.Format, tenant, payload, pol, applier)
	if err != nil {
		failf("cannot clean payload: %v", err)
		return r
	}
	for _, s := range f.Expect.Absent {
		if bytes.Contains(res.Payload, []byte(s)) {
			failf("expected absent, but found in output: %q", s)
		}
	}
	for _, s := range f.Expect.Present {
		if !bytes.Contains(res.Payload, []byte(s)) {
			failf("expected present, but missing from output: %q", s)
		}
	}
	for _, d := range res.Records {
		if d.Rule == masking.FailClosedRule {
			failf("record %d (%s) fails closed (%s): %s", d.Record, d.Kind, d.Rule, d.Reason)
		}
	}
	for _, d := range res.Decisions {
		if d.Rule == masking.FailClosedRule {
			failf("field %q (record %d) fails closed (%s): %s", d.Path, d.Record, d.Rule, d.Reason)
		}
	}
	got := map[string]string{}
	for _, d := range res.Decisions {
		got[d.Path] = d.Action
		got[d.Kind+":"+d.Path] = d.Action
	}
	keys := make([]string, 0, len(f.Expect.Actions))
	for k := range f.Expect.Actions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := f.Expect.Actions[k]
		if a, ok := got[k]; !ok {
			failf("no field %q in the payload", k)
		} else if a != want {
			failf("field %q: action %s, want %s", k, a, want)
		}
	}
	if n := f.Expect.RecordsOut; n != nil && *n != res.RecordsOut {
		failf("records forwarded: %d, want %d", res.RecordsOut, *n)
	}
	return r
}
