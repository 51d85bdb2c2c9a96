package corpus

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestGenerateShape(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			reqs, err := Generate(k, Options{Seed: 7, Variants: 8})
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 8 {
				t.Fatalf("got %d requests, want 8", len(reqs))
			}
			for i, r := range reqs {
				if k.Traffic() {
					checkTraffic(t, k, r, 7)
					continue
				}
				if r.Method != "POST" || r.Records != k.Records() || r.Format != k.Format() {
					t.Errorf("request %d: method %q records %d format %q", i, r.Method, r.Records, r.Format)
				}
				if !json.Valid(r.Body) {
					t.Fatalf("request %d: body is not valid JSON", i)
				}
				checkBody(t, k, r)
			}
		})
	}
}

func checkBody(t *testing.T, k Kind, r Request) {
	t.Helper()
	if k == REST100 {
		var up struct {
			D []map[string]any `json:"d"`
		}
		if err := json.Unmarshal(r.Body, &up); err != nil {
			t.Fatal(err)
		}
		if len(up.D) != 100 {
			t.Fatalf("got %d REST records, want 100", len(up.D))
		}
		for _, rec := range up.D {
			if rec["identity"] == nil || (rec["type"] != "event" && rec["type"] != "profile") {
				t.Fatalf("bad REST record keys: %v", keys(rec))
			}
		}
		if r.Path != "/1/upload" || header(r, "X-CleverTap-Passcode") == "" {
			t.Fatalf("bad REST request line or headers: %s %v", r.Path, r.Headers)
		}
		return
	}
	var batch []map[string]any
	if err := json.Unmarshal(r.Body, &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch) != k.Records()+1 {
		t.Fatalf("got %d elements, want %d records + meta", len(batch), k.Records())
	}
	meta := batch[0]
	if meta["type"] != "meta" || !strings.HasPrefix(meta["g"].(string), "__") || len(meta["g"].(string)) != 34 {
		t.Fatalf("bad meta header keys: %v", keys(meta))
	}
	af := meta["af"].(map[string]any)
	for _, key := range []string{"Build", "Version", "OS Version", "SDK Version", "Make", "Model", "Carrier", "cc", "useIP", "wifi", "BluetoothEnabled", "Radio", "GoogleAdID", "Latitude", "Longitude"} {
		if _, ok := af[key]; !ok {
			t.Errorf("af lacks %q", key)
		}
	}
	for _, rec := range batch[1:] {
		switch rec["type"] {
		case "event", "profile", "ping":
		default:
			t.Fatalf("unexpected record type %v", rec["type"])
		}
	}
	if !strings.HasPrefix(r.Path, "/a1?os=Android&t=70700&z="+DefaultAccount+"&ts=") {
		t.Fatalf("bad SDK path %q", r.Path)
	}
	if header(r, "X-CleverTap-Account-Id") != DefaultAccount || header(r, "Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("bad SDK headers %v", r.Headers)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func header(r Request, name string) string {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// The mix must actually contain the record kinds and PII the harness is
// meant to exercise, over a 50-record batch set.
func TestMixCoversRecordKinds(t *testing.T) {
	t.Parallel()
	reqs, err := Generate(SDK50, Options{Seed: 1, Variants: 4})
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, r := range reqs {
		all.Write(r.Body)
	}
	for _, want := range []string{`"evtName":"Product Viewed"`, `"evtName":"Charged"`, `"Items":[`, `"type":"profile"`, `"evtName":"App Launched"`, `"type":"ping"`, `"DOB":"$D_`, `Reach me at `, `call me on +`} {
		if !bytes.Contains(all.Bytes(), []byte(want)) {
			t.Errorf("corpus lacks %s", want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		a, _ := Generate(k, Options{Seed: 42})
		b, _ := Generate(k, Options{Seed: 42})
		c, _ := Generate(k, Options{Seed: 43})
		if !bytes.Equal(a[3].Body, b[3].Body) {
			t.Errorf("%s: same seed gave different bodies", k)
		}
		if bytes.Equal(a[3].Body, c[3].Body) {
			t.Errorf("%s: different seeds gave the same body", k)
		}
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Kind
		wantErr bool
	}{
		{"sdk1", SDK1, false},
		{"sdk10", Dense, false},
		{"dense", Dense, false},
		{"typical", Typical, false},
		{"churn", Churn, false},
		{"sdk50", SDK50, false},
		{"rest100", REST100, false},
		{"SDK10", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParseKind(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseKind(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestGolden pins the exact bytes of seed 1, so that a change to the
// generator is a visible, reviewed change to every published number.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		reqs, err := Generate(k, Options{Seed: 1, Variants: 1})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "seed1-"+string(k)+".json")
		if *update {
			if err := os.WriteFile(path, reqs[0].Body, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(reqs[0].Body, want) {
			t.Errorf("%s: body differs from %s (run go test -update if intended)", k, path)
		}
	}
}

func TestDump(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := Dump(dir, Kinds(), Options{Seed: 3, Variants: 2}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(Kinds()); len(m.Requests) != want {
		t.Fatalf("manifest lists %d requests, want %d", len(m.Requests), want)
	}
	for _, e := range m.Requests {
		body, err := os.ReadFile(filepath.Join(dir, e.File))
		if err != nil || !json.Valid(body) {
			t.Fatalf("%s: %v (valid JSON: %v)", e.File, err, json.Valid(body))
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\`, "tab\tnl\n", "\x00\x1f", "Müller", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON string for %q: %v", s, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip changed %q to %q", s, got)
		}
	})
}

func BenchmarkGenerateSDK10(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(SDK10, Options{Seed: 1, Variants: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
