package mixpanel

import "github.com/consentry/consentry/formats/vendorkit"

// Classifier assigns canonical classes (DESIGN.md) to Mixpanel keys: event
// properties, and the profile and group updates of /engage and /groups.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs, ok := vendorkit.PathKeys(path, key)
	if !ok {
		return vendorkit.KeyClass(key, false)
	}
	person := kind == KindProfile
	switch {
	case kind == KindGroup && key == "$name" && len(segs) == 2:
		return "" // a group's (company's) name
	case len(segs) == 1 && key == "event" && kind == "event":
		return "record.meta"
	case len(segs) == 1:
		// Profile and group updates: $token, $distinct_id, $ip, $time, ...
		return propClass(key, person)
	case len(segs) == 2 && (segs[0] == "properties" || isOperation(segs[0])):
		return propClass(key, person)
	}
	return vendorkit.KeyClass(key, person)
}

// isOperation reports whether k is a profile or group update operation.
func isOperation(k string) bool {
	switch k {
	case "$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete":
		return true
	}
	return false
}

// propClass classifies a property or update key by its Mixpanel name.
func propClass(key string, person bool) string {
	if c, ok := mixpanelKeys[key]; ok {
		return c
	}
	return vendorkit.KeyClass(key, person)
}

// mixpanelKeys are Mixpanel's reserved property and update keys.
var mixpanelKeys = map[string]string{
	"token": "auth.account", "$token": "auth.account",

	"distinct_id": "id.user", "$distinct_id": "id.user", "$user_id": "id.user",
	"$device_id": "id.device", "$anon_id": "id.device",

	"ip": "net.ip", "$ip": "net.ip",

	"$current_url": vendorkit.ClassURL, "$initial_referrer": vendorkit.ClassURL,
	"$referrer": vendorkit.ClassURL, "current_url_path": vendorkit.ClassURL,
	"current_url_search": vendorkit.ClassURL, "$user_agent": vendorkit.ClassUserAgent,

	"$email": "contact.email", "$phone": "contact.phone",
	"$name": "person.name", "$first_name": "person.name", "$last_name": "person.name",
	"$avatar":   "person.photo",
	"$latitude": "geo.lat", "$longitude": "geo.lng",
	"$city": "geo.location", "$region": "geo.location", "$country_code": "geo.location",
	"mp_country_code": "geo.location", "$geo_source": "geo.location",

	"$carrier": "network.carrier", "$wifi": "network.wifi", "$radio": "network.radio",
	"$bluetooth_enabled": "network.bluetooth", "$bluetooth_version": "network.bluetooth",

	"time": "record.meta", "$time": "record.meta", "$insert_id": "record.meta",
	"$ignore_time": "record.meta", "$ignore_alias": "record.meta", "$created": "record.meta",
	"$group_key": "record.meta", "$duration": "record.meta", "$import": "record.meta",
	"mp_processing_time_ms": "record.meta", "$mp_api_endpoint": "record.meta",
	"$mp_api_timestamp_ms": "record.meta", "$source": "record.meta",

	"mp_lib": "app.info", "$lib": "app.info", "$lib_version": "app.info",
	"$app_version": "app.info", "$app_version_string": "app.info", "$app_build_number": "app.info",
	"$app_release": "app.info", "$app_name": "app.info",

	"$os": "device.info", "$os_version": "device.info", "$browser": "device.info",
	"$browser_version": "device.info", "$device": "device.info", "$model": "device.info",
	"$manufacturer": "device.info", "$brand": "device.info", "$screen_height": "device.info",
	"$screen_width": "device.info", "$screen_dpi": "device.info", "$has_nfc": "device.info",
	"$has_telephone": "device.info", "$google_play_services": "device.info",
	"$timezone": "device.info", "$locale": "device.info",
}

// paramClassifier classifies the request parameters other than data.
type paramClassifier struct{}

func (paramClassifier) Classify(_, path, key string) string {
	if path != key {
		return ""
	}
	switch key {
	case "ip":
		return "net.use_ip" // 1 asks Mixpanel to geolocate the request's address
	case "verbose", "strict", "test", "_", "img", "redirect", "callback", "project_id":
		return "record.meta"
	case "api_key", "token":
		return "auth.account"
	}
	return ""
}
