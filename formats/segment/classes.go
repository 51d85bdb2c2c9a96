package segment

import "github.com/consentry/consentry/formats/vendorkit"

// Classifier assigns canonical classes (DESIGN.md) to Segment and
// RudderStack message keys. Structural classes, which the policy keeps, are
// given only at their exact path, so that a key such as "library.name"
// written with a dot cannot pass for context.library.name.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs, ok := vendorkit.PathKeys(path, key)
	if !ok {
		return vendorkit.KeyClass(key, false)
	}
	switch segs[0] {
	case "context":
		return contextClass(segs[1:], key)
	case "traits":
		return traitClass(segs[1:], key, kind != "group")
	case "_metadata":
		if len(segs) == 2 {
			return "app.info"
		}
		return ""
	case "properties":
		if kind == "page" && len(segs) == 2 {
			switch key {
			case "url", "referrer", "path", "search":
				return vendorkit.ClassURL // the page call's own page properties
			}
		}
		return vendorkit.KeyClass(key, false)
	}
	if len(segs) == 1 {
		if c, ok := topLevel[key]; ok {
			return c
		}
		if key == "name" && (kind == "page" || kind == "screen") {
			return "record.meta" // the page or screen name
		}
	}
	return vendorkit.KeyClass(key, false)
}

// topLevel are the message and batch keys of the Segment spec.
var topLevel = map[string]string{
	"type":              "record.meta",
	"event":             "record.meta",
	"category":          "record.meta",
	"messageId":         "record.meta",
	"timestamp":         "record.meta",
	"originalTimestamp": "record.meta",
	"sentAt":            "record.meta",
	"receivedAt":        "record.meta",
	"version":           "record.meta",
	"channel":           "record.meta",
	"userId":            "id.user",
	"previousId":        "id.user",
	"anonymousId":       "id.device",
	"writeKey":          "auth.account",
	"rudderId":          "id.device",
}

// contextClass classifies context.<rest> (key is the last key of rest).
func contextClass(rest []string, key string) string {
	if len(rest) == 0 {
		return ""
	}
	if len(rest) == 1 {
		switch key {
		case "ip", "requestIp", "request_ip":
			return "net.ip"
		case "locale", "timezone":
			return "device.info"
		case "userAgent":
			return vendorkit.ClassUserAgent
		case "active", "direct", "sessionId", "sessionStart", "instanceId":
			return "record.meta"
		}
		return vendorkit.KeyClass(key, false)
	}
	sub, n := rest[0], len(rest)
	switch sub {
	case "library", "app":
		if n == 2 && (key == "name" || key == "version" || key == "build" || key == "namespace") {
			return "app.info"
		}
	case "os":
		if n == 2 && (key == "name" || key == "version") {
			return "device.info"
		}
	case "screen":
		if n == 2 {
			return "device.info"
		}
	case "userAgentData":
		return "device.info"
	case "page":
		if n == 2 {
			switch key {
			case "url", "referrer", "path", "search":
				return vendorkit.ClassURL
			}
		}
	case "device":
		if n == 2 {
			switch key {
			case "id":
				return "id.device"
			case "advertisingId":
				return "device.ad_id"
			case "adTrackingEnabled":
				return "device.ad_tracking"
			case "manufacturer", "model", "type", "version", "brand":
				return "device.info"
			case "name":
				return "person.name" // iOS device names carry the owner's name
			case "token":
				return "" // push token: scanned like free text, kept unless it holds a finding
			}
		}
	case "network":
		if n == 2 {
			switch key {
			case "wifi":
				return "network.wifi"
			case "cellular":
				return "network.radio"
			case "bluetooth":
				return "network.bluetooth"
			case "carrier":
				return "network.carrier"
			}
		}
		return "network.type" // any other network detail is dropped with its family
	case "location":
		if n == 2 {
			switch key {
			case "latitude":
				return "geo.lat"
			case "longitude":
				return "geo.lng"
			case "city", "country", "region":
				return "geo.location"
			}
		}
	case "traits":
		return traitClass(rest[1:], key, true)
	case "consent", "consentManagement":
		return "consent.marketing"
	case "externalId":
		if n == 2 {
			switch key {
			case "id":
				return "id.user"
			case "type", "identifierType", "collection":
				return "record.meta"
			}
		}
	}
	return vendorkit.KeyClass(key, false)
}

// traitClass classifies traits.<rest>: a person's attributes, or a group's
// (company's) when person is false.
func traitClass(rest []string, key string, person bool) string {
	if len(rest) == 1 && person {
		switch key {
		case "id":
			return "id.user"
		case "createdAt":
			return "record.meta"
		}
	}
	if len(rest) == 2 && rest[0] == "address" {
		switch key {
		case "city", "state", "country":
			return "geo.location"
		case "street", "postalCode":
			return vendorkit.ClassAddress
		}
	}
	return vendorkit.KeyClass(key, person)
}
