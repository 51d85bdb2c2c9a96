package mixpanel

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/formats"
)

// seedCorpus adds the bodies and query strings of the golden requests.
func seedCorpus(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.http")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		r := parseRequest(f, b)
		f.Add(r.body)
		f.Add([]byte(r.query))
	}
}

// checkOutput asserts that cleaned parameters parse, their payloads decode
// to JSON, and under drop-all nothing but structure survives.
func checkOutput(t *testing.T, out []byte, res formats.Result, dropAll bool) {
	t.Helper()
	if res.RecordsOut > res.RecordsIn || res.AllDropped != (res.RecordsIn > 0 && res.RecordsOut == 0) {
		t.Fatalf("inconsistent result %+v", res)
	}
	if res.AllDropped {
		return // the proxy answers itself; out is not forwarded
	}
	var payloads [][]byte
	if isJSON(out) {
		payloads = append(payloads, out)
	} else {
		ps, err := splitParams(nil, out)
		if err != nil {
			t.Fatalf("output %q does not parse: %v", out, err)
		}
		for _, p := range ps {
			if !p.data {
				if dropAll {
					t.Fatalf("parameter %q survived a drop-all policy", p.key)
				}
				continue
			}
			plain, _, err := decodeData(nil, p.value)
			if err != nil {
				t.Fatalf("output data %q does not decode: %v", p.value, err)
			}
			payloads = append(payloads, plain)
		}
	}
	for _, p := range payloads {
		for _, l := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
			if len(bytes.TrimSpace(l)) == 0 && len(p) <= 1 {
				continue
			}
			if !json.Valid(l) {
				t.Fatalf("payload %q is not JSON", p)
			}
			if dropAll {
				assertStructureOnly(t, l)
			}
		}
	}
}

// FuzzClean: POST bodies (form, JSON, NDJSON) never panic, errors are
// client errors, output re-decodes, drop-all leaves structure only.
func FuzzClean(f *testing.F) {
	seedCorpus(f)
	env, drop := fuzzEnv(f), dropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		accounts(KindEvent)(nil, &request{}, body)
		for _, kind := range []string{KindEvent, KindProfile} {
			for _, e := range []*formats.Env{env, drop} {
				out, res, err := Clean(nil, body, e, kind)
				if err != nil {
					if formats.AsError(err).Status != 400 {
						t.Fatalf("error is not a client error: %v", err)
					}
					continue
				}
				checkOutput(t, out, res, e == drop)
			}
		}
	})
}

// FuzzCleanQuery is FuzzClean for query strings.
func FuzzCleanQuery(f *testing.F) {
	seedCorpus(f)
	env, drop := fuzzEnv(f), dropEnv(f)
	f.Fuzz(func(t *testing.T, query []byte) {
		accounts(KindProfile)(nil, &request{query: string(query)}, nil)
		for _, e := range []*formats.Env{env, drop} {
			out, res, err := CleanQuery(nil, query, e, KindGroup, false)
			if err != nil {
				continue
			}
			if !isJSON(out) {
				checkOutput(t, out, res, e == drop)
			}
		}
	})
}

// FuzzDecodeData: whatever decodes re-encodes to the same payload.
func FuzzDecodeData(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		plain, enc, err := decodeData(nil, raw)
		if err != nil {
			return
		}
		back, _, err := decodeData(nil, encodeData(nil, plain, enc))
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("round trip of %q: %q, %v", raw, back, err)
		}
	})
}

// assertStructureOnly fails if out holds any string or number.
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
			t.Fatalf("a value survived a drop-all policy: %s", out)
		}
	}
	walk(v)
}
