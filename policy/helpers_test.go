package policy

import (
	"hash/maphash"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/consentry/consentry/masking"
)

// field is one leaf of a test record.
type field struct {
	path string
	typ  masking.ValueType
}

// pathClassifier classifies by full path, falling back to the last key.
type pathClassifier map[string]string

func (c pathClassifier) Classify(_, path, key string) string {
	if cl, ok := c[path]; ok {
		return cl
	}
	return c[key]
}

var testSeed = maphash.MakeSeed()

// newQuery builds a PlanQuery as a format adapter would.
func newQuery(tenant, format, kind, name string, cl masking.Classifier, fields ...field) *masking.PlanQuery {
	q := &masking.PlanQuery{Tenant: tenant, Format: format, Kind: kind, Name: name, Classifier: cl}
	var sig uint64 = 14695981039346656037
	for _, f := range fields {
		h := maphash.String(testSeed, f.path+"|"+f.typ.String())
		q.Fields = append(q.Fields, masking.FieldShape{Hash: h, Type: f.typ})
		sig = (sig ^ h) * 1099511628211
	}
	q.Sig = sig
	q.SetDescriber(func(i int) (string, string) {
		p := fields[i].path
		key := strings.TrimSuffix(p[strings.LastIndexByte(p, '.')+1:], "[]")
		return p, key
	})
	return q
}

// policyFS returns a MapFS with the given files.
func policyFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, src := range files {
		m[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return m
}

// shippedFiles returns the shipped policy modules (without tests) by file name.
func shippedFiles(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	matches, err := filepath.Glob("../rules/consentry/*.rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.rego") {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(m)] = string(b)
	}
	if len(out) == 0 {
		t.Fatal("no shipped policy files found")
	}
	return out
}

// writeFiles writes files into dir, replacing what is there.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	e, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func with(files map[string]string, name, src string) map[string]string {
	m := maps.Clone(files)
	m[name] = src
	return m
}

// withoutValidation loads a policy whose decisions cannot all be applied,
// to test the fail-closed path behind the load-time validation.
func withoutValidation() Option { return func(o *options) { o.skipValidation = true } }
