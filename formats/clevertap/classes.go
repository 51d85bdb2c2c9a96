package clevertap

import (
	"strings"

	"github.com/consentry/consentry/formats/vendorkit"
)

// Canonical classes (DESIGN.md) for CleverTap keys. Keys are matched exactly
// first, then case-insensitively, because some downstream decoders match
// keys without regard to case and a renamed "EMAIL" must not slip through.
var keyClasses = map[string]string{
	"Name":     "person.name",
	"Email":    "contact.email",
	"Phone":    "contact.phone",
	"DOB":      "person.birthdate",
	"Birthday": "person.birthdate",
	"Gender":   "person.gender",
	"Age":      "person.age",
	"Photo":    "person.photo",

	"Employed":      "person.attribute",
	"Education":     "person.attribute",
	"Married":       "person.attribute",
	"Customer Type": "person.attribute",

	"Identity": "id.user",
	"identity": "id.user",
	"FBID":     "id.user",
	"GPID":     "id.user",
	"objectId": "id.device",

	"GoogleAdID":      "device.ad_id",
	"mt_GoogleAdID":   "device.ad_id",
	"ifa":             "device.ad_id",
	"mt_ifa":          "device.ad_id",
	"GoogleAdIDLimit": "device.ad_tracking",
	"ifaL":            "device.ad_tracking",
	"ifaA":            "device.ad_tracking",
	"ifv":             "device.vendor_id",
	"mt_ifv":          "device.vendor_id",

	"wifi":             "network.wifi",
	"BluetoothEnabled": "network.bluetooth",
	"BluetoothVersion": "network.bluetooth",
	"Radio":            "network.radio",
	"Carrier":          "network.carrier",
	"cc":               "network.country",
	"nt":               "network.type",

	"Latitude":  "geo.lat",
	"Longitude": "geo.lng",
	"useIP":     "net.use_ip",

	"ct_optout":                             "consent.optout",
	"ct_allow_sys_events_and_communication": "consent.optout",
	"MSG-push":                              "consent.marketing",
	"MSG-push-all":                          "consent.marketing",
	"MSG-email":                             "consent.marketing",
	"MSG-sms":                               "consent.marketing",
	"MSG-whatsapp":                          "consent.marketing",
	"MSG-dndPhone":                          "consent.marketing",
	"MSG-dndEmail":                          "consent.marketing",

	"Make": "device.info", "Model": "device.info", "OS": "device.info",
	"OS Version": "device.info", "Build": "device.info", "Version": "device.info",
	"SDK Version": "device.info", "wdt": "device.info", "hgt": "device.info",
	"dpi": "device.info", "dt": "device.info", "locale": "device.info",
	"abckt": "device.info", "lib": "device.info", "LIAMC": "device.info",
	"proxyDomain": "device.info", "spikyProxyDomain": "device.info",
	"sslpin": "device.info", "fcmsid": "device.info", "appex": "device.info",
	"wv_init": "device.info", "mc": "device.info", "tz": "device.info",
	"protocol": "device.info",
}

// lowerClasses holds the PII classes by lower-cased key, with common aliases.
var lowerClasses = func() map[string]string {
	m := map[string]string{
		"e-mail": "contact.email", "email_address": "contact.email", "mobile": "contact.phone",
		"phone_number": "contact.phone", "first_name": "person.name", "last_name": "person.name",
		"full_name": "person.name", "birthdate": "person.birthdate", "date_of_birth": "person.birthdate",
		"ip": "net.ip", "ip_address": "net.ip", "idfa": "device.ad_id", "adid": "device.ad_id",
		"advertisingid": "device.ad_id", "gaid": "device.ad_id", "idfv": "device.vendor_id",
		"android_id": "device.vendor_id", "imei": "device.vendor_id",
	}
	for k, c := range keyClasses {
		switch c {
		case "person.name", "contact.email", "contact.phone", "person.birthdate", "person.photo",
			"id.user", "device.ad_id", "device.vendor_id", "geo.lat", "geo.lng":
			m[strings.ToLower(k)] = c
		}
	}
	return m
}()

// Top-level keys of records and of the batch header: the record structure
// that the SDKs and the backend need as they are.
var structural = map[string]string{
	"type": "record.meta", "evtName": "record.meta", "ep": "record.meta", "s": "record.meta",
	"pg": "record.meta", "n": "record.meta", "f": "record.meta", "lsl": "record.meta",
	"pai": "app.info", "wzrk_error": "record.meta", "dsync": "record.meta", "gf": "record.meta",
	"gfSDKVersion": "record.meta", "ts": "record.meta", "bk": "record.meta",
	// batch header
	"g": "id.device", "id": "auth.account", "tk": "auth.account", "ddnd": "record.meta",
	"frs": "record.meta", "l_ts": "record.meta", "f_ts": "record.meta", "ct_pi": "record.meta",
	"rtl": "record.meta", "fl": "record.meta", "d_src": "record.meta", "_i": "record.meta",
	"_j": "record.meta", "rct": "record.meta", "ait": "record.meta", "debug": "record.meta",
	"imp": "record.meta", "tlc": "record.meta", "regURLs": "app.info",
}

// profileCommands wrap a value in a profile update; the class is the one of
// the key they update.
var profileCommands = map[string]bool{
	"$set": true, "$add": true, "$remove": true, "$delete": true, "$incr": true, "$decr": true,
}

// Classifier assigns classes to CleverTap keys for the SDK and REST formats.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	if profileCommands[key] {
		key = commandTarget(path)
	}
	if !strings.ContainsAny(path, ".[") {
		if c, ok := structural[path]; ok {
			return c
		}
	}
	if kind == "data" && (path == "data.id" || path == "data.type" || path == "data.action") {
		return "id.push_token" // needed to deliver push; not personal data of its own
	}
	if c, ok := keyClasses[key]; ok {
		return c
	}
	if c, ok := lowerClasses[strings.ToLower(key)]; ok {
		return c
	}
	// "First Name", "LastName", "Address", "zip": the names every vendor's
	// users give personal data, normalised.
	return vendorkit.KeyClass(key, kind == "profile")
}

// commandTarget is the key a profile command applies to: in
// "profile.Phone.$set" it is "Phone".
func commandTarget(path string) string {
	segs := strings.Split(strings.ReplaceAll(path, "[]", ""), ".")
	for i := len(segs) - 1; i >= 0; i-- {
		if s := segs[i]; s != "" && !profileCommands[s] {
			return s
		}
	}
	return ""
}
