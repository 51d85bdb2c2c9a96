package posthog

import (
	"strings"

	"github.com/consentry/consentry/formats/vendorkit"
)

// Classifier assigns canonical classes (DESIGN.md) to PostHog keys.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(kind, path, key string) string {
	segs, ok := vendorkit.PathKeys(path, key)
	if !ok {
		return vendorkit.KeyClass(key, false)
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
		return vendorkit.KeyClass(key, person)
	case segs[0] == "properties" && len(segs) > 2 && isPersonSet(segs[1]):
		return vendorkit.KeyClass(key, person)
	case segs[0] == "properties" && len(segs) == 2:
		return propClass(key)
	}
	return vendorkit.KeyClass(key, false)
}

func isPersonSet(k string) bool { return k == "$set" || k == "$set_once" || k == "$unset" }

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
	return vendorkit.KeyClass(key, false)
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
	// $initial_current_url, $initial_referrer and $initial_pathname too.
	"$current_url": vendorkit.ClassURL, "$referrer": vendorkit.ClassURL, "$pathname": vendorkit.ClassURL,
	"$user_agent": vendorkit.ClassUserAgent, "$raw_user_agent": vendorkit.ClassUserAgent,

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
	"$viewport_width":   "device.info",
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
