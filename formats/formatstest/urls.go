package formatstest

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// URLLeaks are what no cleaned page URL may hold: the e-mail address of
// the url_* cases (plain or percent-encoded), their secrets, ad click ids
// and the full User-Agent.
var URLLeaks = []string{
	"jane.doe@example.com", "s3cr3t-t0ken", "hunter2", "abc123def", "eyJhbGciOi", "xyz789",
	"gclid", "fbclid", "msclkid", "Cj0KCQjw8J", "IwAR2xQ", "ab12cd34", "SM-S918B",
	"415 555 0123", "+14155550123",
}

// URLCases serves every testdata/<prefix>url_*.http request under the
// default policy and fails if the output, as is or percent-decoded once or
// twice, holds one of URLLeaks. payload gives the JSON of the output (nil:
// the body as it is).
func URLCases(t *testing.T, routes []formats.Route, prefix string, payload func(t testing.TB, o *Outcome) []byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", prefix+"url_*.http"))
	if len(files) < 4 {
		t.Fatalf("want the four url_* cases (query plain and encoded, fragment, path) for %q, found %d", prefix, len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".http")
		t.Run(name, func(t *testing.T) {
			o := Serve(t, routes, Load(t, name), NewEnv(t, nil))
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			out := o.Body
			if payload != nil {
				out = payload(t, &o)
			}
			forms := []string{string(out)}
			s := string(out)
			for range 2 {
				u, err := url.PathUnescape(strings.ReplaceAll(s, `\u0026`, "&"))
				if err != nil {
					break
				}
				forms, s = append(forms, u), u
			}
			for _, leak := range URLLeaks {
				for _, f := range forms {
					if strings.Contains(f, leak) {
						t.Errorf("%q survived cleaning: %s", leak, out)
						break
					}
				}
			}
			if !strings.Contains(string(out), "tok%3At1%3A") && !strings.Contains(string(out), "%5Bemail%5D") {
				t.Errorf("no e-mail token or label in the cleaned URLs: %s", out)
			}
		})
	}
}
