package formatstest

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// Seeds are the personal values the test payloads carry (sdk-formats.md
// §3); none may reach the upstream in any form under the default policy.
//
// A street address (contact.address) has no rule in the default policy yet:
// it is scanned, not dropped, so it is not a seed here.
var Seeds = []string{
	"jane.doe@example.com", "+14155550123", "14155550123", "4155550123", "Jane Doe",
	"EA7583CD-A667-48BC-B806-42ECB2B48606", "38400000-8cf0-11bd-b23e-10b96e40000d",
	"6D92078A-8246-4BA4-AE5B-76104861E7DC", "9774d56d682e549c",
	"203.0.113.7", "T-Mobile", "Vodafone", "Jane's iPhone",
}

// AssertNoSeeds fails if any seed appears in b, as is, JSON-escaped,
// percent-decoded or in another case.
func AssertNoSeeds(t testing.TB, b []byte) {
	t.Helper()
	forms := []string{string(b), strings.ToLower(string(b))}
	if u, err := url.QueryUnescape(string(b)); err == nil {
		forms = append(forms, u)
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		j, _ := json.Marshal(v) // unescapes \u sequences
		forms = append(forms, string(j))
	}
	for _, seed := range Seeds {
		for _, f := range forms {
			if strings.Contains(f, seed) || strings.Contains(f, strings.ToLower(seed)) {
				t.Errorf("seeded value %q survived cleaning", seed)
				break
			}
		}
	}
}

// AssertStructureOnly fails if the JSON out holds any string or number: what
// a drop-all policy leaves is structure (keys the adapter writes itself,
// such as "batch", are keys, not values).
func AssertStructureOnly(t testing.TB, out []byte) {
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

// Refused reports whether err is set, and fails t unless it is a client
// error (400): input is refused, never crashes the adapter into a 5xx.
func Refused(t testing.TB, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if formats.AsError(err).Status != 400 {
		t.Fatalf("error is not a client error: %v", err)
	}
	return true
}

// CheckResult fails if res is inconsistent: more records out than in, or
// AllDropped other than "records came and none is left".
func CheckResult(t testing.TB, res formats.Result) {
	t.Helper()
	if res.RecordsOut > res.RecordsIn || res.AllDropped != (res.RecordsIn > 0 && res.RecordsOut == 0) {
		t.Fatalf("inconsistent result %+v", res)
	}
}

// CheckJSON fails unless out, cleaned from in, is valid JSON and, when
// dropAll, holds structure only.
func CheckJSON(t testing.TB, out, in []byte, dropAll bool) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid output %q from %q", out, in)
	}
	if dropAll {
		AssertStructureOnly(t, out)
	}
}

// AssertRefusals cleans each body and fails unless it is refused with a 400
// whose message echoes no payload value (every body carries "jane").
func AssertRefusals(t *testing.T, bodies []string, clean func(body []byte) error) {
	t.Helper()
	for _, b := range bodies {
		err := clean([]byte(b))
		if err == nil {
			t.Errorf("%s: accepted", b)
			continue
		}
		if fe := formats.AsError(err); strings.Contains(fe.Msg, "jane") || fe.Status != 400 {
			t.Errorf("%s: error %q", b, fe.Msg)
		}
	}
}

// SeedBodies adds the body of every testdata/*.http request to f's corpus.
func SeedBodies(f *testing.F) {
	for _, name := range Cases(f) {
		f.Add(Load(f, name).Body)
	}
}

// BenchClean benchmarks clean on the body of testdata/<name>.http under the
// default policy with warm plan caches.
func BenchClean(b *testing.B, name string, clean func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error)) {
	body := Load(b, name).Body
	env := NewEnv(b, nil)
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		env.Stats.Reset()
		var err error
		if dst, _, err = clean(dst[:0], body, env); err != nil {
			b.Fatal(err)
		}
	}
}
