package e2e

import (
	"debug/elf"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestExplain(t *testing.T) {
	sample := filepath.Join("..", "formats", "clevertap", "samples", "android_batch.json")
	out, errs, code := runCLI(t, "explain", "--format", "clevertap.sdk", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"PATH", "profile.Email", "contact.email", "tokenize", "gdpr.contact.email", "af.GoogleAdID", "drop"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q", want)
		}
	}
	assertNoLeak(t, []byte(strings.SplitN(out, "# field decisions", 2)[0]), androidSeeds)

	out, _, code = runCLI(t, "explain", "--tenant", "acme", "--format", "clevertap.rest", "--output", "json", filepath.Join("..", "formats", "clevertap", "samples", "rest_upload.json"))
	var res struct {
		Payload   json.RawMessage
		Decisions []struct{ Path, Class, Action, Rule string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Decisions) == 0 || len(res.Payload) == 0 {
		t.Fatalf("json output: %d %s", code, out)
	}
	if _, errs, code := runCLI(t, "explain", "--format", "nope", sample); code == 0 || !strings.Contains(errs, "unknown format") {
		t.Errorf("unknown format: %d %s", code, errs)
	}
}

func TestRulesTest(t *testing.T) {
	out, errs, code := runCLI(t, "rules", "test")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("embedded rules: exit %d\n%s\n%s", code, out, errs)
	}
	dir := t.TempDir()
	writeFile(t, dir, "policy.rego", keepModelPolicy)
	writeFile(t, dir, "policy_test.rego", `package consentry_test
import data.consentry
test_model_kept if consentry.decision.action == "keep" with input as {"field": {"key": "Model"}}
test_wrong if consentry.decision.action == "keep" with input as {"field": {"key": "Email"}}
`)
	writeFile(t, dir, "fixtures/android.yaml", `name: android
format: clevertap.sdk
payload: '[{"type":"meta","id":"A","af":{"Model":"Pixel 7","Email":"x@example.com"}}]'
expect:
  absent: ["x@example.com"]
  present: ["Pixel 7"]
  actions: {"af.Model": keep, "af.Email": keep}
`)
	out, _, code = runCLI(t, "rules", "test", dir)
	if code != 1 || !strings.Contains(out, "PASS data.consentry_test.test_model_kept") || !strings.Contains(out, "FAIL data.consentry_test.test_wrong") ||
		!strings.Contains(out, "FAIL fixture android") || !strings.Contains(out, `field "af.Email": action drop, want keep`) || !strings.Contains(out, "1 passed, 2 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "tenants:\n  a:\n    upstream: http://127.0.0.1:1\n    upstrem: x\n")
	_, errs, code := runCLI(t, "serve", "--config", bad)
	if code == 0 || !strings.Contains(errs, "line 4") || !strings.Contains(errs, "upstrem") {
		t.Errorf("unknown key: %d %s", code, errs)
	}
	_, errs, code = runCLI(t, "serve")
	if code == 0 || !strings.Contains(errs, "--upstream") {
		t.Errorf("no upstream: %d %s", code, errs)
	}
	_, errs, code = runCLI(t, "serve", "--upstream", "ftp://x")
	if code == 0 || !strings.Contains(errs, "http") {
		t.Errorf("bad upstream: %d %s", code, errs)
	}
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "consentry ") {
		t.Errorf("version: %d %s", code, out)
	}
}

// The binary is static (CGO_ENABLED=0), as the distroless image needs.
func TestBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(binary)
	if err != nil {
		t.Skip("not an ELF platform")
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has a dynamic interpreter; build with CGO_ENABLED=0")
		}
	}
}

// A token written by the proxy is reversed with the tenant's key by
// `consentry detokenize`, and only with it.
func TestDetokenizeRoundTrip(t *testing.T) {
	up := newUpstream(t)
	data := t.TempDir()
	cs := start(t, "--upstream", up.url, "--data", data)
	post(t, cs.url+"/a1?z="+account, readTestdata(t, "android_batch.json"), nil)
	tok := gjson.GetBytes(up.last(t).Body, "2.profile.Email").Str
	if !strings.HasPrefix(tok, "tok:") {
		t.Fatalf("email not tokenized: %q", tok)
	}
	out, errs, code := runCLI(t, "detokenize", "--data", data, tok)
	if code != 0 || strings.TrimSpace(out) != `"jane.doe@example.com"` {
		t.Fatalf("detokenize: %d %q %s", code, out, errs)
	}
	if _, _, code := runCLI(t, "detokenize", "--data", t.TempDir(), tok); code == 0 {
		t.Fatal("a token was reversed with another tenant's key")
	}
}

func TestConfigMistakesAreCaught(t *testing.T) {
	dir := t.TempDir()
	typo := writeFile(t, dir, "typo.yaml", "tenants:\n  a:\n    upstream: http://127.0.0.1:1\n    upstreams: {clevertap.api: http://127.0.0.1:2}\n    formats: [segmnt]\n")
	if _, errs, code := runCLI(t, "serve", "--config", typo); code == 0 || !strings.Contains(errs, "clevertap.api: unknown format") || !strings.Contains(errs, `"segmnt"`) {
		t.Errorf("unknown formats accepted: %d %s", code, errs)
	}
	// A file with other settings plus --upstream runs single-tenant.
	up := newUpstream(t)
	other := writeFile(t, dir, "other.yaml", "limits: {max_body_bytes: 65536}\n")
	cs := start(t, "--config", other, "--upstream", up.url)
	if resp, _ := post(t, cs.url+"/a1?z=ANY", []byte(`[{"type":"meta","id":"ANY"}]`), nil); resp.StatusCode != 200 {
		t.Errorf("single tenant with a config file: %d", resp.StatusCode)
	}
	if _, errs, code := runCLI(t, "explain", "--config", other, "--tenant", "nope", "--format", "clevertap.sdk", "-"); code == 0 || !strings.Contains(errs, `tenant "nope" is not in the config`) {
		t.Errorf("explain with an unknown tenant: %d %s", code, errs)
	}
}

func TestRulesTestRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.rego", "package consentry\ndecision := {\"action\": \"keep\", \"rule\": \"k\"}\n")
	writeFile(t, dir, "p_test.rego", "package consentry_test\nimport data.consentry\ntest_keep if consentry.decision.action == \"keep\"\n")
	if out, _, code := runCLI(t, "rules", "test", dir); code == 0 || !strings.Contains(out, "record_decision") {
		t.Errorf("a policy without record_decision passed: %s", out)
	}
	empty := t.TempDir()
	writeFile(t, empty, "p.rego", keepModelPolicy)
	if out, _, code := runCLI(t, "rules", "test", empty); code == 0 || !strings.Contains(out, "no Rego tests") {
		t.Errorf("a policy without tests passed: %s", out)
	}
}
