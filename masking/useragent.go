package masking

import "bytes"

// ToUserAgent generalizes a User-Agent string to its browser family and
// major version and its OS family ("Chrome 156; Android"). Nothing else of
// the string is kept: device models, build ids, OS versions, app names and
// anything an app appended (e-mail addresses, IPs) are gone, so the value
// is never scanned.
const ToUserAgent = "user_agent"

// uaBrowsers are the browser tokens, most specific first: Edge, Opera,
// Samsung Internet and most others also write "Chrome/" and "Safari/".
var uaBrowsers = [...]struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPT/", "Opera"}, {"Opera/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"}, {"YaBrowser/", "Yandex"},
	{"UCBrowser/", "UC Browser"}, {"Vivaldi/", "Vivaldi"}, {"DuckDuckGo/", "DuckDuckGo"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"HeadlessChrome/", "HeadlessChrome"}, {"Chromium/", "Chromium"},
	{"Chrome/", "Chrome"},
	{"MSIE ", "Internet Explorer"},
	{"Googlebot/", "Googlebot"}, {"bingbot/", "Bingbot"},
	{"okhttp/", "OkHttp"}, {"Dalvik/", "Dalvik"}, {"CFNetwork/", "CFNetwork"},
	{"curl/", "curl"}, {"Go-http-client/", "Go-http-client"}, {"node-fetch/", "node-fetch"},
	{"axios/", "axios"},
}

// uaSystems are the OS tokens, most specific first (Android writes
// "Linux", iOS "like Mac OS X").
var uaSystems = [...]struct{ token, name string }{
	{"Windows Phone", "Windows Phone"}, {"Windows", "Windows"},
	{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"}, {"iPod", "iOS"},
	{"iOS", "iOS"}, {"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
	{"Darwin", "macOS"}, {"FreeBSD", "FreeBSD"}, {"Linux", "Linux"},
}

// appendUserAgent appends "<browser> <major>; <os>" for the User-Agent ua.
// An unknown browser is "Other", an unknown OS is left out.
func appendUserAgent(dst, ua []byte) []byte {
	name, major := "Other", []byte(nil)
	for _, b := range uaBrowsers {
		if i := bytes.Index(ua, []byte(b.token)); i >= 0 {
			name, major = b.name, uaMajor(ua[i+len(b.token):])
			break
		}
	}
	switch {
	case name == "Other" && bytes.Contains(ua, []byte("Trident/")):
		name = "Internet Explorer"
		if i := bytes.Index(ua, []byte("rv:")); i >= 0 {
			major = uaMajor(ua[i+3:])
		}
	case name == "Other" && bytes.Contains(ua, []byte("Safari/")):
		// Safari writes its version as "Version/17.4"; other WebKit
		// browsers without a token of their own are reported as Safari.
		name = "Safari"
		if i := bytes.Index(ua, []byte("Version/")); i >= 0 {
			major = uaMajor(ua[i+8:])
		}
	case name == "Chrome" && bytes.Contains(ua, []byte("; wv)")):
		name = "Chrome WebView"
	}
	dst = append(dst, name...)
	if len(major) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, major...)
	}
	for _, s := range uaSystems {
		if bytes.Contains(ua, []byte(s.token)) {
			dst = append(dst, "; "...)
			return append(dst, s.name...)
		}
	}
	return dst
}

// uaMajor is the leading decimal digits of v (at most 5), or nil.
func uaMajor(v []byte) []byte {
	n := 0
	for n < len(v) && n < 5 && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	if n == 0 {
		return nil
	}
	for n > 1 && v[0] == '0' {
		v, n = v[1:], n-1
	}
	return v[:n]
}

// AppendUserAgent appends the generalized form of the User-Agent ua, as the
// generalize action's user_agent mode writes it ("Chrome 156; Android").
// The proxy applies it to the User-Agent request header.
func AppendUserAgent(dst, ua []byte) []byte { return appendUserAgent(dst, ua) }
