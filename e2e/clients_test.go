package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amplitude "github.com/amplitude/analytics-go/amplitude"
	"github.com/posthog/posthog-go"
	rudder "github.com/rudderlabs/analytics-go/v4"
	segment "github.com/segmentio/analytics-go/v3"
	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/clevertap"
)

// person is the data subject every real client sends, seeded with personal
// data that must never reach the upstream in any form.
type person struct {
	UserID   string `json:"userId"`
	AnonID   string `json:"anonId"`
	DeviceID string `json:"deviceId"`
	Email    string `json:"email"`
	Phone    string `json:"phone"`
	Name     string `json:"name"`
	AdID     string `json:"adId"` // IDFA / advertisingId
	GAID     string `json:"gaid"` // Google advertising id
	IP       string `json:"ip"`
	Carrier  string `json:"carrier"`
	// Page URLs with the e-mail in the query, plain and percent-encoded, and
	// a shipping address: the Node clients with a page concept send them.
	PageURL    string `json:"pageUrl"`
	PageURLEnc string `json:"pageUrlEnc"`
	Address    string `json:"address"`
}

var jane = person{
	UserID: "user-4242-jane", AnonID: "anon-5151-jane", DeviceID: "dev-9f8e7d6c5b4a",
	Email: "jane.doe@example.com", Phone: "+14155550123", Name: "Jane Doe",
	AdID: "EA7583CD-A667-48BC-B806-42ECB2B48606", GAID: "38400000-8cf0-11bd-b23e-10b96e40000d",
	IP: "203.0.113.7", Carrier: "T-Mobile",
	PageURL:    "https://shop.example.org/checkout?email=jane.doe@example.com&gclid=Cj0KCQjwE2E&step=2",
	PageURLEnc: "https://shop.example.org/welcome?email=jane.doe%40example.com&utm_source=mail#top",
	Address:    "221B Baker Street, London NW1 6XE",
}

// otherUser is a second subject whose records must keep flowing after jane
// opts out.
const otherUser = "user-7777-other"

// forClient gives each client its own identities: an opt-out is per tenant
// and identity, so jane opting out through one client suppresses her for
// every vendor of the tenant.
func (p person) forClient(name string) person {
	p.UserID += "-" + name
	p.AnonID += "-" + name
	return p
}

// seeds are the values no upstream may see. Device and anonymous ids are
// pseudonymised by the default policy too.
func (p person) seeds() []string {
	return []string{p.UserID, p.AnonID, p.DeviceID, p.Email, p.Phone, p.Name, p.AdID, p.GAID, p.IP, p.Carrier,
		"Baker Street", "NW1 6XE", "Cj0KCQjwE2E"}
}

// phaseResult is what a client reported for one phase.
type phaseResult struct {
	Phase    string   `json:"phase"`
	OK       bool     `json:"ok"`
	Requests int      `json:"requests"` // -1: the client's requests cannot be counted
	Paths    []string `json:"paths"`
	Error    string   `json:"error"`
}

// keep is a field the policy keeps: in the records where sel has the raw
// JSON value selVal, path must have the raw JSON value want. An empty sel
// checks the request body itself.
type keep struct{ sel, selVal, path, want string }

// realClient is one client library under test.
type realClient struct {
	name string
	// node is the drive.js client name; goDriver runs a Go client instead.
	node     string
	goDriver func(t *testing.T, base, phase string, p person, other string) phaseResult
	// kind selects how records are read from the upstream's requests.
	kind string
	// user is the record path holding the (pseudonymised) user id.
	user []string
	// format is the wire format Consentry must detect (its audit records).
	format string
	// kept are fields the policy keeps, which must arrive unchanged.
	kept []keep
	// absent are record paths the policy drops (checked in every record).
	absent []string
	// header is a header that must be forwarded unchanged (auth material).
	header, headerVal string
	// wireOptOut: the client itself can opt the subject out (CleverTap).
	wireOptOut bool
}

var specDropped = []string{"context.device.advertisingId", "context.device.adTrackingEnabled", "context.network.carrier", "context.network.wifi", "traits.name", "context.traits.name"}

var realClients = []realClient{
	{
		name: "clevertap-node", format: "clevertap.rest", node: "clevertap", kind: "clevertap.rest", user: []string{"identity"},
		kept: []keep{
			{"evtName", `"Order Completed"`, "evtData.Amount", "9.99"},
			{"evtName", `"Order Completed"`, "evtData.Plan", `"pro"`},
			{"evtName", `"Order Completed"`, "evtData.Items", "3"},
			{"type", `"profile"`, "profileData.Customer Type", `"Gold"`},
		},
		absent: []string{"profileData.Name", "evtData.gaid", "evtData.Carrier", "evtData.wifi"},
		header: "X-CleverTap-Passcode", headerVal: "CT-PASSCODE-1", wireOptOut: true,
	},
	{
		name: "segment-node", format: "segment", node: "segment", kind: "batch", user: []string{"userId"},
		kept: []keep{
			{"type", `"track"`, "event", `"Order Completed"`},
			{"type", `"track"`, "properties.total", "9.99"},
			{"type", `"track"`, "properties.items", "3"},
			{"type", `"track"`, "context.library.name", `"@segment/analytics-node"`},
			{"type", `"identify"`, "traits.plan", `"pro"`},
			{"", "", "writeKey", `"SEG_WRITE_KEY"`},
		},
		absent: specDropped, header: "Authorization", headerVal: basic("SEG_WRITE_KEY"),
	},
	{
		name: "rudderstack-node", format: "rudderstack", node: "rudderstack", kind: "batch", user: []string{"userId"},
		kept: []keep{
			{"type", `"track"`, "event", `"Order Completed"`},
			{"type", `"track"`, "properties.total", "9.99"},
			{"type", `"track"`, "context.library.name", `"analytics-node"`},
			{"type", `"track"`, "channel", `"server"`},
			{"type", `"identify"`, "traits.plan", `"pro"`},
			{"type", `"identify"`, "context.traits.plan", `"pro"`},
		},
		absent: specDropped, header: "Authorization", headerVal: basic("RS_WRITE_KEY"),
	},
	{
		name: "mixpanel-node", format: "mixpanel", node: "mixpanel", kind: "mixpanel", user: []string{"properties.distinct_id", "$distinct_id"},
		kept: []keep{
			{"event", `"Order Completed"`, "properties.total", "9.99"},
			{"event", `"Order Completed"`, "properties.plan", `"pro"`},
			{"event", `"Order Completed"`, "properties.mp_lib", `"node"`},
			{"event", `"Order Completed"`, "properties.token", `"MP_TOKEN"`},
			{"event", `"Batch Item"`, "properties.note", `"a>>b??~~"`},
			{"$token", `"MP_TOKEN"`, "$set.plan", `"pro"`},
		},
		absent: []string{"properties.idfa", "properties.$carrier", "properties.$wifi", "$set.$name"},
	},
	{
		name: "amplitude-node", format: "amplitude", node: "amplitude", kind: "amplitude", user: []string{"user_id"},
		kept: []keep{
			{"event_type", `"Order Completed"`, "event_properties.total", "9.99"},
			{"event_type", `"Order Completed"`, "event_properties.items", "3"},
			{"event_type", `"Order Completed"`, "library", `"amplitude-node-ts/1.5.73"`},
			{"event_type", `"$identify"`, "user_properties.$set.plan", `"pro"`},
			{"", "", "api_key", `"AMP_API_KEY"`},
		},
		absent: []string{"idfa", "idfv", "adid", "android_id", "carrier", "user_properties.$set.name"},
	},
	{
		name: "posthog-node", format: "posthog", node: "posthog", kind: "batch", user: []string{"distinct_id"},
		kept: []keep{
			{"event", `"order completed"`, "properties.total", "9.99"},
			{"event", `"order completed"`, "properties.plan", `"pro"`},
			{"event", `"order completed"`, "properties.$lib", `"posthog-node"`},
			{"event", `"$identify"`, "properties.$set.plan", `"pro"`},
			{"", "", "api_key", `"phc_PROJECT_KEY"`},
		},
		absent: []string{"properties.$idfa", "properties.$carrier", "properties.$set.name"},
	},
	{
		name: "segment-go", format: "segment", goDriver: segmentGo, kind: "batch", user: []string{"userId"},
		kept: []keep{
			{"type", `"track"`, "event", `"Order Completed"`},
			{"type", `"track"`, "properties.total", "9.99"},
			{"type", `"identify"`, "traits.plan", `"pro"`},
			{"", "", "context.library.name", `"analytics-go"`},
		},
		absent: specDropped, header: "Authorization", headerVal: basic("SEG_GO_KEY"),
	},
	{
		name: "rudderstack-go", format: "rudderstack", goDriver: rudderGo, kind: "batch", user: []string{"userId"},
		kept: []keep{
			{"type", `"track"`, "event", `"Order Completed"`},
			{"type", `"track"`, "properties.total", "9.99"},
			{"type", `"track"`, "context.library.name", `"analytics-go"`},
			{"type", `"identify"`, "traits.plan", `"pro"`},
		},
		absent: specDropped, header: "Authorization", headerVal: basic("RS_GO_KEY"),
	},
	{
		name: "posthog-go", format: "posthog", goDriver: posthogGo, kind: "batch", user: []string{"distinct_id"},
		kept: []keep{
			{"event", `"order completed"`, "properties.total", "9.99"},
			{"event", `"order completed"`, "properties.$lib", `"posthog-go"`},
			{"event", `"$identify"`, "$set.plan", `"pro"`},
			{"", "", "api_key", `"phc_GO_KEY"`},
		},
		absent: []string{"properties.$idfa", "properties.$carrier", "$set.name"},
	},
	{
		name: "amplitude-go", format: "amplitude", goDriver: amplitudeGo, kind: "amplitude", user: []string{"user_id"},
		kept: []keep{
			{"event_type", `"Order Completed"`, "event_properties.total", "9.99"},
			{"event_type", `"Order Completed"`, "library", `"amplitude-go/1.3.1"`},
			{"event_type", `"$identify"`, "user_properties.$set.plan", `"pro"`},
			{"", "", "api_key", `"AMP_GO_KEY"`},
		},
		absent: []string{"idfa", "idfv", "adid", "android_id", "carrier", "user_properties.$set.name"},
	},
}

func basic(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

// TestRealClients drives every real server-side client library, unmodified,
// at one consentry serve with a capture upstream that answers like each
// vendor.
func TestRealClients(t *testing.T) {
	up := newUpstream(t)
	up.reply = vendorReply
	cs := startWithAdmin(t, up.url)
	nodeOK := nodeClients(t)
	// Each client's requests, as a range of Consentry's request count; the
	// audit records are written in the same order.
	type span struct {
		rc         realClient
		start, end int
	}
	var spans []span
	for _, rc := range realClients {
		start := int(requestsTotal(t, cs.admin))
		t.Run(rc.name, func(t *testing.T) {
			if rc.node != "" && !nodeOK {
				missingTool(t, "node or npm is not installed: the Node client tests need them (.ci/run installs them)")
			}
			runRealClient(t, rc, up, cs)
		})
		spans = append(spans, span{rc, start, int(requestsTotal(t, cs.admin))})
	}
	// Consentry recognised each client's wire format and answered 200.
	total := spans[len(spans)-1].end
	waitFor(t, func() bool { return len(cs.auditLines(t)) >= total })
	lines := cs.auditLines(t)
	if len(lines) != total {
		t.Fatalf("%d audit records for %d requests", len(lines), total)
	}
	for _, sp := range spans {
		for _, l := range lines[sp.start:sp.end] {
			if l["format"] != sp.rc.format || l["status"] != float64(200) {
				t.Errorf("%s: a request was taken as %v and answered %v, want %s and 200", sp.rc.name, l["format"], l["status"], sp.rc.format)
			}
		}
	}
	for _, out := range []string{cs.stdout.String(), cs.stderr.String()} {
		assertNoLeak(t, []byte(out), append(jane.seeds(), otherUser))
	}
}

func runRealClient(t *testing.T, rc realClient, up *upstream, cs *instance) {
	jane := jane.forClient(rc.name)
	other := otherUser + "-" + rc.name
	janeSeeds := append(jane.seeds(), other)
	var drive func(phase string) phaseResult
	if rc.node != "" {
		nc := startNode(t, rc.node, cs.url)
		drive = func(phase string) phaseResult { return nc.run(t, phase, jane, other) }
	} else {
		drive = func(phase string) phaseResult { return rc.goDriver(t, cs.url, phase, jane, other) }
	}

	// 1. Identify/profile and track, seeded with personal data.
	_, forwarded := runPhase(t, rc, up, cs, drive, "send", 0)
	records := recordsOf(t, rc.kind, forwarded)
	if len(records) < 2 {
		t.Fatalf("upstream got %d records, want the identify and the track", len(records))
	}
	for _, c := range forwarded {
		for _, v := range views(t, rc.kind, c) {
			assertNoLeak(t, v, janeSeeds)
		}
		if rc.header != "" && c.Header.Get(rc.header) != rc.headerVal {
			t.Errorf("%s not forwarded unchanged: %q", rc.header, c.Header.Get(rc.header))
		}
	}
	assertKeeps(t, rc, forwarded, records)
	if rc.node != "" && rc.node != "clevertap" {
		// The page URLs arrive cleaned part by part, not dropped: the
		// e-mail in the query is a token.
		tokenized := false
		for _, c := range forwarded {
			for _, v := range views(t, rc.kind, c) {
				tokenized = tokenized || bytes.Contains(v, []byte("email=tok%3A"))
			}
		}
		if !tokenized {
			t.Errorf("no page URL with a tokenized e-mail reached the upstream")
		}
	}
	for _, r := range records {
		for _, p := range rc.absent {
			if r.Get(p).Exists() {
				t.Errorf("%s reached the upstream; the policy drops it", p)
			}
		}
	}
	assertNoDuplicates(t, records)
	janePseudonyms := map[string]bool{}
	for _, r := range records {
		if u := userOf(r, rc.user); u != "" {
			janePseudonyms[u] = true
		}
	}
	if len(janePseudonyms) != 1 {
		t.Fatalf("jane's user id should map to one stable pseudonym, got %d", len(janePseudonyms))
	}

	// 2. Jane opts out.
	if rc.wireOptOut {
		_, fw := runPhase(t, rc, up, cs, drive, "optout", 0)
		if len(fw) != 1 {
			t.Fatalf("the opt-out itself must reach the vendor once; %d requests did", len(fw))
		}
	} else {
		adminSuppress(t, cs, jane)
	}

	// 3. After the opt-out nothing of jane's arrives; the other user's does.
	// Jane's event goes in a request of its own, which Consentry answers
	// for the vendor: the client must take that reply as success.
	_, fw := runPhase(t, rc, up, cs, drive, "after", 1)
	after := recordsOf(t, rc.kind, fw)
	others := 0
	for _, r := range after {
		u := userOf(r, rc.user)
		if janePseudonyms[u] {
			t.Errorf("a record of jane reached the upstream after she opted out")
		}
		if u != "" {
			others++
		}
	}
	if others != 1 {
		t.Errorf("after the opt-out the upstream got %d records of the other user, want 1", others)
	}
	for _, c := range fw {
		for _, v := range views(t, rc.kind, c) {
			assertNoLeak(t, v, janeSeeds)
		}
	}
}

// runPhase runs one phase and checks that the client reported success, that
// Consentry received exactly the requests the client sent (no retries) and
// that all but answered of them reached the upstream, each once. It returns
// the client's result and the upstream's new requests.
func runPhase(t *testing.T, rc realClient, up *upstream, cs *instance, drive func(string) phaseResult, phase string, answered int) (phaseResult, []captured) {
	t.Helper()
	upBefore := len(up.requests())
	inBefore := requestsTotal(t, cs.admin)
	res := drive(phase)
	if !res.OK {
		t.Fatalf("%s: the client reported a failure: %s", phase, res.Error)
	}
	in := int(requestsTotal(t, cs.admin) - inBefore)
	if res.Requests >= 0 && res.Requests != in {
		t.Errorf("%s: the client started %d requests (%v), consentry received %d", phase, res.Requests, res.Paths, in)
	}
	if in == 0 {
		t.Fatalf("%s: nothing reached consentry", phase)
	}
	fw := up.requests()[upBefore:]
	if len(fw) != in-answered {
		t.Errorf("%s: consentry received %d requests and forwarded %d, want %d forwarded", phase, in, len(fw), in-answered)
		logAudit(t, cs)
	}
	return res, fw
}

// logAudit shows Consentry's decision records (counts and rule ids, never
// values) to explain a failure.
func logAudit(t *testing.T, cs *instance) {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // the audit log is flushed every second
	lines := strings.Split(strings.TrimSpace(cs.stdout.String()), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	t.Logf("last audit records:\n%s", strings.Join(lines, "\n"))
}

// requestsTotal is the number of requests Consentry has finished, from its
// metrics (updated before each reply is written).
func requestsTotal(t *testing.T, admin string) float64 {
	t.Helper()
	var sum float64
	for _, l := range strings.Split(metrics(t, admin), "\n") {
		if !strings.HasPrefix(l, "consentry_requests_total{") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

func assertKeeps(t *testing.T, rc realClient, reqs []captured, records []gjson.Result) {
	t.Helper()
	for _, k := range rc.kept {
		found, ok := false, false
		var got string
		if k.sel == "" {
			for _, c := range reqs {
				if v := gjson.GetBytes(c.Body, k.path); v.Exists() {
					found, got = true, v.Raw
					ok = ok || v.Raw == k.want
				}
			}
		} else {
			for _, r := range records {
				if r.Get(k.sel).Raw != k.selVal {
					continue
				}
				found = true
				got = r.Get(k.path).Raw
				ok = ok || got == k.want
			}
		}
		switch {
		case !found:
			t.Errorf("no record with %s=%s reached the upstream", k.sel, k.selVal)
		case !ok:
			t.Errorf("kept field %s changed: want %s, got %s", k.path, k.want, got)
		}
	}
}

func assertNoDuplicates(t *testing.T, records []gjson.Result) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range records {
		if seen[r.Raw] {
			t.Errorf("a record reached the upstream twice")
		}
		seen[r.Raw] = true
	}
}

func userOf(r gjson.Result, paths []string) string {
	for _, p := range paths {
		if v := r.Get(p); v.Exists() {
			return v.String()
		}
	}
	return ""
}

// vendorReply answers like each vendor's ingestion API, with the bodies the
// real clients accept as success (sdk-formats.md §6.5).
func vendorReply(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch p := r.URL.Path; {
	case p == "/1/upload":
		io.WriteString(w, `{"status":"success","processed":2,"unprocessed":[]}`)
	case p == "/v1/batch":
		io.WriteString(w, `{"success":true}`)
	case p == "/2/httpapi" || p == "/batch":
		io.WriteString(w, `{"code":200,"events_ingested":2,"payload_size_bytes":512,"server_upload_time":1700000000000}`)
	case p == "/track" || p == "/engage" || p == "/import" || p == "/groups":
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Query().Get("verbose") == "1" {
			io.WriteString(w, `{"status":1,"error":null}`)
			return
		}
		io.WriteString(w, "1")
	case strings.HasSuffix(p, "/"):
		io.WriteString(w, `{"status":"Ok"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// recordsOf reads the records of every request as the vendor's backend would.
func recordsOf(t *testing.T, kind string, reqs []captured) []gjson.Result {
	t.Helper()
	var out []gjson.Result
	for _, c := range reqs {
		body := c.Body
		if !json.Valid(body) && kind != "mixpanel" {
			t.Errorf("the upstream got a body that is not JSON (%d bytes) on %s", len(body), c.Path)
			continue
		}
		switch kind {
		case "clevertap.rest":
			out = append(out, gjson.GetBytes(body, "d").Array()...)
		case "batch":
			out = append(out, gjson.GetBytes(body, "batch").Array()...)
		case "amplitude":
			out = append(out, gjson.GetBytes(body, "events").Array()...)
		case "mixpanel":
			for _, d := range mixpanelData(t, c) {
				if r := gjson.ParseBytes(d); r.IsArray() {
					out = append(out, r.Array()...)
				} else {
					out = append(out, r)
				}
			}
		default:
			t.Fatalf("test bug: unknown kind %s", kind)
		}
	}
	return out
}

// views are every form in which a request's content reaches the upstream,
// decoded: query, headers and body, plus base64 Mixpanel data, CleverTap web
// d and arp (LZ-string) and any gzip body the harness did not unpack.
func views(t *testing.T, kind string, c captured) [][]byte {
	t.Helper()
	out := [][]byte{[]byte(c.Path + "?" + c.Query), c.Body}
	if uq, err := url.QueryUnescape(c.Query); err == nil {
		out = append(out, []byte(uq))
	}
	for k, vs := range c.Header {
		out = append(out, []byte(k+": "+strings.Join(vs, ", ")))
	}
	if len(c.Body) > 2 && c.Body[0] == 0x1f && c.Body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(c.Body))
		if err != nil {
			t.Errorf("gzip body without Content-Encoding that does not unpack: %v", err)
		} else if b, err := io.ReadAll(zr); err == nil {
			out = append(out, b)
		}
	}
	if kind == "mixpanel" {
		out = append(out, mixpanelData(t, c)...)
	}
	q, _ := url.ParseQuery(c.Query)
	for _, key := range []string{"d", "arp"} {
		if v := q.Get(key); v != "" && kind == "clevertap.web" {
			d, err := clevertap.DecodeWebParam(nil, []byte(url.QueryEscape(v)))
			if err != nil {
				t.Errorf("cannot decode forwarded %s: %v", key, err)
				continue
			}
			out = append(out, d)
		}
	}
	return out
}

// mixpanelData decodes the base64 data parameter of a Mixpanel request, from
// the query or from a form body whose '+' may arrive unescaped.
func mixpanelData(t *testing.T, c captured) [][]byte {
	t.Helper()
	var raw []string
	for _, part := range strings.Split(c.Query, "&") {
		if v, ok := strings.CutPrefix(part, "data="); ok {
			raw = append(raw, v)
		}
	}
	if c.Method == http.MethodPost {
		if json.Valid(c.Body) {
			return [][]byte{c.Body}
		}
		for _, part := range strings.Split(string(c.Body), "&") {
			if v, ok := strings.CutPrefix(part, "data="); ok {
				raw = append(raw, v)
			}
		}
	}
	var out [][]byte
	for _, v := range raw {
		// PathUnescape keeps '+' literal: the raw form body has unescaped base64.
		s, err := url.PathUnescape(v)
		if err != nil {
			t.Errorf("mixpanel data is not percent-encoded correctly: %v", err)
			continue
		}
		d, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, " ", "+"))
		if err != nil {
			if d, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
				t.Errorf("mixpanel data is not base64: %v", err)
				continue
			}
		}
		if !json.Valid(d) {
			t.Errorf("mixpanel data is not JSON after base64")
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		t.Errorf("mixpanel request %s %s without data", c.Method, c.Path)
	}
	return out
}

// adminTokenValue is the admin API token of startWithAdmin's instance.
const adminTokenValue = "e2e-admin-token-5f1c0a2b3c4d5e6f"

// startWithAdmin runs consentry serve with one tenant ("default", serving
// every account and format) and the rights admin API enabled.
func startWithAdmin(t *testing.T, upstream string) *instance {
	t.Helper()
	cfg := writeFile(t, t.TempDir(), "consentry.yaml", `
admin_tokens:
  - name: e2e
    value: `+adminTokenValue+`
default_tenant: default
tenants:
  default:
    accounts: ["`+account+`"]
    upstream: `+upstream+`
`)
	return start(t, "--config", cfg)
}

// adminSuppress opts p out with `consentry subjects suppress`, for vendors
// without an opt-out signal on the wire. The identity goes through stdin
// and the token through a file, as an operator would pass them.
func adminSuppress(t *testing.T, cs *instance, p person) bool {
	t.Helper()
	tok := writeFile(t, t.TempDir(), "token", adminTokenValue)
	cmd := exec.Command(binary, "subjects", "suppress", "--admin", cs.admin, "--token-file", tok, "--tenant", "default", "--identity", "-")
	cmd.Stdin = strings.NewReader(p.UserID + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consentry subjects suppress: %v\n%s", err, stderr.String())
	}
	if !json.Valid(out) {
		t.Fatalf("consentry subjects suppress printed no JSON")
	}
	return true
}

// --- Node clients -------------------------------------------------------

// missingTool skips a test whose tool is not installed, except in CI, where
// .ci/run installs every tool and a skip would hide a broken install step.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal("CI: " + msg)
	}
	t.Skip(msg)
}

var (
	npmOnce sync.Once
	npmOK   bool
	npmErr  error
)

// nodeClients makes sure node and the locked client packages are installed
// (npm ci when node_modules is missing or older than the lock file). It
// returns false only when node or npm is not installed.
func nodeClients(t *testing.T) bool {
	t.Helper()
	npmOnce.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			return
		}
		npmOK = true
		dir := clientsDir(t)
		lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
		if err != nil {
			npmErr = err
			return
		}
		if st, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && !st.ModTime().Before(lock.ModTime()) {
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			npmOK = false
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in e2e/clients: %v\n%s", err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return npmOK
}

func clientsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("clients")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// nodeClient is one drive.js process, fed one phase per line.
type nodeClient struct {
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *syncBuffer
}

func startNode(t *testing.T, client, base string) *nodeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, "node", "drive.js", client, base)
	cmd.Dir = clientsDir(t)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1", "HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=")
	nc := &nodeClient{stderr: &syncBuffer{}}
	cmd.Stderr = nc.stderr
	var err error
	if nc.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	nc.out = bufio.NewScanner(stdout)
	nc.out.Buffer(nil, 1<<20)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
		if s := nc.stderr.String(); s != "" {
			t.Logf("%s stderr:\n%s", client, s)
		}
	})
	return nc
}

func (nc *nodeClient) run(t *testing.T, phase string, p person, other string) phaseResult {
	t.Helper()
	cmd, _ := json.Marshal(map[string]any{"phase": phase, "person": p, "other": other})
	if _, err := nc.in.Write(append(cmd, '\n')); err != nil {
		t.Fatalf("cannot write to drive.js: %v\n%s", err, nc.stderr.String())
	}
	if !nc.out.Scan() {
		t.Fatalf("drive.js ended without answering %s: %v\n%s", phase, nc.out.Err(), nc.stderr.String())
	}
	var res phaseResult
	if err := json.Unmarshal(nc.out.Bytes(), &res); err != nil {
		t.Fatalf("drive.js answer is not JSON: %v", err)
	}
	return res
}

// --- Go clients -----------------------------------------------------------

// countingTransport counts the requests a Go client sends.
type countingTransport struct {
	n     atomic.Int32
	mu    sync.Mutex
	paths []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// outcome collects the success/failure callbacks of a Go client.
type outcome struct {
	mu       sync.Mutex
	ok, fail int
	err      error
}

func (o *outcome) success()        { o.mu.Lock(); o.ok++; o.mu.Unlock() }
func (o *outcome) failure(e error) { o.mu.Lock(); o.fail++; o.err = e; o.mu.Unlock() }

func (o *outcome) result(phase string, want int, ct *countingTransport) phaseResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	res := phaseResult{Phase: phase, Requests: -1}
	if ct != nil {
		res.Requests = int(ct.n.Load())
		ct.mu.Lock()
		res.Paths = append([]string(nil), ct.paths...)
		ct.mu.Unlock()
	}
	switch {
	case o.fail > 0:
		res.Error = fmt.Sprintf("%d messages failed: %v", o.fail, o.err)
	case o.ok != want:
		res.Error = fmt.Sprintf("%d of %d messages reported sent", o.ok, want)
	default:
		res.OK = true
	}
	return res
}

type segmentCallback struct{ *outcome }

func (c segmentCallback) Success(segment.Message)            { c.success() }
func (c segmentCallback) Failure(_ segment.Message, e error) { c.failure(e) }

type rudderCallback struct{ *outcome }

func (c rudderCallback) Success(rudder.Message)            { c.success() }
func (c rudderCallback) Failure(_ rudder.Message, e error) { c.failure(e) }

type posthogCallback struct{ *outcome }

func (c posthogCallback) Success(posthog.APIMessage)            { c.success() }
func (c posthogCallback) Failure(_ posthog.APIMessage, e error) { c.failure(e) }

// quietLogger keeps the Go clients' own logs out of the test output; they
// would print nothing personal, but they are noise.
type quietLogger struct{}

func (quietLogger) Logf(string, ...any)   {}
func (quietLogger) Errorf(string, ...any) {}

func segmentGo(t *testing.T, base, phase string, p person, other string) phaseResult {
	t.Helper()
	ct, o := &countingTransport{}, &outcome{}
	ctx := func() *segment.Context {
		return &segment.Context{
			IP:      net.ParseIP(p.IP),
			Device:  segment.DeviceInfo{Id: p.DeviceID, AdvertisingID: p.AdID},
			Network: segment.NetworkInfo{Carrier: p.Carrier, WIFI: true, Cellular: true},
		}
	}
	track := func(user string) segment.Track {
		return segment.Track{
			UserId: user, AnonymousId: p.AnonID, Event: "Order Completed", Context: ctx(),
			Properties: segment.NewProperties().Set("total", 9.99).Set("plan", "pro").Set("email", p.Email).Set("phone", p.Phone),
		}
	}
	identify := segment.Identify{UserId: p.UserID, AnonymousId: p.AnonID, Context: ctx(),
		Traits: segment.NewTraits().SetEmail(p.Email).SetPhone(p.Phone).SetName(p.Name).Set("plan", "pro")}
	// Each batch is a client's life: enqueue, then Close, which sends.
	flush := func(msgs ...segment.Message) {
		c, err := segment.NewWithConfig("SEG_GO_KEY", segment.Config{
			Endpoint: base, Interval: time.Hour, BatchSize: 100, Transport: ct,
			Callback: segmentCallback{o}, Logger: quietLogger{},
			RetryAfter: func(int) time.Duration { return 100 * time.Millisecond },
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := c.Enqueue(m); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	n := 0
	switch phase {
	case "send":
		flush(identify, track(p.UserID))
		n = 2
	case "after":
		// jane's event alone (Consentry answers it), then the other user's.
		flush(track(p.UserID))
		flush(track(other))
		n = 2
	}
	return o.result(phase, n, ct)
}

func rudderGo(t *testing.T, base, phase string, p person, other string) phaseResult {
	t.Helper()
	ct, o := &countingTransport{}, &outcome{}
	ctx := func() *rudder.Context {
		return &rudder.Context{
			IP:      net.ParseIP(p.IP),
			Device:  rudder.DeviceInfo{Id: p.DeviceID, AdvertisingID: p.AdID},
			Network: rudder.NetworkInfo{Carrier: p.Carrier, WIFI: true},
		}
	}
	track := func(user string) rudder.Track {
		return rudder.Track{
			UserId: user, AnonymousId: p.AnonID, Event: "Order Completed", Context: ctx(),
			Properties: rudder.NewProperties().Set("total", 9.99).Set("plan", "pro").Set("email", p.Email).Set("phone", p.Phone),
		}
	}
	identify := rudder.Identify{UserId: p.UserID, AnonymousId: p.AnonID, Context: ctx(),
		Traits: rudder.NewTraits().SetEmail(p.Email).SetPhone(p.Phone).SetName(p.Name).Set("plan", "pro")}
	// Each batch is a client's life: enqueue, then Close, which sends.
	flush := func(msgs ...rudder.Message) {
		c, err := rudder.NewWithConfig("RS_GO_KEY", rudder.Config{
			DataPlaneUrl: base, Interval: time.Hour, BatchSize: 100, Transport: ct,
			Callback: rudderCallback{o}, Logger: quietRudder{},
			RetryAfter: func(int) time.Duration { return 100 * time.Millisecond },
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := c.Enqueue(m); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	n := 0
	switch phase {
	case "send":
		flush(identify, track(p.UserID))
		n = 2
	case "after":
		// jane's event alone (Consentry answers it), then the other user's.
		flush(track(p.UserID))
		flush(track(other))
		n = 2
	}
	return o.result(phase, n, ct)
}

type quietRudder struct{}

func (quietRudder) Logf(string, ...any)   {}
func (quietRudder) Errorf(string, ...any) {}
func (quietRudder) Debugf(string, ...any) {}
func (quietRudder) Infof(string, ...any)  {}
func (quietRudder) Warnf(string, ...any)  {}

func posthogGo(t *testing.T, base, phase string, p person, other string) phaseResult {
	t.Helper()
	ct, o := &countingTransport{}, &outcome{}
	capture := func(user string) posthog.Capture {
		return posthog.Capture{
			DistinctId: user, Event: "order completed",
			Properties: posthog.NewProperties().Set("total", 9.99).Set("plan", "pro").Set("email", p.Email).Set("phone", p.Phone).
				Set("$ip", p.IP).Set("$device_id", p.GAID).Set("$idfa", p.AdID).Set("$carrier", p.Carrier),
		}
	}
	identify := posthog.Identify{DistinctId: p.UserID,
		Properties: posthog.NewProperties().Set("email", p.Email).Set("phone", p.Phone).Set("name", p.Name).Set("plan", "pro").Set("$ip", p.IP)}
	// Each batch is a client's life: enqueue, then Close, which sends.
	flush := func(msgs ...posthog.Message) {
		c, err := posthog.NewWithConfig("phc_GO_KEY", posthog.Config{
			Endpoint: base, Interval: time.Hour, BatchSize: 100, Transport: ct,
			Callback: posthogCallback{o}, Logger: quietPosthog{},
			RetryAfter: func(int) time.Duration { return 100 * time.Millisecond },
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := c.Enqueue(m); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	n := 0
	switch phase {
	case "send":
		flush(identify, capture(p.UserID))
		n = 2
	case "after":
		// jane's event alone (Consentry answers it), then the other user's.
		flush(capture(p.UserID))
		flush(capture(other))
		n = 2
	}
	return o.result(phase, n, ct)
}

type quietPosthog struct{}

func (quietPosthog) Logf(string, ...any)   {}
func (quietPosthog) Errorf(string, ...any) {}
func (quietPosthog) Debugf(string, ...any) {}
func (quietPosthog) Warnf(string, ...any)  {}

// amplitudeGo drives github.com/amplitude/analytics-go. The client has no
// transport option, so its requests are counted by Consentry only.
func amplitudeGo(t *testing.T, base, phase string, p person, other string) phaseResult {
	t.Helper()
	o := &outcome{}
	cfg := amplitude.NewConfig("AMP_GO_KEY")
	cfg.ServerURL = base + "/2/httpapi"
	cfg.FlushInterval = time.Hour
	cfg.FlushQueueSize = 100
	cfg.Logger = quietAmplitude{}
	cfg.ExecuteCallback = func(r amplitude.ExecuteResult) {
		if r.Code == 200 {
			o.success()
		} else {
			o.failure(fmt.Errorf("code %d: %s", r.Code, r.Message))
		}
	}
	opts := func(user string) amplitude.EventOptions {
		return amplitude.EventOptions{
			UserID: user, DeviceID: p.DeviceID, IP: p.IP, IDFA: p.AdID, IDFV: p.AdID, ADID: p.GAID, AndroidID: p.GAID,
			Carrier: p.Carrier, LocationLat: 37.774929, LocationLng: -122.419416,
		}
	}
	track := func(c amplitude.Client, user string) {
		c.Track(amplitude.Event{
			EventType: "Order Completed", EventOptions: opts(user),
			EventProperties: map[string]any{"total": 9.99, "plan": "pro", "email": p.Email, "phone": p.Phone},
		})
	}
	// Each batch is a client's life: queue, then Flush and Shutdown.
	flush := func(queue func(c amplitude.Client)) {
		c := amplitude.NewClient(cfg)
		queue(c)
		c.Flush()
		c.Shutdown()
	}
	n := 0
	switch phase {
	case "send":
		flush(func(c amplitude.Client) {
			id := amplitude.Identify{}
			id.Set("email", p.Email).Set("phone", p.Phone).Set("name", p.Name).Set("plan", "pro")
			c.Identify(id, opts(p.UserID))
			track(c, p.UserID)
		})
		n = 2
	case "after":
		// jane's event alone (Consentry answers it), then the other user's.
		flush(func(c amplitude.Client) { track(c, p.UserID) })
		flush(func(c amplitude.Client) { track(c, other) })
		n = 2
	}
	return o.result(phase, n, nil)
}

type quietAmplitude struct{}

func (quietAmplitude) Debugf(string, ...any) {}
func (quietAmplitude) Infof(string, ...any)  {}
func (quietAmplitude) Warnf(string, ...any)  {}
func (quietAmplitude) Errorf(string, ...any) {}
