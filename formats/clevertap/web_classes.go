package clevertap

import (
	"strings"

	"github.com/consentry/consentry/formats/urlclean"
)

// ---------------------------------------------------------------------------
// Classes

// WebClassifier assigns classes to the web SDK's keys: those of d (which
// shares the mobile SDK's vocabulary, see Classifier), of the query record
// and of URL parts.
type WebClassifier struct{}

var webTopClasses = map[string]string{
	"cpg":      "web.page_url",
	"referrer": "web.referrer",
	"us":       "web.campaign",
	"um":       "web.campaign",
	"uc":       "web.campaign",
	"wm":       "web.campaign",
	"isOUL":    "record.meta",
	"rc":       "record.meta",
	"action":   "record.meta",
	"endpoint": "id.push_token", // a browser push subscription: needed to deliver push
	"browser":  "device.info",
}

// Classify implements masking.Classifier.
func (WebClassifier) Classify(kind, path, key string) string {
	switch kind {
	case KindQuery, KindLinkQuery:
		if s, ok := webParams[path]; ok {
			return s.class
		}
		if s, ok := emailParams[path]; ok && kind == KindQuery {
			return s.class
		}
		return urlclean.ParamClass(key)
	case KindURL:
		return urlclean.Classifier{}.Classify(kind, path, key)
	case KindClick:
		switch path {
		case "g":
			return "id.device"
		case "p", "s":
			return "record.meta"
		}
		return ""
	case KindEmail:
		if path == "cUsY" || strings.HasPrefix(path, "unsubGroups") {
			return "consent.marketing"
		}
	}
	if !strings.ContainsAny(path, ".[") {
		if c, ok := webTopClasses[path]; ok {
			return c
		}
	}
	if path == "WZRK_CAMP" || strings.HasPrefix(path, "WZRK_CAMP.") {
		return "web.campaign"
	}
	if kind == "data" && (path == "keys.p256dh" || path == "keys.auth") {
		return "id.push_token"
	}
	return Classifier{}.Classify(kind, path, key)
}
