package posthog

import "strings"

// ClassAddress is a street address or postal code; the default policy has
// no rule for it yet, so it is scanned.
const ClassAddress = "contact.address"

// Classifier assigns canonical classes (DESIGN.md) to PostHog keys.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs := splitPath(path)
	if strings.IndexByte(key, '.') >= 0 || len(segs) == 0 {
		return keyClass(key, false)
	}
	person := kind != "group"
	switch {
	case len(segs) == 1:
		if c, ok := topLevel[key]; ok {
			return c
		}
		return propClass(key)
	case isPersonSet(segs[0]):
		// Go client: "$set" beside properties.
		return keyClass(key, person)
	case segs[0] == "properties" && len(segs) > 2 && isPersonSet(segs[1]):
		return keyClass(key, person)
	case segs[0] == "properties" && len(segs) == 2:
		return propClass(key)
	}
	return keyClass(key, false)
}

func isPersonSet(k string) bool { return k == "$set" || k == "$set_once" || k == "$unset" }

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

// topLevel are the keys of an event and of the batch envelope.
var topLevel = map[string]string{
	"event": "record.meta", "uuid": "record.meta", "timestamp": "record.meta", "type": "record.meta",
	"messageId": "record.meta", "sent_at": "record.meta", "offset": "record.meta",
	"historical_migration": "record.meta",
	"library":              "app.info", "library_version": "app.info",
	"distinct_id": "id.user", "$distinct_id": "id.user",
	"api_key": "auth.account", "token": "auth.account",
}

// propClass classifies an event property by its PostHog name.
func propClass(key string) string {
	if c, ok := phKeys[key]; ok {
		return c
	}
	switch {
	case strings.HasPrefix(key, "$initial_"):
		// $initial_referrer is classified like $referrer.
		return propClass("$" + strings.TrimPrefix(key, "$initial_"))
	case strings.HasPrefix(key, "$feature"), strings.HasPrefix(key, "$sdk_debug"), strings.HasPrefix(key, "$web_vitals"):
		return "record.meta"
	case strings.HasPrefix(key, "$lib"):
		return "app.info"
	case strings.HasPrefix(key, "$geoip_"):
		return "geo.location" // city, subdivision, country, postal code, time zone
	}
	return keyClass(key, false)
}

// phKeys are PostHog's reserved property names.
var phKeys = map[string]string{
	"distinct_id": "id.user", "$distinct_id": "id.user", "$user_id": "id.user", "alias": "id.user",
	// The anonymous distinct_id an $identify merges: pseudonymized like the
	// distinct_id of the earlier events, so that the merge still matches.
	"$anon_distinct_id": "id.user",
	"$device_id":        "id.device",
	"token":             "auth.account", "api_key": "auth.account",
	"$ip": "net.ip",

	"$geoip_latitude": "geo.lat", "$geoip_longitude": "geo.lng",
	"$network_carrier": "network.carrier", "$network_wifi": "network.wifi",
	"$network_bluetooth": "network.bluetooth", "$network_cellular": "network.radio",
	"$device_name": "person.name", // iOS device names carry the owner's name

	"$go_version": "app.info", "$python_version": "app.info", "$is_server": "app.info",
	"$app_version": "app.info", "$app_build": "app.info", "$app_name": "app.info",
	"$app_namespace": "app.info",

	"$os": "device.info", "$os_version": "device.info", "$os_distro": "device.info",
	"$os_name": "device.info", "$browser": "device.info", "$browser_version": "device.info",
	"$device_type": "device.info", "$device": "device.info", "$device_manufacturer": "device.info",
	"$device_model": "device.info", "$screen_height": "device.info", "$screen_width": "device.info",
	"$screen_density": "device.info", "$viewport_height": "device.info",
	"$viewport_width": "device.info", "$raw_user_agent": "device.info",
	"$browser_language": "device.info", "$browser_language_prefix": "device.info",
	"$timezone": "device.info", "$timezone_offset": "device.info", "$locale": "device.info",

	"$geoip_disable": "record.meta", "$process_person_profile": "record.meta",
	"$session_id": "record.meta", "$window_id": "record.meta", "$pageview_id": "record.meta",
	"$insert_id": "record.meta", "$time": "record.meta", "$sent_at": "record.meta",
	"$is_identified": "record.meta", "$configured_session_timeout_ms": "record.meta",
	"$had_persisted_distinct_id": "record.meta", "$event_type": "record.meta",
	"$group_type": "record.meta", "$group_key": "record.meta", "$active_feature_flags": "record.meta",
	"$lib": "app.info", "$lib_version": "app.info",
}

// keyClass classifies a key by name alone. person is true in person
// property sets, where a bare "name" is the person's name.
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
