package mixpanel

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/formats/vendorkit"
)

// seedCorpus adds the bodies and query strings of the golden requests.
func seedCorpus(f *testing.F) {
	for _, name := range formatstest.Cases(f) {
		r := formatstest.Load(f, name)
		f.Add(r.Body)
		f.Add([]byte(r.RawQuery))
	}
}

// checkOutput asserts that cleaned parameters parse, their payloads decode
// to JSON, and under drop-all nothing but structure survives.
func checkOutput(t *testing.T, out []byte, res formats.Result, dropAll bool) {
	t.Helper()
	formatstest.CheckResult(t, res)
	if res.AllDropped {
		return // the proxy answers itself; out is not forwarded
	}
	var payloads [][]byte
	if isJSON(out) {
		payloads = append(payloads, out)
	} else {
		ps, err := vendorkit.SplitParams(nil, out)
		if err != nil {
			t.Fatalf("output %q does not parse: %v", out, err)
		}
		for _, p := range ps {
			if !p.Data {
				if dropAll {
					t.Fatalf("parameter %q survived a drop-all policy", p.Key)
				}
				continue
			}
			plain, _, err := vendorkit.DecodeData(nil, p.Value)
			if err != nil {
				t.Fatalf("output data %q does not decode: %v", p.Value, err)
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
				formatstest.AssertStructureOnly(t, l)
			}
		}
	}
}

// FuzzClean: POST bodies (form, JSON, NDJSON) never panic, errors are
// client errors, output re-decodes, drop-all leaves structure only.
func FuzzClean(f *testing.F) {
	seedCorpus(f)
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		accounts(KindEvent)(nil, &formatstest.Request{}, body)
		for _, kind := range []string{KindEvent, KindProfile} {
			for _, e := range []*formats.Env{env, drop} {
				out, res, err := Clean(nil, body, e, kind)
				if formatstest.Refused(t, err) {
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
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, query []byte) {
		accounts(KindProfile)(nil, &formatstest.Request{RawQuery: string(query)}, nil)
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
