package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputIsRefusedAndNotForwarded(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "consentry.yaml", `
limits:
  max_body_bytes: 4096
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
`)
	cs := start(t, "--config", cfg)
	small := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"a":1}}]`)
	bomb := gz(bytes.Repeat([]byte(" "), 3<<20)) // 3 MiB of spaces, ~3 KiB compressed
	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"malformed JSON", "POST", "/a1?z=" + account, []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event",]`), nil, 400, "malformed_json"},
		{"not an array", "POST", "/a1?z=" + account, []byte(`{"type":"event"}`), nil, 400, "invalid_payload"},
		{"trailing garbage", "POST", "/a1?z=" + account, append(append([]byte{}, small...), []byte(` {"x":1}`)...), nil, 400, "malformed_json"},
		{"body over the limit", "POST", "/a1?z=" + account, bytes.Repeat([]byte("x"), 8192), nil, 413, "body_too_large"},
		{"gzip bomb", "POST", "/a1?z=" + account, bomb, map[string]string{"Content-Encoding": "gzip"}, 413, "body_too_large"},
		{"broken gzip", "POST", "/a1?z=" + account, []byte{0x1f, 0x8b, 1, 2, 3}, map[string]string{"Content-Encoding": "gzip"}, 400, "invalid_gzip"},
		{"tenant mismatch", "POST", "/a1?z=OTHER-ACCOUNT", small, map[string]string{"X-CleverTap-Account-Id": account}, 400, "account_mismatch"},
		{"unknown tenant", "POST", "/a1?z=NOT-CONFIGURED", []byte(`[{"type":"meta","id":"NOT-CONFIGURED"}]`), nil, 403, "unknown_tenant"},
		{"unknown route", "POST", "/1/counts/profiles.json", small, nil, 404, "unknown_route"},
		{"open proxy attempt", "GET", "/http://example.com/", nil, nil, 404, "unknown_route"},
		{"wrong method", "GET", "/a1?z=" + account, nil, nil, 405, "method_not_allowed"},
		{"unsupported encoding", "POST", "/a1?z=" + account, small, map[string]string{"Content-Encoding": "br"}, 415, "unsupported_encoding"},
		{"empty body", "POST", "/a1?z=" + account, nil, nil, 400, "empty_body"},
		{"record not an object", "POST", "/a1?z=" + account, []byte(`[{"type":"meta","id":"` + account + `"},42]`), nil, 400, "invalid_payload"},
		{"REST unknown key", "POST", "/1/upload", []byte(`{"d":[],"x":"sneaky@example.com"}`), map[string]string{"X-CleverTap-Account-Id": account}, 400, "invalid_payload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			req, _ := http.NewRequest(tc.method, cs.url+tc.path, bytes.NewReader(tc.body))
			if tc.body == nil {
				req.Body = nil
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("want JSON error %q, got %s", tc.code, body)
			}
			if strings.Contains(string(body), "sneaky") {
				t.Errorf("error echoes payload values: %s", body)
			}
			if after := len(up.requests()); after != before {
				t.Errorf("a refused request reached the upstream")
			}
		})
	}
	// Each refusal is counted and audited.
	resp, err := http.Get(cs.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, code := range []string{"malformed_json", "body_too_large", "account_mismatch", "unknown_route"} {
		if !strings.Contains(string(m), `consentry_request_errors_total{code="`+code+`"}`) {
			t.Errorf("no error metric for %s", code)
		}
	}
	codes := map[string]bool{}
	waitFor(t, func() bool {
		for _, l := range cs.auditLines(t) {
			if c, ok := l["error"].(string); ok {
				codes[c] = true
			}
		}
		return codes["account_mismatch"]
	})
	if !codes["malformed_json"] || !codes["body_too_large"] || !codes["account_mismatch"] {
		t.Errorf("audit lines lack error codes: %v", codes)
	}
}

// A policy with a decision the proxy cannot apply is refused at start, with
// the file and line, instead of dropping the fields in production.
func TestBrokenPolicyRefusedAtStart(t *testing.T) {
	for name, tc := range map[string]struct{ rego, want string }{
		"conflict": {`package consentry
decision := {"action": "keep", "rule": "a"} if input.field.key == "Model"
decision := {"action": "hash", "rule": "b"} if input.field.type == "string"
record_decision := {"action": "keep", "rule": "r"}
`, "eval_conflict_error"},
		"unknown action": {`package consentry
decision := {"action": "yolo", "rule": "bad"} if input.field.class == "device.info"
decision := {"action": "drop", "rule": "d"} if input.field.class != "device.info"
record_decision := {"action": "keep", "rule": "r"}
`, `policy.rego:2: unknown action "yolo"`},
		"undefined": {`package consentry
decision := {"action": "keep", "rule": "only-model"} if input.field.key == "Model"
record_decision := {"action": "keep", "rule": "r"}
`, "decision is undefined"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "policy.rego", tc.rego)
			_, errs, code := runCLITimeout(t, 60*time.Second, "serve", "--upstream", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--policy", dir)
			if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(errs, "cannot load policy") != 1 {
				t.Fatalf("exit %d, want an error with %q:\n%s", code, tc.want, errs)
			}
		})
	}
}

// A policy that errors or is undefined at run time, for a shape load-time
// validation could not foresee (the rules compare no constant with it),
// drops fields: nothing the policy did not clear is forwarded.
func TestBrokenPolicyFailsClosed(t *testing.T) {
	for name, rego := range map[string]string{
		"conflict": `package consentry
decision := {"action": "keep", "rule": "a"} if count(input.field.key) == 5
decision := {"action": "hash", "rule": "b"} if input.field.type == "string"
decision := {"action": "drop", "rule": "d"} if {
	input.field.type != "string"
	count(input.field.key) != 5
}
record_decision := {"action": "keep", "rule": "r"}
`,
		"undefined": `package consentry
decision := {"action": "keep", "rule": "only-model"} if input.field.key == "Model"
decision := {"action": "drop", "rule": "d"} if {
	input.field.key != "Model"
	count(input.field.key) != 2
}
record_decision := {"action": "keep", "rule": "r"}
`,
	} {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t)
			dir := t.TempDir()
			writeFile(t, dir, "policy.rego", rego)
			cs := start(t, "--upstream", up.url, "--policy", dir)
			in := readTestdata(t, "android_batch.json")
			resp, body := post(t, cs.url+"/a1?z="+account, in, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			out := up.last(t).Body
			assertNoLeak(t, out, androidSeeds)
			if name == "conflict" && gjson.GetBytes(out, "0.af.Model").Exists() {
				t.Errorf("a field survived a broken policy: %s", out)
			}
			if name == "undefined" && (gjson.GetBytes(out, "0.af.Model").Str != "Pixel 7" || gjson.GetBytes(out, "0.af.cc").Exists()) {
				t.Errorf("undefined decision: %s", out)
			}
		})
	}
}

func TestAllRecordsDroppedIsAnsweredByConsentry(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "consentry.yaml", `
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
    policy_data:
      drop_events: ["Charged"]
`)
	cs := start(t, "--config", cfg)
	batch := []byte(`[{"type":"meta","id":"` + account + `","g":"__abc"},{"type":"event","evtName":"Charged","evtData":{"Amount":5}}]`)
	resp, body := post(t, cs.url+"/a1?z="+account, batch, nil)
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Fatalf("want CleverTap's own success reply, got %d %s", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
	rest := []byte(`{"d":[{"identity":"u1","type":"event","evtName":"Charged","evtData":{"Amount":5}}]}`)
	resp, body = post(t, cs.url+"/1/upload", rest, map[string]string{"X-CleverTap-Account-Id": account})
	if resp.StatusCode != 200 || string(body) != `{"status":"success","processed":1,"unprocessed":[]}` {
		t.Fatalf("REST reply %d %s", resp.StatusCode, body)
	}
	// A partially dropped batch is forwarded with the rest.
	mixed := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"Charged","evtData":{"Amount":5}},{"type":"event","evtName":"Viewed","evtData":{"Amount":6}}]`)
	resp, _ = post(t, cs.url+"/a1?z="+account, mixed, nil)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	out := up.last(t).Body
	if gjson.GetBytes(out, "#").Int() != 2 || gjson.GetBytes(out, "1.evtName").Str != "Viewed" {
		t.Errorf("partial batch: %s", out)
	}
}

// A record decision the policy cannot make fails the request (503, the SDK
// retries) instead of dropping data as if the policy had chosen to.
func TestRecordDecisionErrorIsRetryable(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	writeFile(t, dir, "policy.rego", `package consentry
decision := {"action": "keep", "rule": "k"}
record_decision := {"action": "keep", "rule": "a"} if input.record.kind != "event"
record_decision := {"action": "keep", "rule": "b"} if input.record.kind == "event"
record_decision := {"action": "drop", "rule": "c"} if count(input.record.name) == 4
`)
	cs := start(t, "--upstream", up.url, "--policy", dir)
	resp, body := post(t, cs.url+"/a1?z="+account, sdkBatch("__x", `{"type":"event","evtName":"Boom","evtData":{}}`), nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "policy_error") || len(up.requests()) != 0 {
		t.Fatalf("got %d %s, %d forwarded", resp.StatusCode, body, len(up.requests()))
	}
}
