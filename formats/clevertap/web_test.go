package clevertap

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/lzstring"
	"github.com/consentry/consentry/masking"
)

// webPolicy is a deterministic stand-in for the default GDPR policy (the
// golden files must not change when someone edits the shipped Rego): the
// default decision of each class, plus the rules this adapter asks for
// (auth.secret, ad.click_id and person.address dropped; whole page URLs
// kept because their parts were decided one by one). Fields without a
// class are scanned when they are strings or numbers, kept otherwise.
type webPolicy struct {
	dropEvents map[string]bool
}

var webDecisions = func() map[string]masking.Decision {
	p := func(a masking.Action, m map[string]any) *masking.Params {
		ps, err := masking.ParseParams(a, m)
		if err != nil {
			panic(err)
		}
		return ps
	}
	keep := func(c string) masking.Decision {
		return masking.Decision{Action: masking.ActionKeep, Rule: "test." + c}
	}
	drop := func(c string) masking.Decision {
		return masking.Decision{Action: masking.ActionDrop, Rule: "test." + c}
	}
	m := map[string]masking.Decision{
		"id.user":          {Action: masking.ActionHash, Rule: "test.id.user"},
		"id.device":        {Action: masking.ActionHash, Params: p(masking.ActionHash, map[string]any{"if_prefix": map[string]any{"__g": "__", "-g": "-"}, "hex_len": 32}), Rule: "test.id.device"},
		"contact.email":    {Action: masking.ActionTokenize, Rule: "test.contact.email"},
		"contact.phone":    {Action: masking.ActionTokenize, Rule: "test.contact.phone"},
		"person.birthdate": {Action: masking.ActionGeneralize, Params: p(masking.ActionGeneralize, map[string]any{"to": "year"}), Rule: "test.person.birthdate"},
		"net.ip":           {Action: masking.ActionGeneralize, Params: p(masking.ActionGeneralize, map[string]any{"to": "prefix"}), Rule: "test.net.ip"},
		"net.use_ip":       {Action: masking.ActionRedact, Rule: "test.net.use_ip"},
		"geo.lat":          {Action: masking.ActionGeneralize, Params: p(masking.ActionGeneralize, map[string]any{"to": "decimals", "decimals": 2}), Rule: "test.geo.lat"},
		"geo.lng":          {Action: masking.ActionGeneralize, Params: p(masking.ActionGeneralize, map[string]any{"to": "decimals", "decimals": 2}), Rule: "test.geo.lng"},
	}
	for _, c := range []string{"person.name", "person.photo", "device.ad_id", "device.vendor_id", "device.ad_tracking",
		"network.wifi", "network.bluetooth", "network.radio", "network.type", "network.carrier", "network.country",
		"auth.secret", "ad.click_id", "person.address"} {
		m[c] = drop(c)
	}
	for _, c := range []string{"person.gender", "person.age", "person.attribute", "device.info", "geo.location",
		"record.meta", "auth.account", "consent.optout", "consent.marketing", "consent.subscription_ref", "app.info",
		"web.page_url", "web.referrer", "web.origin"} {
		m[c] = keep(c)
	}
	m["scan"] = masking.Decision{Action: masking.ActionScan, Params: p(masking.ActionScan, map[string]any{"findings": map[string]any{
		"contact.email": "redact", "contact.phone": "redact", "net.ip": "redact", "device.ad_id": "redact",
	}}), Rule: "test.scan"}
	return m
}()

func (webPolicy) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p := &masking.Plan{Fields: append([]masking.FieldShape(nil), q.Fields...)}
	for i, f := range q.Fields {
		path, key := q.Describe(i)
		class := q.Classifier.Classify(q.Kind, path, key)
		d, ok := webDecisions[class]
		if !ok {
			if f.Type == masking.TypeString || f.Type == masking.TypeNumber {
				d = webDecisions["scan"]
			} else {
				d = masking.Decision{Action: masking.ActionKeep, Rule: "test.unclassified"}
			}
		}
		p.Decisions = append(p.Decisions, d)
		p.Classes = append(p.Classes, class)
		p.Paths = append(p.Paths, path)
	}
	return p, nil
}

func (w webPolicy) RecordDecision(_, _, kind, name string) masking.Decision {
	if kind == "event" && w.dropEvents[name] {
		return masking.Decision{Action: masking.ActionDrop, Rule: "test.drop_events"}
	}
	return masking.Decision{Action: masking.ActionKeep, Rule: "test.keep"}
}

// webSubjects suppresses the listed devices and identities and records
// what it learns.
type webSubjects struct {
	suppressed map[string]bool
	observed   []string
}

func (s *webSubjects) Observe(_ string, subj formats.Subject, sig formats.Signals) error {
	s.observed = append(s.observed, fmt.Sprintf("identity=%q device=%q optout=%d marketing=%v", subj.Identity, subj.Device, sig.OptOut, sig.Marketing))
	return nil
}

func (s *webSubjects) Suppressed(_ string, subj formats.Subject) (bool, error) {
	return s.suppressed[string(subj.Device)] || s.suppressed[string(subj.Identity)], nil
}

func webEnv(t testing.TB, pol webPolicy, subj *webSubjects) *formats.Env {
	t.Helper()
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{7}, 32), TokenKey: bytes.Repeat([]byte{9}, 64), TokenKeyID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	env := &formats.Env{Tenant: "acme", Planner: pol, Applier: tr, Records: pol, Rewriter: masking.NewRewriter(), Stats: &masking.Stats{}}
	if subj != nil {
		env.Subjects = subj
	}
	return env
}

// ---------------------------------------------------------------------------
// Golden cases: testdata/web/<name>.json is the request, <name>.golden what
// Consentry forwards (or answers). Run go test -update to rewrite them.

type webCase struct {
	Doc        string               `json:"doc"`
	Route      string               `json:"route"`
	Query      [][2]json.RawMessage `json:"query"` // [key, value]; d and arp values are LZ-encoded
	Modern     bool                 `json:"modern_padding"`
	EIT        bool                 `json:"eit"`
	Headers    map[string]string    `json:"headers"`
	Suppressed []string             `json:"suppressed"`
	DropEvents []string             `json:"drop_events"`
}

// Fixed EIT key and IV for test inputs.
var (
	testEITKey = bytes.Repeat([]byte{0x42}, 32)
	testEITIV  = bytes.Repeat([]byte{0x24}, 12)
)

func sealTestEnvelope(t testing.TB, lzPlain []byte, id string) []byte {
	t.Helper()
	block, _ := aes.NewCipher(testEITKey)
	aead, _ := cipher.NewGCM(block)
	ct := aead.Seal(nil, testEITIV, lzPlain, nil)
	idj, _ := json.Marshal(id)
	return []byte(fmt.Sprintf(`{"itp":"%s","itk":"%s","itv":"%s","id":%s,"encrypted":true}`,
		base64.StdEncoding.EncodeToString(ct), base64.StdEncoding.EncodeToString(testEITKey),
		base64.StdEncoding.EncodeToString(testEITIV), idj))
}

// buildQuery encodes a case's parameters as the SDK would.
func (tc *webCase) buildQuery(t testing.TB) string {
	t.Helper()
	var b []byte
	for i, kv := range tc.Query {
		var key string
		if err := json.Unmarshal(kv[0], &key); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b = append(b, '&')
		}
		b = appendComponent(b, []byte(key))
		b = append(b, '=')
		var text []byte
		var s string
		if json.Unmarshal(kv[1], &s) == nil {
			text = []byte(s)
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, kv[1]); err != nil {
				t.Fatal(err)
			}
			text = buf.Bytes()
		}
		if key != "d" && key != "arp" {
			b = appendComponent(b, text)
			continue
		}
		enc, err := lzstring.AppendCompressToBase64(nil, text)
		if err != nil {
			t.Fatal(err)
		}
		if tc.EIT && key == "d" {
			env := sealTestEnvelope(t, enc, gjsonString(text, "id"))
			enc, _ = lzstring.AppendCompressToBase64(nil, env)
		}
		if tc.Modern {
			enc = bytes.TrimRight(enc, "=")
			for len(enc)%4 != 0 {
				enc = append(enc, '=')
			}
		}
		b = appendComponent(b, enc)
	}
	return string(b)
}

func gjsonString(js []byte, key string) string {
	var m map[string]any
	_ = json.Unmarshal(js, &m)
	s, _ := m[key].(string)
	return s
}

func cleanerFor(route string) func([]byte, formats.Request, *formats.Env) ([]byte, formats.Result, error) {
	for _, r := range WebRoutes() {
		if r.Path == route {
			return r.CleanQuery
		}
	}
	return nil
}

// describeQuery renders a cleaned query for a golden file: the raw string
// (unless it holds a fresh IV), then one line per parameter with d and arp
// decoded (and decrypted).
func describeQuery(t testing.TB, q string, eit bool) string {
	t.Helper()
	var b strings.Builder
	if !eit {
		fmt.Fprintf(&b, "raw: %s\n", q)
	}
	if _, err := url.ParseQuery(q); err != nil {
		t.Fatalf("output query does not parse: %v", err)
	}
	for _, seg := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(seg, "=")
		if k != "d" && k != "arp" {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, dv)
			continue
		}
		text, err := DecodeWebParam(nil, []byte(v))
		if err != nil {
			t.Fatalf("%s does not decode: %v", k, err)
		}
		if e, inner, ok, err := openWebEIT(text); err != nil {
			t.Fatal(err)
		} else if ok {
			if !bytes.Equal(e.key, testEITKey) {
				t.Fatal("re-sealed with another key")
			}
			text, err = lzstring.AppendDecompressFromBase64(nil, inner, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s (encrypted, id %s) = %s\n", k, e.idTok, text)
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", k, text)
	}
	return b.String()
}

func TestWebGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/web/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var tc webCase
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&tc); err != nil {
				t.Fatal(err)
			}
			got := runWebCase(t, &tc)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func runWebCase(t *testing.T, tc *webCase) string {
	t.Helper()
	subj := &webSubjects{suppressed: map[string]bool{}}
	for _, s := range tc.Suppressed {
		subj.suppressed[s] = true
	}
	pol := webPolicy{dropEvents: map[string]bool{}}
	for _, e := range tc.DropEvents {
		pol.dropEvents[e] = true
	}
	env := webEnv(t, pol, subj)
	var decisions []string
	env.OnRecord = func(kind, name string, p *masking.Plan) {
		for i := range p.Decisions {
			decisions = append(decisions, fmt.Sprintf("%s/%s %s [%s] %s", kind, name, p.Paths[i], p.Classes[i], p.Decisions[i].Action))
		}
	}
	clean := cleanerFor(tc.Route)
	if clean == nil {
		t.Fatalf("no route %s", tc.Route)
	}
	in := tc.buildQuery(t)
	req := &StaticRequest{RawQuery: in, Headers: tc.Headers}
	out, res, err := clean(nil, req, env)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nGET %s?%s\n\n", tc.Doc, tc.Route, in)
	if err != nil {
		fe := formats.AsError(err)
		fmt.Fprintf(&b, "error: %d %s\n", fe.Status, fe.Code)
		return b.String()
	}
	fmt.Fprintf(&b, "result: in=%d out=%d suppressed=%d policy_dropped=%d all_dropped=%v\n",
		res.RecordsIn, res.RecordsOut, res.Suppressed, res.PolicyDropped, res.AllDropped)
	for _, o := range subj.observed {
		fmt.Fprintf(&b, "observed: %s\n", o)
	}
	if res.AllDropped {
		reply, ctype := WebReply(nil, req, res)
		fmt.Fprintf(&b, "reply (%s): %s\n", ctype, reply)
	} else {
		b.WriteString("\n")
		b.WriteString(describeQuery(t, string(out), tc.EIT))
	}
	b.WriteString("\ndecisions:\n")
	for _, d := range decisions {
		b.WriteString("  " + d + "\n")
	}
	return b.String()
}
