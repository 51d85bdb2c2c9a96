package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// resetUpstream reads each request in full, counts it, then resets the
// connection (SO_LINGER 0) without answering: the request has arrived, the
// answer never does.
type resetUpstream struct {
	url  string
	seen atomic.Int32
}

func newResetUpstream(t *testing.T) *resetUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &resetUpstream{url: "http://" + ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					u.seen.Add(1)
				}
				_ = c.(*net.TCPConn).SetLinger(0)
			}(c)
		}
	}()
	return u
}

// TestNoDuplicateDelivery: an upstream that reads the request and resets
// the connection receives exactly one copy, whatever the method; the
// client gets 502 and its SDK decides whether to send again.
func TestNoDuplicateDelivery(t *testing.T) {
	up := newResetUpstream(t)
	cs := start(t, "--upstream", up.url)
	d := `{"type":"profile","profile":{"Plan":"gold"},"id":"` + account + `","g":"5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b","s":1700000000,"pg":1}`
	batch := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"a":1}}]`)
	for _, tc := range []struct {
		name, method, url string
		body              []byte
	}{
		{"GET web /a", "GET", webRequest(t, cs.url, "push", d, ""), nil},
		{"GET /hello", "GET", cs.url + "/hello?z=" + account, nil},
		{"POST /a1", "POST", cs.url + "/a1?z=" + account, batch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.seen.Load()
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, tc.url, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 502 || gjson.GetBytes(b, "error.code").Str != "upstream_unavailable" {
				t.Errorf("got %d %s, want 502 upstream_unavailable", resp.StatusCode, b)
			}
			time.Sleep(100 * time.Millisecond) // a retry would arrive now
			if n := up.seen.Load() - before; n != 1 {
				t.Errorf("the upstream received %d copies, want 1", n)
			}
		})
	}
}

// TestRepeatedAccountIsRefused: a request that repeats an account-bearing
// header or query parameter, even with equal values, is refused with 400
// account_mismatch and nothing reaches the upstream.
func TestRepeatedAccountIsRefused(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	batch := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"a":1}}]`)
	segment := []byte(`{"batch":[{"type":"track","event":"x","messageId":"m1","anonymousId":"a1"}]}`)
	mp := base64.StdEncoding.EncodeToString([]byte(`{"event":"x","properties":{"token":"tok1","distinct_id":"d1"}}`))
	const hdr = "X-CleverTap-Account-Id"
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		hdr                [][2]string
		status             int
	}{
		{"clevertap: single values", "POST", "/a1?z=" + account, batch, [][2]string{{hdr, account}}, 200},
		{"clevertap: header twice", "POST", "/a1", batch, [][2]string{{hdr, account}, {hdr, account}}, 400},
		{"clevertap: z twice", "POST", "/a1?z=" + account + "&z=" + account, batch, nil, 400},
		{"clevertap: /hello z twice", "GET", "/hello?z=" + account + "&z=" + account, nil, nil, 400},
		{"segment: Authorization twice", "POST", "/v1/batch", segment, [][2]string{{"Authorization", "Basic a2V5MTo="}, {"Authorization", "Basic a2V5MTo="}}, 400},
		{"mixpanel: data twice", "GET", "/track?data=" + mp + "&data=" + mp, nil, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, cs.url+tc.path, body)
			for _, h := range tc.hdr {
				req.Header.Add(h[0], h[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			forwarded := len(up.requests()) - before
			if tc.status == 200 {
				if resp.StatusCode != 200 || forwarded != 1 {
					t.Fatalf("got %d %s, %d forwarded", resp.StatusCode, b, forwarded)
				}
				got := up.last(t)
				if v := got.Header.Values(hdr); len(v) != 1 || v[0] != account || got.Query != "z="+account {
					t.Errorf("forwarded account header %q, query %q", v, got.Query)
				}
				return
			}
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.code").Str != "account_mismatch" || forwarded != 0 {
				t.Errorf("got %d %s, %d forwarded; want 400 account_mismatch, none", resp.StatusCode, b, forwarded)
			}
		})
	}
}

// TestOutOfRangeNumbersAreRefused: a number a float64 cannot hold, or one
// with more than 64 significant digits, fails the request (400
// invalid_number) instead of travelling to the vendor verbatim.
func TestOutOfRangeNumbersAreRefused(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url, "--formats", "all") // the cases cover every vendor
	huge := strings.Repeat("9", 300)
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"normal numbers", "/a1?z=" + account, `[{"type":"meta","id":"` + account + `","ts":1700000000},{"type":"event","evtName":"x","evtData":{"price":12.5,"n":-3,"big":1e300}}]`, 200},
		{"1e400 in an event", "/a1?z=" + account, `[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"n":1e400}}]`, 400},
		{"300 digits in the header", "/a1?z=" + account, `[{"type":"meta","id":"` + account + `","x":` + huge + `},{"type":"event","evtName":"x","evtData":{}}]`, 400},
		{"segment", "/v1/batch", `{"writeKey":"k1","batch":[{"type":"track","event":"x","messageId":"m","anonymousId":"a","properties":{"v":` + huge + `}}]}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			resp, b := post(t, cs.url+tc.path, []byte(tc.body), nil)
			forwarded := len(up.requests()) - before
			if tc.status == 200 {
				if resp.StatusCode != 200 || forwarded != 1 || !bytes.Contains(up.last(t).Body, []byte(`"price":12.5`)) {
					t.Errorf("got %d %s, %d forwarded", resp.StatusCode, b, forwarded)
				}
				return
			}
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.code").Str != "invalid_number" || forwarded != 0 {
				t.Errorf("got %d %s, %d forwarded; want 400 invalid_number, none", resp.StatusCode, b, forwarded)
			}
		})
	}
}

// TestAdminPprofIsOptInAndAuthenticated: /debug/pprof/ is absent by
// default; admin_pprof: true serves it to an admin token only, while
// /metrics stays open to scrapers.
func TestAdminPprofIsOptInAndAuthenticated(t *testing.T) {
	up := newUpstream(t)
	get := func(url, token string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	off := start(t, "--upstream", up.url)
	if code := get(off.admin+"/debug/pprof/", ""); code != 404 {
		t.Errorf("pprof by default: %d, want 404", code)
	}
	const token = "e2e-pprof-token-0123456789"
	cfg := writeFile(t, t.TempDir(), "consentry.yaml", `
admin_pprof: true
admin_tokens: [{name: ops, value: `+token+`}]
tenants:
  acme: {accounts: ["`+account+`"], upstream: `+up.url+`}
`)
	on := start(t, "--config", cfg)
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", "wrong-token-0123456789", 401},
		{"/debug/pprof/", token, 200},
		{"/metrics", "", 200},
		{"/livez", "", 200},
	} {
		if code := get(on.admin+tc.path, tc.token); code != tc.status {
			t.Errorf("%s (token %v): %d, want %d", tc.path, tc.token != "", code, tc.status)
		}
	}
}

// TestAuditFailureFailsReadiness: an audit output that cannot be written
// (a full disk: /dev/full) never fails a request, is counted, and takes
// the instance out of rotation unless audit.fail_readiness is false.
func TestAuditFailureFailsReadiness(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	up := newUpstream(t)
	batch := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"a":1}}]`)
	for _, tc := range []struct {
		name, extra string
		ready       int
	}{
		{"default", "", 503},
		{"fail_readiness false", "  fail_readiness: false\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "consentry.yaml", "audit:\n  output: /dev/full\n"+tc.extra+`
tenants:
  acme: {accounts: ["`+account+`"], upstream: `+up.url+`}
`)
			cs := start(t, "--config", cfg)
			if resp, b := post(t, cs.url+"/a1?z="+account, batch, nil); resp.StatusCode != 200 {
				t.Fatalf("request failed with a failing audit output: %d %s", resp.StatusCode, b)
			}
			var metrics string
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(metrics, "consentry_audit_write_errors_total ") || strings.Contains(metrics, "consentry_audit_write_errors_total 0\n") {
				if time.Now().After(deadline) {
					t.Fatalf("no audit write error counted:\n%s", metrics)
				}
				time.Sleep(20 * time.Millisecond)
				metrics = scrapeAdmin(t, cs.admin+"/metrics")
			}
			resp, err := http.Get(cs.admin + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.ready || (tc.ready == 503 && !strings.Contains(string(b), "audit output")) {
				t.Errorf("/readyz: %d %s, want %d", resp.StatusCode, b, tc.ready)
			}
		})
	}
}

func scrapeAdmin(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The User-Agent request header names the device model and build: it
// reaches the vendor cut to browser family, major version and OS family,
// like the user agents in bodies (review finding).
func TestUserAgentHeaderGeneralized(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	ua := "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.7390.54 Mobile Safari/537.36"
	resp, body := post(t, cs.url+"/a1?z="+account, sdkBatch("__ua1", evt), map[string]string{"User-Agent": ua})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := up.last(t).Header.Get("User-Agent")
	if got != "Chrome 156; Android" || strings.Contains(got, "SM-S918B") {
		t.Errorf("upstream User-Agent %q", got)
	}
}
