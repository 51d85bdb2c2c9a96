package formatstest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// CheckGolden compares got with testdata/<name>.golden (rewritten with
// -update).
func CheckGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s changed; review and run with -update:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Golden serves every testdata/*.http request through routes under the
// default policy and compares text(o) (nil: o.Text()) with the .golden file
// next to it. A request named bad_* must be refused with a 400; any other
// must be cleaned, and check (if not nil) then runs on its outcome.
func Golden(t *testing.T, routes []formats.Route, text func(t *testing.T, o *Outcome) string, check func(t *testing.T, req *Request, o *Outcome)) {
	t.Helper()
	for _, name := range Cases(t) {
		t.Run(name, func(t *testing.T) {
			req := Load(t, name)
			o := Serve(t, routes, req, NewEnv(t, nil))
			if text == nil {
				CheckGolden(t, name, o.Text())
			} else {
				CheckGolden(t, name, text(t, &o))
			}
			if strings.HasPrefix(name, "bad_") {
				if o.Err == nil || o.Err.Status != 400 {
					t.Fatalf("malformed request: got %v, want a 400", o.Err)
				}
				return
			}
			if o.Err != nil {
				t.Fatalf("cleaning failed: %v", o.Err)
			}
			if check != nil {
				check(t, req, &o)
			}
		})
	}
}

// Kept names a testdata request and the gjson paths of fields that the
// default policy keeps.
type Kept struct {
	Name  string
	Paths []string
}

// AssertKept serves each case's request under the default policy and checks
// that every path holds the same raw JSON in the output as in the input:
// kept fields arrive byte for byte as sent. payload gives the JSON of the
// input and of the output (nil: the bodies as they are).
func AssertKept(t *testing.T, routes []formats.Route, cases []Kept, payload func(t testing.TB, req *Request, o *Outcome) (in, out []byte)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			req := Load(t, c.Name)
			o := Serve(t, routes, req, NewEnv(t, nil))
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			in, out := req.Body, o.Body
			if payload != nil {
				in, out = payload(t, req, &o)
			}
			for _, p := range c.Paths {
				p = strings.ReplaceAll(p, "$", `\$`)
				a, b := gjson.GetBytes(in, p), gjson.GetBytes(out, p)
				if !a.Exists() {
					t.Fatalf("test path %s is not in the input", p)
				}
				if a.Raw != b.Raw {
					t.Errorf("%s: got %s, want %s", p, b.Raw, a.Raw)
				}
			}
		})
	}
}
