package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// The compliance author's flow, from the binary alone: export the built-in
// rules, scaffold a tenant rule, see a bad parameter refused by rules test
// with file and line, see the rule in explain, and reload it into serve.
func TestAuthoringFlow(t *testing.T) {
	root := t.TempDir()

	exported := filepath.Join(root, "exported")
	if out, errs, code := runCLI(t, "rules", "export", exported); code != 0 {
		t.Fatalf("rules export: %d %s %s", code, out, errs)
	}
	for _, f := range []string{"consentry/classes.rego", "consentry/decision.rego", "consentry/decision_test.rego", "fixtures/android_batch.yaml", "fixtures/android_batch.json"} {
		if _, err := os.Stat(filepath.Join(exported, f)); err != nil {
			t.Errorf("rules export did not write %s", f)
		}
	}
	if out, _, code := runCLI(t, "rules", "test", exported); code != 0 || !strings.Contains(out, "PASS fixture android batch") || !strings.Contains(out, "coverage: ") {
		t.Fatalf("exported rules: %d\n%s", code, out)
	}
	if _, _, code := runCLI(t, "rules", "export", exported); code == 0 {
		t.Error("rules export overwrote an existing export")
	}

	mine := filepath.Join(root, "mine")
	if out, errs, code := runCLI(t, "rules", "init", "--tenant", "default", mine); code != 0 {
		t.Fatalf("rules init: %d %s %s", code, out, errs)
	}
	out, _, code := runCLI(t, "rules", "test", mine)
	if code != 0 || !strings.Contains(out, "layered over the built-in rules") || !strings.Contains(out, "PASS fixture default coupon codes") ||
		!strings.Contains(out, "default.rego 100.0%") {
		t.Fatalf("scaffolded rules: %d\n%s", code, out)
	}
	if _, _, code := runCLI(t, "rules", "fmt", "--check", mine); code != 0 {
		t.Errorf("scaffold is not opa fmt-formatted: %d", code)
	}

	// explain shows the tenant rule next to the built-in ones.
	payload := writeFile(t, root, "p.json", `[{"type":"meta","id":"`+account+`"},{"type":"event","evtName":"Charged","evtData":{"Coupon":"SPRING-2026","Email":"a@example.com"}}]`)
	out, errs, code := runCLI(t, "explain", "--policy", mine, "--format", "clevertap.sdk", payload)
	if code != 0 || !strings.Contains(out, "default.coupon") || !strings.Contains(out, "gdpr.contact.email") || strings.Contains(out, "SPRING-2026") {
		t.Fatalf("explain: %d %s\n%s", code, errs, out)
	}

	// Serve it, then break a parameter: rules test names file and line, a
	// reload is refused and the last good policy stays.
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url, "--policy", mine)
	send := func() []byte {
		resp, body := post(t, cs.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"},{"type":"event","evtName":"Charged","evtData":{"Coupon":"SPRING-2026"}}]`), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		return up.last(t).Body
	}
	if c := gjson.GetBytes(send(), "1.evtData.Coupon").Str; len(c) != 16 || c == "SPRING-2026" {
		t.Fatalf("coupon not hashed to 16 hex digits: %q", c)
	}
	rule := filepath.Join(mine, "default.rego")
	src, _ := os.ReadFile(rule)
	bad := strings.Replace(string(src), `"hex_len": 16`, `"hexlen": 8`, 1)
	writeFile(t, mine, "default.rego", bad)
	out, _, code = runCLI(t, "rules", "test", mine)
	if code != 1 || !strings.Contains(out, "default.rego:10") || !strings.Contains(out, `param "hexlen": unknown for action hash`) ||
		strings.Count(out, "cannot load policy") != 1 {
		t.Fatalf("bad param: %d\n%s", code, out)
	}
	_ = cs.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(cs.stderr.String(), "policy reload failed") })
	if !strings.Contains(cs.stderr.String(), "hexlen") {
		t.Errorf("reload error does not name the parameter:\n%s", cs.stderr.String())
	}
	if m := metrics(t, cs.admin); !strings.Contains(m, "consentry_policy_last_reload_successful 0") {
		t.Errorf("refused reload reported successful:\n%s", grep(m, "reload"))
	}
	if c := gjson.GetBytes(send(), "1.evtData.Coupon").Str; len(c) != 16 {
		t.Fatalf("last good policy not kept: coupon %q", c)
	}
}

// rules test --config evaluates fixtures with the tenants' policy_data, so a
// config override that beats a Rego rule fails the fixture.
func TestRulesTestWithConfig(t *testing.T) {
	root := t.TempDir()
	mine := filepath.Join(root, "mine")
	if _, errs, code := runCLI(t, "rules", "init", "--tenant", "acme", mine); code != 0 {
		t.Fatal(errs)
	}
	cfg := writeFile(t, root, "c.yaml", "tenants:\n  acme:\n    upstream: http://127.0.0.1:1\n    policy_data:\n      fields: {\"evtData.Coupon\": {action: keep}}\n")
	out, _, code := runCLI(t, "rules", "test", "--config", cfg, mine)
	if code != 1 || !strings.Contains(out, "FAIL fixture acme coupon") || !strings.Contains(out, `field "event:evtData.Coupon": action keep, want hash`) {
		t.Fatalf("config override not caught: %d\n%s", code, out)
	}
	if out, _, code := runCLI(t, "rules", "test", mine); code != 0 {
		t.Fatalf("without --config: %d\n%s", code, out)
	}
}

// explain lists records dropped by drop_events with their rule, numbered in
// payload order; without a FILE it lists the classes of the policy.
func TestExplainDroppedRecordsAndClasses(t *testing.T) {
	root := t.TempDir()
	cfg := writeFile(t, root, "c.yaml", "tenants:\n  acme:\n    upstream: http://127.0.0.1:1\n    keys:\n      hmac: {value: \"0123456789abcdef0123456789abcdef\"}\n      token: {value: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==\"}\n    policy_data:\n      drop_events: [\"App Launched\"]\n")
	sample := filepath.Join("..", "formats", "clevertap", "samples", "android_batch.json")
	out, errs, code := runCLI(t, "explain", "--config", cfg, "--tenant", "acme", "--format", "clevertap.sdk", "--output", "json", sample)
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	recs := gjson.Get(out, "records").Array()
	if len(recs) != 5 || recs[1].Get("action").Str != "drop" || recs[1].Get("rule").Str != "tenant.drop_events" || recs[1].Get("record").Int() != 1 ||
		recs[4].Get("record").Int() != 4 || gjson.Get(out, "records_out").Int() != 3 {
		t.Fatalf("records: %s", gjson.Get(out, "records").Raw)
	}
	for _, d := range gjson.Get(out, "decisions").Array() {
		if d.Get("record").Int() == 1 {
			t.Errorf("the dropped record has field decisions: %s", d.Raw)
		}
	}
	out, errs, code = runCLI(t, "explain", "--format", "segment")
	if code != 0 || !strings.Contains(out, "contact.email") || !strings.Contains(out, "gdpr.id.device.pseudonym") {
		t.Fatalf("explain --format without FILE: %d %s\n%s", code, errs, out)
	}
}

// Every command answers -h and --help with exit 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range [][]string{
		{}, {"serve"}, {"demo"}, {"explain"}, {"rules"}, {"rules", "test"}, {"rules", "export"}, {"rules", "init"}, {"rules", "fmt"},
		{"detokenize"}, {"subjects"}, {"subjects", "suppress"}, {"rights"}, {"rights", "migrate"}, {"version"},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string(nil), cmd...), h)
			if out, errs, code := runCLI(t, args...); code != 0 || out+errs == "" {
				t.Errorf("consentry %s: exit %d", strings.Join(args, " "), code)
			}
		}
	}
}

// runCLITimeout is runCLI for a command that must exit by itself (serve
// refusing its configuration): it is killed after d.
func runCLITimeout(t *testing.T, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("consentry %v did not exit within %s", args, d)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}
