package naive

import "strings"

// classes is the naive proxy's key → class table for CleverTap: an exact
// match on the last key, in the class vocabulary of DESIGN.md. It is a
// deliberately simple copy, not formats/clevertap's classifier.
var classes = map[string]string{
	"Name": "person.name", "Email": "contact.email", "Phone": "contact.phone",
	"DOB": "person.birthdate", "Birthday": "person.birthdate", "Gender": "person.gender",
	"Age": "person.age", "Photo": "person.photo", "Customer Type": "person.attribute",
	"Identity": "id.user", "identity": "id.user", "FBID": "id.user", "GPID": "id.user",
	"objectId":   "id.device",
	"GoogleAdID": "device.ad_id", "mt_GoogleAdID": "device.ad_id", "ifa": "device.ad_id",
	"ifv": "device.vendor_id", "GoogleAdIDLimit": "device.ad_tracking",
	"wifi": "network.wifi", "BluetoothEnabled": "network.bluetooth", "Radio": "network.radio",
	"Carrier": "network.carrier", "cc": "network.country", "nt": "network.type",
	"Latitude": "geo.lat", "Longitude": "geo.lng", "useIP": "net.use_ip",
	"ct_optout": "consent.optout", "MSG-push": "consent.marketing", "MSG-email": "consent.marketing",
	"MSG-sms": "consent.marketing", "MSG-whatsapp": "consent.marketing",
	"Make": "device.info", "Model": "device.info", "OS": "device.info", "OS Version": "device.info",
	"Build": "device.info", "Version": "device.info", "SDK Version": "device.info",
	"wdt": "device.info", "hgt": "device.info", "dpi": "device.info", "dt": "device.info",
	"locale": "device.info", "mc": "device.info", "tz": "device.info",
}

// structural holds the top-level keys of records and of the batch header.
var structural = map[string]string{
	"type": "record.meta", "evtName": "record.meta", "ep": "record.meta", "s": "record.meta",
	"pg": "record.meta", "n": "record.meta", "f": "record.meta", "lsl": "record.meta",
	"ts": "record.meta", "ddnd": "record.meta", "frs": "record.meta", "l_ts": "record.meta",
	"f_ts": "record.meta", "ct_pi": "record.meta", "g": "id.device", "id": "auth.account",
	"tk": "auth.account",
}

// Classify returns the class of the field at path whose last key is key,
// or "" when the table does not know it.
func Classify(path, key string) string {
	if !strings.ContainsAny(path, ".[") {
		if c, ok := structural[path]; ok {
			return c
		}
	}
	return classes[key]
}
