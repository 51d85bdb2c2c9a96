package e2e

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const account = "TEST-RK4-654-R75Z"

// assertNoLeak fails if any seeded value reaches body in a recognisable
// form: as is, lower-cased, JSON-escaped, URL-encoded, base64, or (for
// numbers) as its digits.
func assertNoLeak(t *testing.T, body []byte, seeds []string) {
	t.Helper()
	hay := string(body)
	lower := strings.ToLower(hay)
	for _, s := range seeds {
		forms := []string{s, strings.ToLower(s), url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
		if d := digits(s); len(d) >= 8 {
			forms = append(forms, d)
		}
		for _, f := range forms {
			if strings.Contains(hay, f) || strings.Contains(lower, strings.ToLower(f)) {
				t.Errorf("seeded value %q reached the upstream (as %q)", s, f)
				break
			}
		}
	}
}

func digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// assertKept fails unless every path has the same JSON value in out as in in.
func assertKept(t *testing.T, in, out []byte, paths []string) {
	t.Helper()
	for _, p := range paths {
		a, b := gjson.GetBytes(in, p), gjson.GetBytes(out, p)
		if !a.Exists() {
			t.Fatalf("test bug: %s not in the input", p)
		}
		if a.Raw != b.Raw {
			t.Errorf("kept field %s changed: %s -> %s", p, a.Raw, b.Raw)
		}
	}
}

var androidSeeds = []string{
	"jane.doe@example.com", "Jane Doe", "+14155550123", "user-42", "https://cdn.example.com/jane.jpg",
	"4f1c2b3a9d8e7f6a5b4c3d2e1f0a9b8c", "T-Mobile", "37.774929", "-122.419416", "$D_632361600",
	"415 555 0123",
}

func TestAndroidBatch(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	in := readTestdata(t, "android_batch.json")
	for _, tc := range []struct {
		name string
		body []byte
		hdr  map[string]string
	}{
		{"plain", in, nil},
		{"gzip", gz(in), map[string]string{"Content-Encoding": "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"X-CleverTap-Account-ID": account, "X-CleverTap-Token": "a12-b34"}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			resp, body := post(t, cs.url+"/a1?os=Android&t=70200&z="+account+"&ts=1700000005", tc.body, hdr)
			if resp.StatusCode != 200 || string(body) != `{"g":"__upstream-ack"}` {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if resp.Header.Get("X-WZRK-RD") != "" || resp.Header.Get("X-WZRK-SPIKY-RD") != "" {
				t.Errorf("redirect headers reached the client: %v", resp.Header)
			}
			if resp.Header.Get("X-Upstream") != "capture" {
				t.Errorf("upstream headers lost: %v", resp.Header)
			}
			got := up.last(t)
			if got.Path != "/a1" || !strings.Contains(got.Query, "z="+account) || got.Header.Get("X-CleverTap-Token") != "a12-b34" {
				t.Errorf("request not forwarded as sent: %s?%s %v", got.Path, got.Query, got.Header)
			}
			if tc.name == "gzip" && got.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("gzip body was not re-compressed")
			}
			out := got.Body
			if !gjson.ValidBytes(out) {
				t.Fatalf("upstream got invalid JSON: %s", out)
			}
			assertNoLeak(t, out, androidSeeds)
			assertKept(t, in, out, []string{
				"0.id", "0.tk", "0.af.Make", "0.af.Model", "0.af.OS Version", "0.af.SDK Version", "0.ddnd", "0.f_ts",
				"1.evtName", "1.evtData.Model", "1.ep", "1.n", "1.pai",
				"2.profile.Gender", "2.profile.tz", "2.profile.MSG-email",
				"3.evtName", "3.evtData.Amount", "3.evtData.Currency", "3.evtData.Items.0.Product", "3.evtData.Items.0.Price",
				"4.type", "4.mc",
			})
			// Device id derived from the ad id: a stable pseudonym shaped like a random id.
			g := gjson.GetBytes(out, "0.g").Str
			if !strings.HasPrefix(g, "__") || strings.HasPrefix(g, "__g") || len(g) != 34 {
				t.Errorf("ad-id-derived device id not rewritten to a random-id shape: %q", g)
			}
			if gjson.GetBytes(out, "0.af.useIP").Raw != "false" || gjson.GetBytes(out, "1.evtData.useIP").Raw != "false" {
				t.Errorf("useIP not forced to false: %s", out)
			}
			for _, p := range []string{"0.af.wifi", "0.af.BluetoothEnabled", "0.af.Radio", "0.af.Carrier", "0.af.GoogleAdID", "2.profile.Name", "2.profile.Photo", "4.nt"} {
				if gjson.GetBytes(out, p).Exists() {
					t.Errorf("%s should be dropped", p)
				}
			}
			if lat := gjson.GetBytes(out, "0.af.Latitude").Raw; lat != "37.77" {
				t.Errorf("latitude not generalised to 2 decimals: %s", lat)
			}
		})
	}
	// Pseudonyms are stable across requests.
	reqs := up.requests()
	if len(reqs) == 2 {
		a, b := gjson.GetBytes(reqs[0].Body, "2.profile.Identity").Raw, gjson.GetBytes(reqs[1].Body, "2.profile.Identity").Raw
		if a != b || a == "" {
			t.Errorf("identity pseudonym not stable: %s vs %s", a, b)
		}
	}
	waitFor(t, func() bool { return len(cs.auditLines(t)) >= 2 })
	lines := cs.auditLines(t)
	if len(lines) < 2 || lines[0]["records_in"] != float64(4) || lines[0]["tenant"] != "default" {
		t.Errorf("audit lines: %v", lines)
	}
	for _, l := range strings.Split(cs.stdout.String(), "\n") {
		assertNoLeak(t, []byte(l), androidSeeds)
	}
	assertNoLeak(t, []byte(cs.stderr.String()), androidSeeds)
}

func TestIOSBatch(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	in := readTestdata(t, "ios_batch.json")
	resp, body := post(t, cs.url+"/a1?os=iOS&t=70700&z="+account+"&ts=1700000205", in, map[string]string{"X-CleverTap-Account-Id": account})
	if resp.StatusCode != 200 || resp.Header.Get("X-WZRK-RD") != "" {
		t.Fatalf("status %d body %s headers %v", resp.StatusCode, body, resp.Header)
	}
	out := up.last(t).Body
	assertNoLeak(t, out, []string{
		"tom.smith@example.co.uk", "+442079460958", "Tom Smith", "ios-user-7", "$D_700000000",
		"ea7583cd0aa44f2c9a0e2b5f4b1d7e11", "1f2e3d4c5b6a79881f2e3d4c5b6a7988", "EE\"", "LTE", "51.507351", "-0.127758",
	})
	assertKept(t, in, out, []string{"0.af.Model", "0.af.OS", "0.af.wdt", "0.l_ts", "1.profile.Employed", "2.evtName", "2.evtData.Product Name", "2.evtData.Category", "2.evtData.Price", "2.pai"})
	if g := gjson.GetBytes(out, "0.g").Str; !strings.HasPrefix(g, "-") || strings.HasPrefix(g, "-g") {
		t.Errorf("iOS ad-id device id not rewritten: %q", g)
	}
	if y := gjson.GetBytes(out, "1.profile.Birthday").Str; !strings.HasPrefix(y, "$D_") || y == "$D_700000000" {
		t.Errorf("birthday not generalised: %q", y)
	}
}

func TestRESTUpload(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	in := readTestdata(t, "rest_upload.json")
	resp, body := post(t, cs.url+"/1/upload", in, map[string]string{"X-CleverTap-Account-Id": account, "X-CleverTap-Passcode": "PASS-123"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"processed" : 3`) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	got := up.last(t)
	if got.Header.Get("X-CleverTap-Passcode") != "PASS-123" {
		t.Errorf("passcode not forwarded")
	}
	out := got.Body
	assertNoLeak(t, out, []string{
		"ana.lima@example.org", "+5511987654321", "Ana Lima", "rest-user-1", "$D_500000000",
		"4111 1111 1111 1111", "4111111111111111", "DE89 3704 0044 0532 0130 00", "123-45-6789", "203.0.113.7",
		"0123456789abcdef0123456789abcdef",
	})
	assertKept(t, in, out, []string{"d.0.profileData.Customer Type", "d.0.profileData.MSG-sms", "d.1.evtName", "d.1.evtData.Order ID", "d.1.evtData.Amount", "d.2.evtData.Plan", "d.1.ts"})
	if c := gjson.GetBytes(out, "d.1.evtData.Comment").Str; !strings.Contains(c, "please") {
		t.Errorf("free text lost its non-personal words: %q", c)
	}
	if n := gjson.GetBytes(out, "d.#").Int(); n != 3 {
		t.Errorf("records forwarded: %d", n)
	}
}

func TestEncryptedBatch(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	in := readTestdata(t, "android_batch.json")
	env, key := encryptEnvelope(t, in)
	resp, body := post(t, cs.url+"/a1?os=Android&z="+account, env, map[string]string{"X-CleverTap-Account-ID": account, "X-CleverTap-Encryption-Enabled": "true"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	got := up.last(t)
	if got.Header.Get("X-CleverTap-Encryption-Enabled") != "true" {
		t.Errorf("encryption header dropped")
	}
	plain := decryptEnvelope(t, got.Body, key)
	assertNoLeak(t, plain, androidSeeds)
	assertKept(t, in, plain, []string{"0.af.Model", "3.evtData.Amount"})
	if gjson.GetBytes(got.Body, "itv").Str == gjson.GetBytes(env, "itv").Str {
		t.Errorf("IV reused for a different plaintext")
	}
}

// Every copy of a field is masked: duplicate keys, keys written with
// escapes, other letter cases, numbers, nesting and profile commands.
func TestNoCopyEscapes(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	batch := []byte(`[{"type":"meta","id":"` + account + `","g":"__0123"},
{"type":"profile","profile":{"Email":"first@example.com","Email":"second@example.com","\u0045mail":"third@example.com","EMAIL":"fourth@example.com",
 "Phone":14155550123,"Name":{"$set":"Jane Doe"},"Identity":{"$set":"user-99"},"Tags":{"$add":["vip","fifth@example.com"]}}},
{"type":"event","evtName":"Nested","evtData":{"a":{"b":[{"c":"sixth@example.com"},{"Email":"seventh@example.com"}]},"n":4111111111111111}}]`)
	resp, body := post(t, cs.url+"/a1?z="+account, batch, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	out := up.last(t).Body
	assertNoLeak(t, out, []string{"first@example.com", "second@example.com", "third@example.com", "fourth@example.com",
		"14155550123", "Jane Doe", "user-99", "fifth@example.com", "sixth@example.com", "seventh@example.com", "4111111111111111"})
	if !gjson.ValidBytes(out) || gjson.GetBytes(out, "1.profile.Tags.$add.0").Str != "vip" {
		t.Errorf("structure or kept values lost: %s", out)
	}
}

// Structural fields that carry free text are scanned: apps put personal data
// in event and screen names too.
func TestFreeTextInStructuralFields(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	batch := []byte(`[{"type":"meta","id":"` + account + `","g":"__h` + `bob@example.com"},
{"type":"event","evtName":"Reset password for bob@example.com","evtData":{},"n":"Profile bob@example.com","ep":"bob@example.com","s":1700000000}]`)
	resp, body := post(t, cs.url+"/a1?z="+account, batch, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	out := up.last(t).Body
	assertNoLeak(t, out, []string{"bob@example.com"})
	if gjson.GetBytes(out, "1.s").Int() != 1700000000 || !strings.HasPrefix(gjson.GetBytes(out, "1.evtName").Str, "Reset password for ") {
		t.Errorf("structure lost: %s", out)
	}
	resp, _ = post(t, cs.url+"/1/upload", []byte(`{"d":[{"identity":"x","type":"jane@example.com"}]}`), map[string]string{"X-CleverTap-Account-Id": account})
	if resp.StatusCode != 400 {
		t.Errorf("unknown record type accepted: %d", resp.StatusCode)
	}
}
