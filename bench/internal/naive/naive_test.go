package naive

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/rules"
)

// upstream records the last body it received.
type upstream struct {
	mu    sync.Mutex
	calls int
	body  []byte
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls++
	u.body = b
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

func newProxy(t testing.TB) (*Proxy, *upstream) {
	t.Helper()
	up := &upstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	p, err := New(context.Background(), srv.URL, rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	return p, up
}

func post(p *Proxy, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	p.ServeHTTP(rec, req)
	return rec
}

func TestServeAppliesPolicy(t *testing.T) {
	t.Parallel()
	p, up := newProxy(t)
	reqs, err := corpus.Generate(corpus.SDK10, corpus.Options{Seed: 1, Variants: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := string(reqs[0].Body)
	rec := post(p, reqs[0].Path, in)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !json.Valid(up.body) {
		t.Fatal("forwarded body is not JSON")
	}
	var batch []map[string]any
	if err := json.Unmarshal(up.body, &batch); err != nil || len(batch) != 11 {
		t.Fatalf("forwarded %d records (%v)", len(batch), err)
	}
	af := batch[0]["af"].(map[string]any)
	for _, k := range []string{"GoogleAdID", "wifi", "Carrier", "Radio"} {
		if _, ok := af[k]; ok {
			t.Errorf("af.%s forwarded, the default policy drops it", k)
		}
	}
	if af["Model"] == nil {
		t.Error("af.Model dropped, the default policy keeps device info")
	}
	// No email address of the input may survive (tokenized or redacted).
	for _, r := range batch {
		if d, ok := r["evtData"].(map[string]any); ok {
			if e, ok := d["Email"].(string); ok && strings.Contains(e, "@") {
				t.Errorf("evtData.Email forwarded in clear")
			}
		}
		if r["type"] == nil {
			t.Errorf("record lost its type")
		}
	}
	if p.Evals() > 11 {
		t.Errorf("%d OPA queries for an 11-element batch; want at most one per record", p.Evals())
	}
}

func TestServeREST(t *testing.T) {
	t.Parallel()
	p, up := newProxy(t)
	reqs, _ := corpus.Generate(corpus.REST100, corpus.Options{Seed: 2, Variants: 1})
	rec := post(p, "/1/upload", string(reqs[0].Body))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got struct {
		D []map[string]any `json:"d"`
	}
	if err := json.Unmarshal(up.body, &got); err != nil || len(got.D) != 100 {
		t.Fatalf("forwarded %d records (%v)", len(got.D), err)
	}
	for _, r := range got.D {
		if pd, ok := r["profileData"].(map[string]any); ok {
			if _, ok := pd["Name"]; ok {
				t.Fatal("profileData.Name forwarded, the default policy drops it")
			}
		}
	}
}

func TestServeRejectsWithoutForwarding(t *testing.T) {
	t.Parallel()
	p, up := newProxy(t)
	tests := []struct {
		name, path, body string
		want             int
	}{
		{"not JSON", "/a1", `[{"type":`, http.StatusBadRequest},
		{"SDK object", "/a1", `{"type":"meta"}`, http.StatusBadRequest},
		{"SDK scalar record", "/a1", `[1]`, http.StatusBadRequest},
		{"REST without d", "/1/upload", `{"x":[]}`, http.StatusBadRequest},
		{"unknown route", "/hello", `{}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		if rec := post(p, tt.path, tt.body); rec.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.want)
		}
	}
	if up.calls != 0 {
		t.Fatalf("upstream called %d times for rejected bodies", up.calls)
	}
}

// The transforms are Consentry's own (masking.Transformer), so the naive
// contender's output matches Consentry's for the same keys; scan is its own.
func TestApply(t *testing.T) {
	t.Parallel()
	p, _ := newProxy(t)
	tok := func(in string) string {
		out, _, _, err := p.tr.Apply(nil, &masking.Decision{Action: masking.ActionTokenize}, []byte(in), masking.TypeString)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	tests := []struct {
		name     string
		decision any
		in       any
		want     any // a string is compared with the JSON the value encodes to
		wantKeep bool
	}{
		{"keep", map[string]any{"action": "keep"}, "x", `"x"`, true},
		{"drop", map[string]any{"action": "drop"}, "x", nil, false},
		{"unknown action fails closed", map[string]any{"action": "shred"}, "x", nil, false},
		{"missing decision fails closed", nil, "x", nil, false},
		{"bad params fail closed", map[string]any{"action": "mask", "params": map[string]any{"keep_first": "x"}}, "x", nil, false},
		{"redact string", map[string]any{"action": "redact"}, "jane@example.com", `"[REDACTED]"`, true},
		{"redact number", map[string]any{"action": "redact"}, 4.5, `0`, true},
		{"tokenize is AES-SIV like Consentry", map[string]any{"action": "tokenize"}, "jane@example.com", tok(`"jane@example.com"`), true},
		{"mask", map[string]any{"action": "mask", "params": map[string]any{"keep_first": 1.0, "keep_last": 2.0}}, "abcdef", `"a***ef"`, true},
		{"generalize year", map[string]any{"action": "generalize", "params": map[string]any{"to": "year"}}, "$D_632361600", `"$D_631152000"`, true},
		{"scan email and phone", map[string]any{"action": "scan"}, "mail jane@example.com or +14155550123", `"mail [REDACTED] or [REDACTED]"`, true},
		{"scan clean", map[string]any{"action": "scan"}, "Loved it", `"Loved it"`, true},
	}
	for _, tt := range tests {
		d := parseDecision(tt.decision)
		got, keep := p.apply(&d, tt.in)
		if keep != tt.wantKeep {
			t.Errorf("%s: keep = %v, want %v", tt.name, keep, tt.wantKeep)
			continue
		}
		if !keep {
			continue
		}
		enc, err := json.Marshal(got)
		if err != nil || string(enc) != tt.want {
			t.Errorf("%s: got %s (%v), want %s", tt.name, enc, err, tt.want)
		}
	}
}

// One OPA query per record shape, and none for a shape seen before.
func TestDecisionCacheByShape(t *testing.T) {
	t.Parallel()
	p, _ := newProxy(t)
	reqs, err := corpus.Generate(corpus.Dense, corpus.Options{Seed: 1, Variants: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if rec := post(p, r.Path, string(r.Body)); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	first := p.Evals()
	if first == 0 || first > 22 {
		t.Fatalf("%d OPA queries for 2 batches of 11 records, want one per new shape", first)
	}
	for _, r := range reqs {
		post(p, r.Path, string(r.Body))
	}
	if p.Evals() != first {
		t.Fatalf("the same batches again cost %d more OPA queries, want 0", p.Evals()-first)
	}
	// A new event name is a new shape: one more query.
	post(p, "/a1", `[{"type":"meta","g":"__x"},{"type":"event","evtName":"Promo 123","evtData":{"a":1}}]`)
	if p.Evals() != first+2 {
		t.Fatalf("a new header and a new event name cost %d queries, want 2", p.Evals()-first)
	}
}

func TestLoadModulesSkipsTests(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"p/a.rego":      {Data: []byte("package consentry\n")},
		"p/a_test.rego": {Data: []byte("package consentry_test\n")},
		"p/README.md":   {Data: []byte("x")},
	}
	mods, err := LoadModules(fsys)
	if err != nil || len(mods) != 1 || mods["p/a.rego"] == "" {
		t.Fatalf("LoadModules = %v, %v", mods, err)
	}
	if _, err := LoadModules(fstest.MapFS{}); err == nil {
		t.Fatal("empty policy accepted")
	}
}

// fuzzPolicy exercises every action branch cheaply; the fuzz target tests
// the decode, walk and re-encode, not the shipped policy.
const fuzzPolicy = `package consentry

record_decision := {"action": "keep"}

decision := {"action": "drop"} if input.field.type == "null"
else := {"action": "hash", "params": {"hex_len": 8}} if input.field.key == "g"
else := {"action": "generalize", "params": {"to": "year"}} if startswith(input.field.key, "D")
else := {"action": "scan"} if input.field.type == "string"
else := {"action": "keep"}
`

func FuzzServe(f *testing.F) {
	reqs, _ := corpus.Generate(corpus.SDK1, corpus.Options{Seed: 1, Variants: 2})
	for _, r := range reqs {
		f.Add(false, string(r.Body))
	}
	f.Add(false, `[{"type":"event","evtData":{"a":[[1,{"b":null}],[]],"":{},"DOB":"$D_x"}}]`)
	f.Add(true, `{"d":[{"identity":"1","type":"profile","profileData":{"DOB":"$D_632361600","Phone":"+14155550123"}}]}`)
	up := &upstream{}
	srv := httptest.NewServer(up)
	f.Cleanup(srv.Close)
	p, err := New(context.Background(), srv.URL, fstest.MapFS{"p.rego": {Data: []byte(fuzzPolicy)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rest bool, body string) {
		path := "/a1"
		if rest {
			path = "/1/upload"
		}
		up.mu.Lock()
		before := up.calls
		up.mu.Unlock()
		rec := post(p, path, body)
		up.mu.Lock()
		defer up.mu.Unlock()
		switch rec.Code {
		case http.StatusOK:
			if up.calls != before+1 || !json.Valid(up.body) {
				t.Fatalf("forwarded invalid JSON for %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if up.calls != before {
				t.Fatal("rejected body was forwarded")
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func BenchmarkServeSDK10(b *testing.B) {
	p, _ := newProxy(b)
	reqs, _ := corpus.Generate(corpus.SDK10, corpus.Options{Seed: 1, Variants: 1})
	body := string(reqs[0].Body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if rec := post(p, "/a1", body); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
