package segment

import "strings"

// ClassAddress is a street address or postal code. It is not in the default
// policy's class table yet, so it falls back to scanning; tenants can give it
// a rule (drop is the GDPR-sensible one).
const ClassAddress = "contact.address"

// Classifier assigns canonical classes (DESIGN.md) to Segment and
// RudderStack message keys. Structural classes, which the policy keeps, are
// given only at their exact path, so that a key such as "library.name"
// written with a dot cannot pass for context.library.name.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs := splitPath(path)
	if strings.IndexByte(key, '.') >= 0 || len(segs) == 0 {
		return keyClass(key, false)
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
		return keyClass(key, false)
	}
	if len(segs) == 1 {
		if c, ok := topLevel[key]; ok {
			return c
		}
		if key == "name" && (kind == "page" || kind == "screen") {
			return "record.meta" // the page or screen name
		}
	}
	return keyClass(key, false)
}

// splitPath splits a rewriter path ("a.b[].c") into its keys.
func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	segs := strings.Split(path, ".")
	for i, s := range segs {
		segs[i] = strings.TrimRight(s, "[]")
	}
	return segs
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
		case "locale", "timezone", "userAgent":
			return "device.info"
		case "active", "direct", "sessionId", "sessionStart", "instanceId":
			return "record.meta"
		}
		return keyClass(key, false)
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
	return keyClass(key, false)
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
			return ClassAddress
		}
	}
	return keyClass(key, person)
}

// keyClass classifies a key by name alone: personal data that apps put under
// any name-alike key. person is true inside person objects (traits), where a
// bare "name" is the person's name rather than a product's.
func keyClass(key string, person bool) string {
	k := normKey(key)
	if c, ok := piiKeys[k]; ok {
		return c
	}
	if person && (k == "name" || k == "nickname") {
		return "person.name"
	}
	return ""
}

// normKey lower-cases key and removes '$', '_', '-', '.' and spaces, so that
// "First Name", "first_name" and "$firstName" match one entry.
func normKey(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c == '$' || c == '_' || c == '-' || c == '.' || c == ' ':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// piiKeys are normalized key names that hold personal data wherever they
// appear (properties, traits, unknown objects).
var piiKeys = map[string]string{
	"email": "contact.email", "emailaddress": "contact.email", "mail": "contact.email",
	"useremail": "contact.email",
	"phone":     "contact.phone", "phonenumber": "contact.phone", "mobile": "contact.phone",
	"mobilephone": "contact.phone", "mobilenumber": "contact.phone", "telephone": "contact.phone",
	"tel": "contact.phone", "cellphone": "contact.phone",
	"firstname": "person.name", "lastname": "person.name", "fullname": "person.name",
	"surname": "person.name", "givenname": "person.name", "familyname": "person.name",
	"middlename": "person.name", "displayname": "person.name",
	"username": "id.user", "userid": "id.user",
	"anonymousid": "id.device", "deviceid": "id.device",
	"birthday": "person.birthdate", "birthdate": "person.birthdate", "dateofbirth": "person.birthdate",
	"dob":    "person.birthdate",
	"gender": "person.gender", "sex": "person.gender",
	"age":    "person.age",
	"avatar": "person.photo", "avatarurl": "person.photo", "photo": "person.photo",
	"photourl": "person.photo", "picture": "person.photo", "profilepicture": "person.photo",
	"ip": "net.ip", "ipaddress": "net.ip", "clientip": "net.ip", "requestip": "net.ip",
	"userip": "net.ip",
	"idfa":   "device.ad_id", "adid": "device.ad_id", "gaid": "device.ad_id", "aaid": "device.ad_id",
	"advertisingid": "device.ad_id", "googleadid": "device.ad_id", "ifa": "device.ad_id",
	"idfv": "device.vendor_id", "androidid": "device.vendor_id", "imei": "device.vendor_id",
	"vendorid": "device.vendor_id", "appsetid": "device.vendor_id", "androidappsetid": "device.vendor_id",
	"adtrackingenabled": "device.ad_tracking", "limitadtracking": "device.ad_tracking",
	"carrier": "network.carrier", "wifi": "network.wifi", "bluetooth": "network.bluetooth",
	"cellular": "network.radio",
	"latitude": "geo.lat", "lat": "geo.lat", "longitude": "geo.lng", "lng": "geo.lng", "lon": "geo.lng",
	"street": ClassAddress, "streetaddress": ClassAddress, "address": ClassAddress,
	"addressline1": ClassAddress, "addressline2": ClassAddress, "postalcode": ClassAddress,
	"zipcode": ClassAddress, "zip": ClassAddress, "postcode": ClassAddress,
}
