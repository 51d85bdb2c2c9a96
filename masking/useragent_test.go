package masking

import "testing"

// TestGeneralizeUserAgent generalizes real User-Agent strings to browser
// family, major version and OS family.
func TestGeneralizeUserAgent(t *testing.T) {
	tr := newTestTransformer(t)
	p, err := ParseParams(ActionGeneralize, map[string]any{"to": "user_agent"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Decision{Action: ActionGeneralize, Params: p}
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.7390.54 Mobile Safari/537.36", "Chrome 156; Android"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "HeadlessChrome 156; Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", "Edge 124; Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", "Safari 17; macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", "Safari 17; iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", "Chrome 124; iOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox 125; Windows"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0", "Firefox 126; Linux"},
		{"Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", "Samsung Internet 24; Android"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0", "Opera 109; Windows"},
		{"Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SQ3A.220705.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36", "Chrome WebView 120; Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome 124; ChromeOS"},
		{"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer 11; Windows"},
		{"Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)", "Dalvik 2; Android"},
		{"MyShop/3.2.1 (iPhone; iOS 17.4; jane.doe@example.com; 203.0.113.7) CFNetwork/1494.0.7 Darwin/23.4.0", "CFNetwork 1494; iOS"},
		{"okhttp/4.12.0", "OkHttp 4"},
		{"posthog-node/5.70.0", "Other"},
		{"jane.doe@example.com 203.0.113.7", "Other"},
		{"", "Other"},
	} {
		out, drop, _, err := tr.Apply(nil, d, AppendQuote(nil, []byte(c.ua)), TypeString)
		if err != nil || drop {
			t.Fatalf("%q: drop=%v err=%v", c.ua, drop, err)
		}
		if got := string(out); got != `"`+c.want+`"` {
			t.Errorf("%q: got %s, want %q", c.ua, got, c.want)
		}
	}
	// Not a string: redacted, never kept.
	if out, _, _, _ := tr.Apply(nil, d, []byte("42"), TypeNumber); string(out) != "0" {
		t.Errorf("number: got %s, want 0", out)
	}
}
