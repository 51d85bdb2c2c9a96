package mixpanel

// Test helpers: the real default policy with fixed keys (deterministic
// goldens), a fake HTTP request read from testdata, and route dispatch the
// way the proxy does it.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testTenant = "test"

var (
	engineOnce sync.Once
	engine     *policy.Engine
	engineErr  error
)

// testPolicy is the shipped default policy, loaded once per test binary.
func testPolicy(t testing.TB) *policy.Engine {
	t.Helper()
	engineOnce.Do(func() { engine, engineErr = policy.New(policy.WithFS(rules.FS)) })
	if engineErr != nil {
		t.Fatalf("cannot load the default policy: %v", engineErr)
	}
	return engine
}

// testKeys are fixed so that hashes and tokens in goldens are stable.
var testKeys = masking.Keys{
	HMACKey:    []byte("consentry-test-hmac-key-32-bytes"),
	TokenKey:   bytes.Repeat([]byte("tokenkey"), 8), // 64 bytes
	TokenKeyID: "t1",
}

func testApplier(t testing.TB) *masking.Transformer {
	t.Helper()
	tr, err := masking.NewTransformer(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// newEnv is the cleaning environment of one request under the default policy.
func newEnv(t testing.TB, subjects formats.Subjects) *formats.Env {
	t.Helper()
	pol := testPolicy(t)
	return &formats.Env{
		Tenant:   testTenant,
		Planner:  pol,
		Applier:  testApplier(t),
		Records:  pol,
		Subjects: subjects,
		Rewriter: masking.NewRewriter(),
		Stats:    &masking.Stats{},
	}
}

// dropAll plans every field as dropped: what survives it is structure only.
type dropAll struct{}

func (dropAll) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	n := len(q.Fields)
	return &masking.Plan{
		Fields:    append([]masking.FieldShape(nil), q.Fields...),
		Decisions: make([]masking.Decision, n), // zero value: drop
		Classes:   make([]string, n),
		Paths:     make([]string, n),
	}, nil
}

// classPlanner decides by class without Rego, so that fuzzing (which
// creates a new record shape on nearly every input) stays fast while still
// running the classifier and every kind of action.
type classPlanner struct{}

func (classPlanner) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p, _ := dropAll{}.Plan(q)
	for i := range p.Decisions {
		path, key := q.Describe(i)
		c := q.Classifier.Classify(q.Kind, path, key)
		p.Classes[i], p.Paths[i] = c, path
		a := masking.ActionDrop
		switch {
		case c == "record.meta" || c == "app.info" || c == "auth.account" || c == "device.info" || strings.HasPrefix(c, "consent."):
			a = masking.ActionKeep
		case strings.HasPrefix(c, "id.") || strings.HasPrefix(c, "contact."):
			a = masking.ActionHash
		case c == "":
			a = masking.ActionScan
		}
		p.Decisions[i] = masking.Decision{Action: a}
	}
	return p, nil
}

// fuzzEnv cleans with classPlanner.
func fuzzEnv(t testing.TB) *formats.Env {
	e := dropEnv(t)
	e.Planner = classPlanner{}
	return e
}

type keepAll struct{}

func (keepAll) RecordDecision(_, _, _, _ string) masking.Decision {
	return masking.Decision{Action: masking.ActionKeep}
}

// dropEnv drops every field of every record.
func dropEnv(t testing.TB) *formats.Env {
	return &formats.Env{
		Tenant:   testTenant,
		Planner:  dropAll{},
		Applier:  testApplier(t),
		Records:  keepAll{},
		Rewriter: masking.NewRewriter(),
		Stats:    &masking.Stats{},
	}
}

// subjects is a fake rights registry: suppressed identities and devices.
type subjects struct {
	suppressed map[string]bool
	observed   []formats.Signals
}

func (s *subjects) Observe(_ string, _ formats.Subject, sig formats.Signals) error {
	s.observed = append(s.observed, sig)
	return nil
}

func (s *subjects) Suppressed(_ string, subj formats.Subject) (bool, error) {
	return s.suppressed[string(subj.Identity)] || s.suppressed[string(subj.Device)], nil
}

// request is a formats.Request read from a testdata file:
//
//	POST /path?query
//	Header: value
//
//	body
type request struct {
	method, path, query string
	headers             map[string]string
	body                []byte
}

func (r *request) Header(name string) []byte {
	if v, ok := r.headers[strings.ToLower(name)]; ok {
		return []byte(v)
	}
	return nil
}

func (r *request) Query(name string) []byte {
	v, err := url.ParseQuery(r.query)
	if err != nil || !v.Has(name) {
		return nil
	}
	return []byte(v.Get(name))
}

func (r *request) QueryString() []byte { return []byte(r.query) }

func parseRequest(t testing.TB, b []byte) *request {
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
	r := &request{method: method, headers: map[string]string{}}
	r.path, r.query, _ = strings.Cut(target, "?")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		r.headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	r.body = bytes.TrimSuffix(body, []byte("\n"))
	return r
}

// outcome is what the proxy would do with one request.
type outcome struct {
	route     string
	format    string
	accounts  []string
	query     string
	body      []byte
	res       formats.Result
	reply     string
	replyType string
	err       *formats.Error
}

// serve dispatches req like the proxy: candidates by method and path,
// Detect among several, Accounts, CleanQuery, Clean, Reply when all dropped.
func serve(t testing.TB, routes []formats.Route, req *request, env *formats.Env) outcome {
	t.Helper()
	var cands []*formats.Route
	for i := range routes {
		if routes[i].Method == req.method && routes[i].Path == req.path {
			cands = append(cands, &routes[i])
		}
	}
	o := outcome{route: req.method + " " + req.path}
	if len(cands) == 0 {
		o.err = formats.Errorf(404, "unknown_route", "no route")
		return o
	}
	rt := cands[0]
	if len(cands) > 1 {
		rt = nil
		for _, c := range cands {
			if c.Detect == nil || c.Detect(req, req.body) {
				rt = c
				break
			}
		}
		if rt == nil {
			o.err = formats.Errorf(400, "unknown_format", "cannot tell which SDK sent this request")
			return o
		}
	}
	o.format = rt.Format
	for _, a := range rt.Accounts(nil, req, req.body) {
		o.accounts = append(o.accounts, string(a))
	}
	o.query = req.query
	var res formats.Result
	if rt.CleanQuery != nil {
		q, r, err := rt.CleanQuery(nil, req, env)
		if err != nil {
			o.err = formats.AsError(err)
			return o
		}
		o.query, res = string(q), r
	}
	if rt.Clean != nil {
		out, r, err := rt.Clean(nil, req.body, env)
		if err != nil {
			o.err = formats.AsError(err)
			return o
		}
		o.body = out
		res = formats.Result{
			RecordsIn: res.RecordsIn + r.RecordsIn, RecordsOut: res.RecordsOut + r.RecordsOut,
			Suppressed: res.Suppressed + r.Suppressed, PolicyDropped: res.PolicyDropped + r.PolicyDropped,
			AllDropped: (res.AllDropped || res.RecordsIn == 0) && (r.AllDropped || r.RecordsIn == 0) && res.RecordsIn+r.RecordsIn > 0,
		}
	}
	o.res = res
	if res.AllDropped {
		reply, ct := rt.Reply(nil, req, res)
		o.reply, o.replyType = string(reply), ct
	}
	return o
}

// text renders an outcome for a golden file.
func (o outcome) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route: %s\nformat: %s\naccounts: %s\n", o.route, o.format, strings.Join(o.accounts, " "))
	if o.err != nil {
		fmt.Fprintf(&b, "error: %d %s: %s\n", o.err.Status, o.err.Code, o.err.Msg)
		return b.String()
	}
	r := o.res
	fmt.Fprintf(&b, "result: in=%d out=%d suppressed=%d policy_dropped=%d all_dropped=%v\n",
		r.RecordsIn, r.RecordsOut, r.Suppressed, r.PolicyDropped, r.AllDropped)
	if o.query != "" {
		fmt.Fprintf(&b, "query: %s\n", o.query)
	}
	if r.AllDropped {
		fmt.Fprintf(&b, "reply: %s\n%s\n", o.replyType, o.reply)
		return b.String()
	}
	fmt.Fprintf(&b, "body:\n%s\n", o.body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, o.body, "", "  ") == nil {
		fmt.Fprintf(&b, "pretty:\n%s\n", pretty.String())
	}
	return b.String()
}

// checkGolden compares got with testdata/<name>.golden (rewritten with -update).
func checkGolden(t *testing.T, name, got string) {
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

// seeds are the personal values the test payloads carry (sdk-formats.md
// §3); none may reach the upstream in any form under the default policy.
var seeds = []string{
	"jane.doe@example.com", "+14155550123", "14155550123", "4155550123", "Jane Doe",
	"EA7583CD-A667-48BC-B806-42ECB2B48606", "38400000-8cf0-11bd-b23e-10b96e40000d",
	"6D92078A-8246-4BA4-AE5B-76104861E7DC", "9774d56d682e549c",
	"203.0.113.7", "T-Mobile", "Vodafone", "Jane's iPhone",
}

// A street address (contact.address) has no rule in the default policy yet:
// it is scanned, not dropped, so it is not a seed here (see ClassAddress).

// assertNoSeeds fails if any seed appears in b, as is, JSON-escaped,
// percent-decoded or in another case.
func assertNoSeeds(t testing.TB, b []byte) {
	t.Helper()
	forms := []string{string(b), strings.ToLower(string(b))}
	if u, err := url.QueryUnescape(string(b)); err == nil {
		forms = append(forms, u)
	}
	var s string
	if json.Unmarshal(b, new(any)) == nil {
		var v any
		_ = json.Unmarshal(b, &v)
		j, _ := json.Marshal(v) // unescapes \u sequences
		s = string(j)
		forms = append(forms, s)
	}
	for _, seed := range seeds {
		for _, f := range forms {
			if strings.Contains(f, seed) || strings.Contains(f, strings.ToLower(seed)) {
				t.Errorf("seeded value %q survived cleaning", seed)
				break
			}
		}
	}
}

// Admit is formats.Subjects: learn, then refuse suppressed subjects; a
// record carrying an opt-out or opt-in signal is forwarded.
func (s *subjects) Admit(tenant string, subj formats.Subject, sig formats.Signals) (bool, error) {
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
