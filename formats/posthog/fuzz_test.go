package posthog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// seedCorpus adds the bodies of the golden requests.
func seedCorpus(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.http")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(parseRequest(f, b).body)
	}
}

// FuzzClean: never panics; errors are client errors; output (decoded
// when a form) is valid JSON; under a drop-all policy no string or number
// survives.
func FuzzClean(f *testing.F) {
	seedCorpus(f)
	f.Add([]byte(`data=W3siZXZlbnQiOiJ4In1d`))
	env := fuzzEnv(f)
	drop := dropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		Detect(nil, body)
		Accounts(nil, nil, body)
		for _, e := range []*formats.Env{env, drop} {
			out, res, err := Clean(nil, body, e)
			if err != nil {
				if formats.AsError(err).Status != 400 {
					t.Fatalf("error is not a client error: %v", err)
				}
				continue
			}
			if res.RecordsOut > res.RecordsIn || res.AllDropped != (res.RecordsIn > 0 && res.RecordsOut == 0) {
				t.Fatalf("inconsistent result %+v", res)
			}
			if res.AllDropped {
				continue
			}
			js := out
			if len(out) > 0 && out[0] != '{' && out[0] != '[' {
				if js, _, err = formPayload(nil, out); err != nil {
					t.Fatalf("output form %q does not decode: %v", out, err)
				}
			}
			if !json.Valid(js) {
				t.Fatalf("invalid output %q from %q", js, body)
			}
			if e == drop {
				assertStructureOnly(t, js)
			}
		}
	})
}

// assertStructureOnly fails if out holds any string or number other than
// the keys the adapter itself writes ("batch").
func assertStructureOnly(t *testing.T, out []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string, float64:
			t.Fatalf("a value survived a drop-all policy: %s", strings.TrimSpace(string(out)))
		}
	}
	walk(v)
}
