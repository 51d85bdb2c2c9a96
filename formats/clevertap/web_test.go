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

// ---------------------------------------------------------------------------
// Focused tests

// q builds a query string: pairs of key and value; d and arp values are
// JSON or text to LZ-encode, the rest are percent-encoded.
func q(t testing.TB, kv ...string) string {
	t.Helper()
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(appendComponent(b, []byte(kv[i])), '=')
		if kv[i] == "d" || kv[i] == "arp" {
			var err error
			b, err = EncodeWebParam(b, []byte(kv[i+1]))
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		b = appendComponent(b, []byte(kv[i+1]))
	}
	return string(b)
}

const testGUID = "3f2a9c0d5e8b4a7c9d1e2f3a4b5c6d7e"

func TestWebUnchangedIsByteExact(t *testing.T) {
	env := webEnv(t, webPolicy{}, nil)
	for _, in := range []string{
		q(t, "t", "96", "type", "ping", "d", `{"id":"A","g":"`+testGUID+`","s":1700000000,"pg":6,"af":{"lib":"web-sdk-v2.5.2","protocol":"https"}}`,
			"rn", "9", "gc", testGUID, "tries", "1", "origin", "https://shop.example.com", "useIP", "false", "r", "1700000120000"),
		// Modern padding is kept when nothing changes.
		"t=96&type=page&d=N4XyA%3D%3D%3D&useIP=false",
		// Parameter spellings the SDK does not produce but that mean the same.
		"t=96&type=page&d=N4XyAA==&rn=1&origin=https://a.example&useIP=false",
	} {
		out, res, err := CleanWebIngest(nil, &StaticRequest{RawQuery: in}, env)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if string(out) != in || res.RecordsOut != 1 {
			t.Errorf("changed:\n in %s\nout %s", in, out)
		}
	}
}

func TestWebUseIP(t *testing.T) {
	env := webEnv(t, webPolicy{}, nil)
	d := `{"id":"A","g":"` + testGUID + `"}`
	for in, want := range map[string]string{
		"useIP=true":  "useIP=false",
		"useIP=false": "useIP=false",
		"useIP=TRUE":  "useIP=false",
		"useIP":       "useIP=false",
		"useIP=1":     "useIP=false",
	} {
		out, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: q(t, "t", "96", "type", "page", "d", d) + "&" + in}, env)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(out), "&"+want) {
			t.Errorf("%s → %s, want suffix %s", in, out, want)
		}
	}
	// A policy that keeps the class lets true through.
	keepAll := keepPolicy{}
	env = webEnv(t, webPolicy{}, nil)
	env.Planner = keepAll
	out, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: q(t, "t", "96", "type", "page", "d", d, "useIP", "true")}, env)
	if err != nil || !strings.HasSuffix(string(out), "&useIP=true") {
		t.Errorf("kept useIP: %s %v", out, err)
	}
}

// keepPolicy keeps every field.
type keepPolicy struct{}

func (keepPolicy) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p := &masking.Plan{Fields: append([]masking.FieldShape(nil), q.Fields...)}
	for i := range q.Fields {
		path, _ := q.Describe(i)
		p.Decisions = append(p.Decisions, masking.Decision{Action: masking.ActionKeep, Rule: "keep"})
		p.Classes = append(p.Classes, "")
		p.Paths = append(p.Paths, path)
	}
	return p, nil
}

func TestCleanURL(t *testing.T) {
	env := webEnv(t, webPolicy{}, nil)
	f := func(in, want string) {
		t.Helper()
		c := getCleaner()
		defer c.release()
		got, err := c.cleanURL(nil, []byte(in), "cpg", env)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if string(got) != want {
			t.Errorf("cleanURL(%s)\n got %s\nwant %s", in, got, want)
		}
	}
	f("https://shop.example.com/", "https://shop.example.com/")
	f("https://shop.example.com", "https://shop.example.com")
	f("http://127.0.0.1:18080/", "http://127.0.0.1:18080/")
	f("https://jane:pw@shop.example.com/a", "https://shop.example.com/a")
	f("https://shop.example.com/p?utm_source=mail&page=2", "https://shop.example.com/p?utm_source=mail&page=2")
	f("https://shop.example.com/p?email=jane%40example.com&x=1",
		"https://shop.example.com/p?email=tok%3At1%3ARgVq04B28Sj3aIbZON83cn6vYmS06A12qcaplnLJXgQ-cQ&x=1")
	f("https://shop.example.com/p?Phone=%2B14155550123", "https://shop.example.com/p?Phone=tok%3At1%3AT0rEpEtbxp57emeOGSqY-tvfccheq8wkwooEqPX8")
	f("https://shop.example.com/p?firstName=Jane&lastName=Doe&sku=1", "https://shop.example.com/p?sku=1")
	f("https://shop.example.com/reset?token=abc&password=x&api_key=k&code=1&sid=2", "https://shop.example.com/reset")
	f("https://shop.example.com/?gclid=Cj0&fbclid=Iw&msclkid=m&a=1", "https://shop.example.com/?a=1")
	f("https://shop.example.com/?q=mail+me+at+jane%40example.com", "https://shop.example.com/?q=mail%20me%20at%20%5Bemail%5D")
	f("https://shop.example.com/u/jane@example.com/x", "https://shop.example.com/u/%5Bemail%5D/x")
	f("https://shop.example.com/u/jane%40example.com", "https://shop.example.com/u/%5Bemail%5D")
	f("https://a.example/cb#access_token=abc&state=s&expires_in=3600", "https://a.example/cb#expires_in=3600")
	f("https://a.example/#/reset?token=abc&step=2", "https://a.example/#/reset?step=2")
	f("https://a.example/#/reset?token=abc", "https://a.example/#/reset")
	f("https://a.example/#section-2", "https://a.example/#section-2")
	f("https://a.example/#token=abc", "https://a.example/")
	f("https://a.example/?flag&x=%ZZ&y=2", "https://a.example/?flag&y=2") // undecodable parameters are dropped
	f("https://a.example/100%/x", "https://a.example/100%/x")             // an undecodable path is scanned as it is
	f("mailto:jane@example.com", "mailto:%5Bemail%5D")
	f("/relative/path?email=a%40b.co", "/relative/path?email=tok%3At1%3AnNonQPWBVUum6hHJAD6dlwqOjPrWZQMY")
	f("about:blank", "about:blank")
	f("", "")
}

func TestWebClassify(t *testing.T) {
	c := WebClassifier{}
	for _, tc := range []struct{ kind, path, key, want string }{
		{"page", "cpg", "cpg", "web.page_url"},
		{"page", "referrer", "referrer", "web.referrer"},
		{"page", "uc", "uc", "web.campaign"},
		{"page", "WZRK_CAMP.wzrk_id", "wzrk_id", "web.campaign"},
		{"page", "g", "g", "id.device"},
		{"page", "id", "id", "auth.account"},
		{"page", "af.lib", "lib", "device.info"},
		{"page", "af.Latitude", "Latitude", "geo.lat"},
		{"event", "evtData.Email", "Email", "contact.email"},
		{"event", "evtData.cpg", "cpg", ""},
		{"profile", "profile.Phone", "Phone", "contact.phone"},
		{"data", "endpoint", "endpoint", "id.push_token"},
		{"data", "keys.auth", "auth", "id.push_token"},
		{KindQuery, "gc", "gc", "id.device"},
		{KindQuery, "useIP", "useIP", "net.use_ip"},
		{KindQuery, "e", "e", "consent.subscription_ref"},
		{KindLinkQuery, "e", "e", ""},
		{KindLinkQuery, "email", "email", "contact.email"},
		{KindURL, "path", "path", "web.url_path"},
		{KindURL, "fragment", "fragment", "web.url_fragment"},
		{KindURL, "query.token", "token", "auth.secret"},
		{KindURL, "query.path", "path", ""},
		{KindClick, "g", "g", "id.device"},
		{KindEmail, "unsubGroups[].name", "name", "consent.marketing"},
		{KindEmail, "cUsY", "cUsY", "consent.marketing"},
	} {
		if got := c.Classify(tc.kind, tc.path, tc.key); got != tc.want {
			t.Errorf("Classify(%s, %s) = %q, want %q", tc.kind, tc.path, got, tc.want)
		}
	}
	if formats.MarketingChannels[emailChannel] != "email" {
		t.Fatalf("emailChannel points at %q", formats.MarketingChannels[emailChannel])
	}
}

func TestWebErrors(t *testing.T) {
	env := webEnv(t, webPolicy{}, nil)
	ok := `{"id":"A"}`
	for _, tc := range []struct {
		name, route, query, code string
	}{
		{"no d", "/a", "t=96&type=page", "invalid_payload"},
		{"no d on /e", "/e", "r=1&sub=0", "invalid_payload"},
		{"bad type", "/a", q(t, "t", "96", "type", "bogus", "d", ok), "invalid_payload"},
		{"two d", "/a", q(t, "t", "96", "type", "page", "d", ok, "d", ok), "duplicate_param"},
		{"two gc", "/a", q(t, "t", "96", "type", "page", "d", ok, "gc", "a", "gc", "b"), "duplicate_param"},
		{"two useIP", "/a", q(t, "type", "page", "d", ok, "useIP", "false", "useIP", "true"), "duplicate_param"},
		{"bad escape", "/a", "t=96&type=page&d=N4XyAA%3&useIP=false", "malformed_query"},
		{"bad escape in value", "/a", "type=page&d=N4XyAA==&gc=%ZZ", "malformed_query"},
		{"not UTF-8", "/a", "type=page&d=N4XyAA==&gc=%FF", "malformed_query"},
		{"d not base64", "/a", "type=page&d=%7B%7D", "invalid_payload"},
		{"d not JSON", "/a", q(t, "type", "page", "d", "hello"), "malformed_json"},
		{"d an array", "/a", q(t, "type", "page", "d", `[{"id":"A"}]`), "malformed_json"},
		{"d trailing data", "/a", q(t, "type", "page", "d", `{"id":"A"} x`), "malformed_json"},
		{"reserved kind", "/a", q(t, "type", "push", "d", `{"type":"url","path":"x"}`), "invalid_payload"},
		{"arp not LZ", "/a", q(t, "type", "page", "d", ok) + "&arp=%25", "invalid_payload"},
		{"arp not JSON", "/a", q(t, "type", "page", "d", ok, "arp", "x"), "malformed_json"},
		{"click not guid|p|s", "/r", q(t, "r", "1", "d", "a|b"), "invalid_payload"},
		{"too many params", "/a", q(t, "type", "page", "d", ok) + strings.Repeat("&x=1", maxWebParams), "too_many_params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cleanerFor(tc.route)(nil, &StaticRequest{RawQuery: tc.query}, env)
			if err == nil {
				t.Fatal("accepted")
			}
			if fe := formats.AsError(err); fe.Code != tc.code || fe.Status != 400 {
				t.Fatalf("got %d %s (%v), want 400 %s", fe.Status, fe.Code, err, tc.code)
			}
			if strings.Contains(err.Error(), "example.com") {
				t.Fatal("error message carries payload")
			}
		})
	}
}

func eitQuery(t *testing.T, inner string, envelopeID string) string {
	t.Helper()
	lz, err := lzstring.AppendCompressToBase64(nil, []byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	env := sealTestEnvelope(t, lz, envelopeID)
	return q(t, "t", "96", "type", "push", "d", string(env), "gc", testGUID, "useIP", "false")
}

func TestWebEIT(t *testing.T) {
	env := webEnv(t, webPolicy{}, nil)
	in := eitQuery(t, `{"type":"event","evtName":"E","evtData":{"email":"jane.doe@example.com"},"id":"ACC"}`, "ACC")
	if ids := WebAccounts(nil, &StaticRequest{RawQuery: in}, nil); len(ids) != 1 || string(ids[0]) != "ACC" {
		t.Fatalf("accounts %q", ids)
	}
	out1, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: in}, env)
	if err != nil {
		t.Fatal(err)
	}
	out2, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: in}, env)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out1, out2) {
		t.Fatal("two seals with the same IV")
	}
	for _, out := range [][]byte{out1, out2} {
		if bytes.Contains(out, []byte("jane")) || strings.Contains(describeQuery(t, string(out), true), "jane.doe") {
			t.Fatal("email forwarded")
		}
	}
	// Unchanged content keeps the original envelope.
	same := eitQuery(t, `{"type":"event","evtName":"E","id":"ACC"}`, "ACC")
	if out, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: same}, env); err != nil || string(out) != same {
		t.Fatalf("unchanged envelope rewritten: %v", err)
	}
	for name, bad := range map[string]string{
		"id mismatch":  eitQuery(t, `{"type":"event","evtName":"E","id":"OTHER"}`, "ACC"),
		"tampered":     strings.Replace(in, "d=N4", "d=M4", 1),
		"extra key":    q(t, "type", "push", "d", `{"itp":"AA==","itk":"AA==","itv":"AA==","id":"A","encrypted":true,"x":1}`),
		"short key":    q(t, "type", "push", "d", `{"itp":"AAAA","itk":"AAAA","itv":"AAAAAAAAAAAAAAAA","id":"A","encrypted":true}`),
		"not base64":   q(t, "type", "push", "d", `{"itp":"***","itk":"AA==","itv":"AA==","id":"A","encrypted":true}`),
		"no encrypted": q(t, "type", "push", "d", `{"itp":"AA==","itk":"AA==","itv":"AA==","id":"A"}`),
	} {
		if _, _, err := CleanWebIngest(nil, &StaticRequest{RawQuery: bad}, env); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWebAccounts(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{q(t, "type", "page", "d", `{"id":"TEST-ACC-123","g":"x"}`), []string{"TEST-ACC-123"}},
		{q(t, "type", "page", "d", `{"af":{"scv":"sc-sdk-v1"}}`), nil},
		{q(t, "r", "1", "d", testGUID+"|1|2"), nil},
		{"type=page&d=garbage!", nil},
		{"", nil},
	} {
		got := WebAccounts(nil, &StaticRequest{RawQuery: tc.query}, nil)
		if len(got) != len(tc.want) || (len(got) == 1 && string(got[0]) != tc.want[0]) {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestWebReply(t *testing.T) {
	newGUID = func() []byte { return []byte("00112233445566778899aabbccddeeff") }
	fetch := map[string]string{"Accept": "application/json"}
	eit := map[string]string{"X-CleverTap-Encryption-Enabled": "true"}
	suppressed := formats.Result{RecordsIn: 1, Suppressed: 1, AllDropped: true}
	dropped := formats.Result{RecordsIn: 1, PolicyDropped: 1, AllDropped: true}
	d := `{"type":"event","id":"A","g":"` + testGUID + `","s":1700000000}`
	for _, tc := range []struct {
		name    string
		query   string
		headers map[string]string
		res     formats.Result
		want    string
		ctype   string
	}{
		{"jsonp", q(t, "type", "push", "d", d, "rn", "7", "gc", testGUID), nil, dropped,
			"$WZRK_WR.s('" + testGUID + "', 1700000000, false, 7);", jsonpType},
		{"jsonp opt-out", q(t, "type", "push", "d", d, "rn", "7", "gc", testGUID), nil, suppressed,
			"$WZRK_WR.s('" + testGUID + ":OO', 1700000000, false, 7, true);", jsonpType},
		{"already :OO", q(t, "type", "push", "d", d, "rn", "7", "gc", testGUID+":OO"), nil, suppressed,
			"$WZRK_WR.s('" + testGUID + ":OO', 1700000000, false, 7, true);", jsonpType},
		{"fetch", q(t, "type", "push", "d", d, "rn", "7"), fetch, dropped,
			`{"meta":{"g":"` + testGUID + `","sid":1700000000,"rf":false,"rn":"7","optOut":false}}`, jsonType},
		{"fetch opt-out (EIT header)", q(t, "type", "push", "d", d, "rn", "7"), eit, suppressed,
			`{"meta":{"g":"` + testGUID + `:OO","sid":1700000000,"rf":false,"rn":"7","optOut":true}}`, jsonType},
		{"guid from d, session from s", q(t, "type", "push", "d", `{"g":"abc"}`, "rn", "2", "s", "1699999999"), nil, dropped,
			"$WZRK_WR.s('abc', 1699999999, false, 2);", jsonpType},
		{"session from i", q(t, "type", "push", "d", `{"id":"A"}`, "rn", "1", "i", "1700000001", "gc", "g1"), nil, dropped,
			"$WZRK_WR.s('g1', 1700000001, false, 1);", jsonpType},
		{"no guid at all", q(t, "type", "push", "d", `{"id":"A"}`, "rn", "1"), nil, suppressed,
			"$WZRK_WR.s('00112233445566778899aabbccddeeff:OO', 0, false, 1, true);", jsonpType},
		{"click guid", q(t, "r", "1", "d", "g-click|3|1700000000", "rn", "4"), nil, dropped,
			"$WZRK_WR.s('g-click', 0, false, 4);", jsonpType},
		{"injection is escaped", q(t, "type", "push", "d", `{"id":"A"}`, "rn", "1);alert(1", "gc", "x');alert(1);//"), nil, dropped,
			`$WZRK_WR.s('x\u0027\u0029\u003balert\u00281\u0029\u003b\u002f\u002f', 0, false, 0);`, jsonpType},
		{"custom id with @", q(t, "type", "push", "d", `{"id":"A"}`, "gc", "_w_jane@example.com"), fetch, dropped,
			`{"meta":{"g":"_w_jane\u0040example\u002ecom","sid":0,"rf":false,"rn":"0","optOut":false}}`, jsonType},
		{"garbage query", "%%%&d=@@@", nil, dropped,
			"$WZRK_WR.s('00112233445566778899aabbccddeeff', 0, false, 0);", jsonpType},
		{"eit d", eitQuery(t, `{"type":"event","g":"enc-guid","s":5,"id":"A"}`, "A")[len("t=96&"):], eit, dropped,
			`{"meta":{"g":"` + testGUID + `","sid":5,"rf":false,"rn":"0","optOut":false}}`, jsonType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ctype := WebReply(nil, &StaticRequest{RawQuery: tc.query, Headers: tc.headers}, tc.res)
			if string(got) != tc.want || ctype != tc.ctype {
				t.Errorf("got  %s (%s)\nwant %s (%s)", got, ctype, tc.want, tc.ctype)
			}
			if ctype == jsonType && !json.Valid(got) {
				t.Error("invalid JSON")
			}
		})
	}
}

func TestWebRoutes(t *testing.T) {
	paths := map[string]bool{}
	for _, r := range WebRoutes() {
		paths[r.Path] = true
		if r.Method != "GET" || r.Format != FormatWeb || !r.Browser || r.CleanQuery == nil || r.Reply == nil ||
			r.Accounts == nil || r.Clean != nil || len(r.DropResponseHeaders) == 0 {
			t.Errorf("route %s: %+v", r.Path, r)
		}
	}
	if !paths["/a"] || !paths["/r"] || !paths["/e"] {
		t.Errorf("paths %v", paths)
	}
}

// The shipped default policy, end to end: no seeded value survives in any
// form, and useIP is forced to false.
func TestWebDefaultPolicy(t *testing.T) {
	env := testEnv(t)
	seeds := []string{"jane.doe@example.com", "jane.doe%40example.com", "4155550123", "Jane Doe", "Jane", "cdda802e-fb9c-47ad-9866-0794d394c912", "user:secret"}
	files, _ := filepath.Glob("testdata/web/*.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		var tc webCase
		if err := json.Unmarshal(raw, &tc); err != nil {
			t.Fatal(err)
		}
		if len(tc.Suppressed) > 0 || len(tc.DropEvents) > 0 {
			continue
		}
		in := tc.buildQuery(t)
		out, res, err := cleanerFor(tc.Route)(nil, &StaticRequest{RawQuery: in}, env)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if res.AllDropped {
			t.Fatalf("%s: dropped", file)
		}
		text := describeQuery(t, string(out), tc.EIT)
		for _, s := range seeds {
			if strings.Contains(text, s) || strings.Contains(string(out), s) {
				t.Errorf("%s: %q reaches the upstream:\n%s", file, s, text)
			}
		}
		if strings.Contains(string(out), "useIP=true") {
			t.Errorf("%s: useIP=true forwarded", file)
		}
	}
}

func BenchmarkCleanWebIngest(b *testing.B) {
	for _, name := range []string{"event_pii", "page_view", "ping"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile("testdata/web/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			var tc webCase
			if err := json.Unmarshal(raw, &tc); err != nil {
				b.Fatal(err)
			}
			req := &StaticRequest{RawQuery: tc.buildQuery(b)}
			env := testEnv(b)
			var dst []byte
			b.SetBytes(int64(len(req.RawQuery)))
			b.ReportAllocs()
			for b.Loop() {
				env.Stats.Reset()
				dst, _, err = CleanWebIngest(dst[:0], req, env)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Admit is formats.Subjects: learn, then refuse suppressed subjects; a
// record carrying an opt-out or opt-in signal is forwarded.
func (s *webSubjects) Admit(tenant string, subj formats.Subject, sig formats.Signals) (bool, error) {
	if sig.OptOut != 0 || sig.HasMarketing() || (len(subj.Identity) > 0 && len(subj.Device) > 0) {
		if err := s.Observe(tenant, subj, sig); err != nil {
			return false, err
		}
	}
	if sig.OptOut != 0 {
		return true, nil
	}
	drop, err := s.Suppressed(tenant, subj)
	return !drop, err
}
