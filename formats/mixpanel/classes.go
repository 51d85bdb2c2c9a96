package mixpanel

import "strings"

// ClassAddress is a street address or postal code; the default policy has
// no rule for it yet, so it is scanned.
const ClassAddress = "contact.address"

// Classifier assigns canonical classes (DESIGN.md) to Mixpanel keys: event
// properties, and the profile and group updates of /engage and /groups.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs := splitPath(path)
	if strings.IndexByte(key, '.') >= 0 || len(segs) == 0 {
		return keyClass(key, false)
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
	return keyClass(key, person)
}

// isOperation reports whether k is a profile or group update operation.
func isOperation(k string) bool {
	switch k {
	case "$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete":
		return true
	}
	return false
}

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

// propClass classifies a property or update key by its Mixpanel name.
func propClass(key string, person bool) string {
	if c, ok := mixpanelKeys[key]; ok {
		return c
	}
	return keyClass(key, person)
}

// mixpanelKeys are Mixpanel's reserved property and update keys.
var mixpanelKeys = map[string]string{
	"token": "auth.account", "$token": "auth.account",

	"distinct_id": "id.user", "$distinct_id": "id.user", "$user_id": "id.user",
	"$device_id": "id.device", "$anon_id": "id.device",

	"ip": "net.ip", "$ip": "net.ip",

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

// keyClass classifies a key by name alone. person is true in profile
// updates, where a bare "name" is the person's name.
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

// normKey lower-cases key and removes '$', '_', '-', '.' and spaces.
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
// appear (the same table as the other adapters').
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
