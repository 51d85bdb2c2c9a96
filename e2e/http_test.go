package e2e

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/testtls"
)

func TestHeadersHopByHopClientIPAndHosts(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	batch := []byte(`[{"type":"meta","id":"` + account + `"}]`)
	req, _ := http.NewRequest("POST", cs.url+"/a1?os=Android&z="+account, strings.NewReader(string(batch)))
	req.Host = "eu1.wzrkt.com" // legacy host, as old SDK builds send it
	for k, v := range map[string]string{
		"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9",
		"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "Proxy-Authorization": "Basic eDp5",
		"Te": "trailers", "X-CleverTap-Account-ID": account,
		"X-Envoy-External-Address": "203.0.113.9", "Fastly-Client-IP": "203.0.113.9", "X-User-Email": "jane.doe@example.com",
		"Cookie": "session=abc",
	} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := up.last(t)
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Secret-Hop", "Proxy-Authorization", "Te", "X-Envoy-External-Address", "Fastly-Client-Ip", "X-User-Email", "Cookie"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("%s forwarded: %q", h, v)
		}
	}
	if got.Header.Get("X-Clevertap-Account-Id") != account {
		t.Errorf("account header lost")
	}
	// The handshake is forwarded (no body) and its redirect headers removed.
	resp, err = http.Get(cs.url + "/hello?os=Android&t=70200&z=" + account)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-WZRK-RD") != "" || up.last(t).Path != "/hello" {
		t.Errorf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestClientIPKeptWhenPolicySaysSo(t *testing.T) {
	up := newUpstream(t)
	cfg := writeFile(t, t.TempDir(), "c.yaml", `
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
    policy_data: {client_ip: keep}
`)
	cs := start(t, "--config", cfg)
	post(t, cs.url+"/a1?z="+account, []byte(`[{"type":"meta","id":"`+account+`"}]`), map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if v := up.last(t).Header.Get("X-Forwarded-For"); v != "203.0.113.9" {
		t.Errorf("X-Forwarded-For = %q, want it kept", v)
	}
}

func TestHeaderLimit(t *testing.T) {
	up := newUpstream(t)
	cfg := writeFile(t, t.TempDir(), "c.yaml", `
limits: {max_header_bytes: 4096}
tenants:
  acme: {accounts: ["`+account+`"], upstream: `+up.url+`}
`)
	cs := start(t, "--config", cfg)
	req, _ := http.NewRequest("POST", cs.url+"/a1?z="+account, strings.NewReader(`[{"type":"meta"}]`))
	req.Header.Set("X-Big", strings.Repeat("a", 8000))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 && resp.StatusCode != 400 {
		t.Errorf("oversized headers: status %d", resp.StatusCode)
	}
	if len(up.requests()) != 0 {
		t.Error("oversized request forwarded")
	}
}

func TestTLSTermination(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	cert, key := testtls.SelfSigned(t, dir)
	cs := start(t, "--upstream", up.url, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(cs.url, "https://") {
		t.Fatalf("listener is not TLS: %s", cs.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post(cs.url+"/a1?z="+account, "application/json", strings.NewReader(`[{"type":"meta","id":"`+account+`"}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d tls %v", resp.StatusCode, resp.TLS)
	}
}

func TestGlobalPrivacyControl(t *testing.T) {
	up := newUpstream(t)
	cfg := writeFile(t, t.TempDir(), "c.yaml", `
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
    rights: {honor_gpc: true}
`)
	cs := start(t, "--config", cfg)
	batch := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"E","evtData":{"x":1}}]`)
	resp, body := post(t, cs.url+"/a1?z="+account, batch, map[string]string{"Sec-GPC": "1"})
	if resp.StatusCode != 200 || string(body) != "{}" || len(up.requests()) != 0 {
		t.Fatalf("GPC request: %d %s, %d forwarded", resp.StatusCode, body, len(up.requests()))
	}
	resp, _ = post(t, cs.url+"/a1?z="+account, batch, nil)
	if resp.StatusCode != 200 || len(up.requests()) != 1 {
		t.Fatalf("request without GPC not forwarded")
	}
}
