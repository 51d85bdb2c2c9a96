package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func readyz(t *testing.T, admin string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

const keepModelPolicy = `package consentry
decision := {"action": "keep", "rule": "t.keep"} if input.field.key in {"Model", "type", "id"}
decision := {"action": "drop", "rule": "t.drop"} if not input.field.key in {"Model", "type", "id"}
record_decision := {"action": "keep", "rule": "t.rec"}
`

func TestPolicyReloadOnSIGHUPKeepsLastGood(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	writeFile(t, dir, "policy.rego", keepModelPolicy)
	cs := start(t, "--upstream", up.url, "--policy", dir)
	batch := []byte(`[{"type":"meta","id":"` + account + `","af":{"Model":"Pixel 7","Make":"Google"}}]`)
	send := func() []byte {
		resp, body := post(t, cs.url+"/a1?z="+account, batch, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		return up.last(t).Body
	}
	if got := gjson.GetBytes(send(), "0.af.Model").Str; got != "Pixel 7" {
		t.Fatalf("Model not kept: %q", got)
	}
	_, r0 := readyz(t, cs.admin)
	writeFile(t, dir, "policy.rego", strings.Replace(keepModelPolicy, `"Model", "type"`, `"Make", "type"`, 2))
	_ = cs.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		_, r := readyz(t, cs.admin)
		return r != nil && r["policy_revision"] != r0["policy_revision"]
	})
	out := send()
	if gjson.GetBytes(out, "0.af.Model").Exists() || gjson.GetBytes(out, "0.af.Make").Str != "Google" {
		t.Fatalf("new policy not in force: %s", out)
	}
	_, r1 := readyz(t, cs.admin)
	writeFile(t, dir, "policy.rego", "package consentry\ndecision := {") // broken
	_ = cs.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(cs.stderr.String(), "policy reload failed") })
	if code, r := readyz(t, cs.admin); code != 200 || r["policy_revision"] != r1["policy_revision"] {
		t.Fatalf("last good policy not kept: %d %v", code, r)
	}
	if out := send(); gjson.GetBytes(out, "0.af.Make").Str != "Google" {
		t.Fatalf("traffic broken after a failed reload: %s", out)
	}
	m := metrics(t, cs.admin)
	if !strings.Contains(m, "consentry_policy_reload_errors_total 1") && !strings.Contains(m, "consentry_policy_reload_errors_total 2") {
		t.Errorf("reload error not counted:\n%s", grep(m, "reload"))
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	up := newUpstream(t)
	up.delay = 700 * time.Millisecond
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", `
shutdown:
  drain_delay: 300ms
  grace: 5s
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
`)
	cs := start(t, "--config", cfg)
	done := make(chan int, 1)
	go func() {
		resp, _ := post(t, cs.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"},{"type":"event","evtName":"E","evtData":{}}]`), nil)
		done <- resp.StatusCode
	}()
	waitFor(t, func() bool { return len(up.requests()) == 1 })
	// Connections that never send a byte (HTTP clients dial ahead of
	// need) must not hold the stop until shutdown.grace.
	silent := func() {
		c, err := net.Dial("tcp", strings.TrimPrefix(cs.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	silent()
	_ = cs.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, func() bool { code, _ := readyz(t, cs.admin); return code == 503 })
	silent() // during the drain delay
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("in-flight request failed during shutdown: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never finished")
	}
	select {
	case <-cs.done:
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit")
	}
	if cs.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit code %d:\n%s", cs.cmd.ProcessState.ExitCode(), cs.stderr.String())
	}
	if strings.Contains(cs.stderr.String(), "did not finish within shutdown.grace") {
		t.Fatalf("the stop waited out shutdown.grace:\n%s", cs.stderr.String())
	}
}

func TestUpstreamDownIsAFailureTheSDKRetries(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	up.srv.Close()
	resp, body := post(t, cs.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"},{"type":"event","evtName":"E","evtData":{}}]`), nil)
	if resp.StatusCode != 502 || !strings.Contains(string(body), "upstream_unavailable") {
		t.Fatalf("want 502 upstream_unavailable, got %d %s", resp.StatusCode, body)
	}
	up2 := newUpstream(t)
	up2.reply = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503); io.WriteString(w, "busy") }
	cs2 := start(t, "--upstream", up2.url)
	resp, body = post(t, cs2.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"}]`), nil)
	if resp.StatusCode != 503 || string(body) != "busy" {
		t.Fatalf("upstream failure not passed through: %d %s", resp.StatusCode, body)
	}
}

func TestMetricsShowZeroRegoEvaluationsInSteadyState(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	in := readTestdata(t, "android_batch.json")
	post(t, cs.url+"/a1?z="+account, in, nil)
	before := metricValue(t, metrics(t, cs.admin), "consentry_rego_evaluations_total")
	for range 20 {
		post(t, cs.url+"/a1?z="+account, in, nil)
	}
	after := metricValue(t, metrics(t, cs.admin), "consentry_rego_evaluations_total")
	if before == 0 || after != before {
		t.Fatalf("Rego evaluations: %v after warm-up, %v after 20 more batches (want unchanged)", before, after)
	}
}

func metrics(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(t *testing.T, m, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, name+" ") {
			var v float64
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, name+" ")), &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
