package formatstest

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// Request is a formats.Request with its method, path and body.
type Request struct {
	Method, Path string
	RawQuery     string            // without '?'
	Headers      map[string]string // lower-case names; may be nil
	Body         []byte
}

var _ formats.Request = (*Request)(nil)

// Header implements formats.Request.
func (r *Request) Header(name string) []byte {
	if v, ok := r.Headers[strings.ToLower(name)]; ok {
		return []byte(v)
	}
	return nil
}

// Query implements formats.Request.
func (r *Request) Query(name string) []byte {
	v, err := url.ParseQuery(r.RawQuery)
	if err != nil || !v.Has(name) {
		return nil
	}
	return []byte(v.Get(name))
}

// QueryString implements formats.Request.
func (r *Request) QueryString() []byte { return []byte(r.RawQuery) }

// ParseRequest reads a request in the testdata format (see the package
// documentation). The body's final newline is not part of it.
func ParseRequest(t testing.TB, b []byte) *Request {
	t.Helper()
	head, body, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		head, body = bytes.TrimRight(b, "\n"), nil
	}
	lines := strings.Split(string(head), "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("bad request line %q", lines[0])
	}
	r := &Request{Method: method, Headers: map[string]string{}}
	r.Path, r.RawQuery, _ = strings.Cut(target, "?")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		r.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	r.Body = bytes.TrimSuffix(body, []byte("\n"))
	return r
}

// Load reads testdata/<name>.http.
func Load(t testing.TB, name string) *Request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	return ParseRequest(t, b)
}

// Cases are the names of the testdata/*.http requests, in file order.
func Cases(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".http")
	}
	return names
}
