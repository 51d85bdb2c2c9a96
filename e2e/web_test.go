package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats/clevertap"
)

// webRequest builds the URL the web SDK sends for a d payload.
func webRequest(t *testing.T, base, typ, d string, extra string) string {
	t.Helper()
	enc, err := clevertap.EncodeWebParam(nil, []byte(d))
	if err != nil {
		t.Fatal(err)
	}
	return base + "/a?t=96&type=" + typ + "&d=" + string(enc) + "&rn=3&i=1700000000&sn=0&gc=5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b&useIP=true&r=1700000000123" + extra
}

func TestWebSDKThroughTheProxy(t *testing.T) {
	up := newUpstream(t)
	up.reply = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		w.Header().Set("X-WZRK-RD", "elsewhere.example")
		io.WriteString(w, "$WZRK_WR.s('5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b',1700000000,false,3);")
	}
	cs := start(t, "--upstream", up.url)
	d := `{"type":"profile","profile":{"Email":"web.user@example.com","Phone":14155550123,"Name":"Web User","Identity":"web-7"},"id":"` + account + `","g":"5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b","s":1700000000,"pg":1,"af":{"lib":"web-sdk-v2.5.2","protocol":"https"},"cpg":"https://shop.example/checkout?email=web.user%40example.com&step=2"}`
	req, _ := http.NewRequest("GET", webRequest(t, cs.url, "push", d, ""), nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Cookie", "session=abc; WZRK_G=xyz")
	req.Header.Set("Referer", "https://shop.example/checkout?email=web.user@example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "$WZRK_WR.s(") || resp.Header.Get("X-WZRK-RD") != "" {
		t.Fatalf("JSONP reply not passed back: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("no CORS header on the reply")
	}
	got := up.last(t)
	if got.Header.Get("Cookie") != "" || got.Header.Get("Referer") != "https://shop.example/" {
		t.Errorf("cookie or full referer forwarded: %q %q", got.Header.Get("Cookie"), got.Header.Get("Referer"))
	}
	q, err := url.ParseQuery(got.Query)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("useIP") != "false" {
		t.Errorf("useIP = %q", q.Get("useIP"))
	}
	inner, err := clevertap.DecodeWebParam(nil, []byte(url.QueryEscape(q.Get("d"))))
	if err != nil {
		t.Fatalf("cannot decode forwarded d: %v", err)
	}
	assertNoLeak(t, inner, []string{"web.user@example.com", "14155550123", "Web User", "web-7"})
	assertNoLeak(t, []byte(got.Query), []string{"web.user@example.com", "14155550123"})
	if gjson.GetBytes(inner, "af.lib").Str != "web-sdk-v2.5.2" || !strings.Contains(gjson.GetBytes(inner, "cpg").Str, "step=2") {
		t.Errorf("kept fields lost: %s", inner)
	}

	// Fetch-mode preflight.
	pre, _ := http.NewRequest("OPTIONS", cs.url+"/a", nil)
	pre.Header.Set("Origin", "https://shop.example")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	pre.Header.Set("Access-Control-Request-Headers", "x-clevertap-encryption-enabled")
	resp, err = http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-clevertap-encryption-enabled") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
