package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/testtls"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/clevertap"
)

// webGUID is the CleverTap id the capture upstream hands out.
const webGUID = "5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b"

// webPage is the test page: it loads the unmodified clevertap-web-sdk
// bundle, logs in, tracks an event, opts out, tracks two more events and
// then writes what the SDK and the browser saw into <pre id="result">,
// which chromium --dump-dom prints. Steps run on timers, which
// --virtual-time-budget advances without waiting in wall time.
const webPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>consentry e2e</title></head>
<body><pre id="result">PENDING</pre>
<script src="/clevertap.js"></script>
<script>
var P = %s;
var TARGET = %q;
var errors = [];
window.addEventListener('error', function (e) { errors.push(String(e.message)); });
clevertap.init(%q, '', TARGET);
function step(ms, fn) { setTimeout(function () { try { fn(); } catch (e) { errors.push(String(e && e.message)); } }, ms); }
step(2000, function () {
  clevertap.onUserLogin.push({Site: {Identity: P.userId, Email: P.email, Phone: P.phone, Name: P.name, 'Customer Type': 'Gold', 'MSG-email': false}});
});
step(4000, function () {
  clevertap.event.push('Order Completed', {Amount: 9.99, Plan: 'pro', Items: 3, email: P.email, phone: P.phone, gaid: P.gaid, Carrier: P.carrier, wifi: true});
});
step(6000, function () { clevertap.privacy.push({optOut: true}); });
step(8000, function () { clevertap.event.push('After OptOut', {Amount: 1, email: P.email}); });
step(10000, function () { clevertap.event.push('After OptOut Again', {Amount: 2, email: P.email}); });
step(13000, function () {
  // Requests the browser fetched from Consentry (the SDK's JSONP scripts).
  var sent = performance.getEntriesByType('resource')
    .filter(function (e) { return e.name.indexOf('https://' + TARGET + '/') === 0; })
    .map(function (e) { var u = new URL(e.name); return {path: u.pathname, type: u.searchParams.get('type'), rn: u.searchParams.get('rn')}; });
  // Requests the SDK still holds to replay (WZRK_L, keyed by request number).
  var backup = [];
  try {
    var raw = localStorage.getItem('WZRK_L');
    if (raw) { backup = Object.keys(JSON.parse(decodeURIComponent(raw))); }
  } catch (e) { errors.push('cannot read WZRK_L: ' + e.message); }
  document.getElementById('result').textContent = JSON.stringify({
    guid: clevertap.getCleverTapID(), sent: sent, backup: backup, errors: errors
  });
});
</script></body></html>`

// webResult is what the page reports.
type webResult struct {
	GUID string `json:"guid"`
	Sent []struct {
		Path, Type, RN string
	} `json:"sent"`
	Backup []string `json:"backup"` // request numbers held for replay
	Errors []string `json:"errors"`
}

// TestWebSDKInChromium runs the real clevertap-web-sdk 2.5.2 in headless
// Chromium against consentry serve over TLS (the SDK only speaks https).
func TestWebSDKInChromium(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		missingTool(t, "chromium is not installed: the web SDK test needs it (.ci/run installs it with apt-get install chromium)")
	}
	if !nodeClients(t) {
		missingTool(t, "node or npm is not installed: the web SDK bundle comes from npm (.ci/run installs it)")
	}
	bundle := filepath.Join(clientsDir(t), "node_modules", "clevertap-web-sdk", "clevertap.js")
	if _, err := os.Stat(bundle); err != nil {
		t.Fatalf("clevertap-web-sdk is not installed in e2e/clients: %v", err)
	}

	up := newUpstream(t)
	up.reply = func(w http.ResponseWriter, r *http.Request) {
		// A conservative backend: it never appends :OO itself, so after the
		// opt-out only Consentry can stop the SDK.
		w.Header().Set("Content-Type", "application/javascript")
		rn := r.URL.Query().Get("rn")
		if !requestNumber.MatchString(rn) {
			rn = "0"
		}
		fmt.Fprintf(w, "$WZRK_WR.s('%s',1700000000,false,%s);", webGUID, rn)
	}
	dir := t.TempDir()
	cert, key := testtls.SelfSigned(t, dir)
	cs := start(t, "--upstream", up.url, "--tls-cert", cert, "--tls-key", key)
	target := strings.TrimPrefix(cs.url, "https://")
	if target == cs.url {
		t.Fatalf("consentry is not serving TLS: %s", cs.url)
	}

	p := jane.forClient("web")
	seeds := p.seeds()
	pj, _ := json.Marshal(p)
	page := fmt.Sprintf(webPage, pj, target, account)
	pageURL := servePage(t, page, bundle)
	// The page's own URL carries personal data, as real sites do; the SDK
	// sends it as cpg.
	pageURL += "?email=" + url.QueryEscape(p.Email) + "&utm_source=e2e"

	inBefore := requestsTotal(t, cs.admin)
	res := runChromium(t, chromium, pageURL)
	in := int(requestsTotal(t, cs.admin) - inBefore)
	reqs := up.requests()

	if len(res.Errors) > 0 {
		t.Errorf("page errors: %v", res.Errors)
	}
	// Every request the SDK sent reached Consentry once.
	if len(res.Sent) != in {
		t.Errorf("the SDK sent %d requests (%v), consentry received %d", len(res.Sent), res.Sent, in)
	}
	// The SDK took every acknowledgement: what it still holds for replay
	// is only what it dropped itself after learning of the opt-out, never
	// a request it sent.
	sentRN := map[string]bool{}
	for _, r := range res.Sent {
		sentRN[r.RN] = true
	}
	for _, rn := range res.Backup {
		if sentRN[rn] {
			t.Errorf("request %s was sent but not acknowledged: the SDK will replay it", rn)
		}
	}
	if !strings.HasPrefix(res.GUID, webGUID) {
		t.Errorf("the SDK has no acknowledged id: %q", res.GUID)
	}

	var events, profiles, optouts []gjson.Result
	seenD := map[string]bool{}
	for _, c := range reqs {
		if c.Path != "/a" {
			t.Errorf("unexpected upstream request %s", c.Path)
			continue
		}
		for _, v := range views(t, "clevertap.web", c) {
			assertNoLeak(t, v, seeds)
		}
		q, _ := url.ParseQuery(c.Query)
		if q.Get("useIP") == "true" {
			t.Errorf("useIP=true reached the upstream")
		}
		d, err := clevertap.DecodeWebParam(nil, []byte(url.QueryEscape(q.Get("d"))))
		if err != nil {
			t.Errorf("cannot decode d: %v", err)
			continue
		}
		if seenD[string(d)] {
			t.Errorf("the same payload reached the upstream twice (a replay)")
		}
		seenD[string(d)] = true
		r := gjson.ParseBytes(d)
		if r.Get("af.lib").Str != "web-sdk-v2.5.2" {
			t.Errorf("af.lib changed: %s", r.Get("af.lib").Raw)
		}
		switch {
		case r.Get("profile.ct_optout").Raw == "true":
			optouts = append(optouts, r)
		case r.Get("type").Str == "event" && r.Get("evtName").Str != "wzrk_fetch":
			events = append(events, r)
		case r.Get("type").Str == "profile" && r.Get("profile.Identity").Exists():
			profiles = append(profiles, r)
		}
	}
	if len(profiles) != 1 {
		t.Errorf("onUserLogin reached the upstream %d times, want once", len(profiles))
	} else {
		pr := profiles[0]
		if pr.Get("profile.Customer Type").Raw != `"Gold"` || pr.Get("profile.MSG-email").Raw != "false" {
			t.Errorf("kept profile fields changed: %s", pr.Get("profile").Raw)
		}
		if pr.Get("profile.Name").Exists() {
			t.Errorf("profile.Name reached the upstream; the policy drops it")
		}
	}
	if len(optouts) != 1 {
		t.Errorf("the opt-out reached the upstream %d times, want once", len(optouts))
	}
	var names []string
	for _, e := range events {
		names = append(names, e.Get("evtName").Str)
	}
	if len(events) != 1 || names[0] != "Order Completed" {
		t.Fatalf("events at the upstream: %v, want only Order Completed (nothing after the opt-out)", names)
	}
	ev := events[0]
	for path, want := range map[string]string{"evtData.Amount": "9.99", "evtData.Plan": `"pro"`, "evtData.Items": "3"} {
		if got := ev.Get(path).Raw; got != want {
			t.Errorf("kept field %s changed: %s, want %s", path, got, want)
		}
	}
	if ev.Get("evtData.gaid").Exists() && strings.Contains(ev.Get("evtData.gaid").Str, "-") {
		t.Errorf("the advertising id kept its shape: %s", ev.Get("evtData.gaid").Raw)
	}
	for _, p := range []string{"evtData.Carrier", "evtData.wifi"} {
		if ev.Get(p).Exists() {
			t.Errorf("%s reached the upstream; the policy drops network info", p)
		}
	}
	// Consentry took every request as the web format and logged no value.
	waitFor(t, func() bool { return len(cs.auditLines(t)) >= in })
	for _, l := range cs.auditLines(t) {
		if l["format"] != clevertap.FormatWeb || l["status"] != float64(200) {
			t.Errorf("a request was taken as %v and answered %v", l["format"], l["status"])
		}
	}
	for _, out := range []string{cs.stdout.String(), cs.stderr.String()} {
		assertNoLeak(t, []byte(out), seeds)
	}
	// The first event after the opt-out reached Consentry, which dropped it
	// and answered for the vendor with the :OO id; that made the SDK drop
	// the next event itself.
	if !strings.HasSuffix(res.GUID, ":OO") {
		t.Errorf("the SDK was not told that the subject opted out: id %q", res.GUID)
	}
	if answered := len(res.Sent) - len(reqs); answered != 1 {
		t.Errorf("consentry answered %d requests itself, want 1 (the first event after the opt-out)", answered)
	}
	if len(res.Backup) != 1 {
		t.Errorf("the SDK holds %d requests, want the 1 it dropped itself after the :OO reply", len(res.Backup))
	}
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// servePage serves the page and the SDK bundle over plain http on loopback.
func servePage(t *testing.T, page, bundle string) string {
	t.Helper()
	js, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/clevertap.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		w.Write(js)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

var (
	resultRE      = regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`)
	requestNumber = regexp.MustCompile(`^[0-9]{1,9}$`)
)

// runChromium loads url in headless Chromium and returns the page's result.
func runChromium(t *testing.T, chromium, pageURL string) webResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--no-default-browser-check",
		"--ignore-certificate-errors", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=20000", "--dump-dom", pageURL)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 4000))
	}
	m := resultRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("chromium printed no result:\n%s\n%s", tail(string(out), 2000), tail(stderr.String(), 4000))
	}
	text := html.UnescapeString(string(m[1]))
	var res webResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatalf("the page did not finish (%q): %v\n%s", tail(text, 200), err, tail(stderr.String(), 4000))
	}
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
