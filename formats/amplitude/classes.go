package amplitude

import (
	"strings"

	"github.com/consentry/consentry/formats/vendorkit"
)

// Classifier assigns canonical classes (DESIGN.md) to Amplitude keys.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(_, path, key string) string {
	segs, ok := vendorkit.PathKeys(path, key)
	if !ok {
		return vendorkit.KeyClass(key, false)
	}
	if len(segs) == 1 {
		if c, ok := topLevel[key]; ok {
			return c
		}
		return vendorkit.KeyClass(key, false)
	}
	switch segs[0] {
	case "user_properties":
		// user_properties.$set.email, or user_properties.email (no operation).
		return vendorkit.KeyClass(key, true)
	case "plan", "ingestion_metadata":
		if len(segs) == 2 {
			return "app.info"
		}
	case "options":
		if len(segs) == 2 {
			return "record.meta"
		}
	case "event_properties":
		// The browser SDK's page-view properties: "[Amplitude] Page URL",
		// "[Amplitude] Page Location", "[Amplitude] Page Path",
		// "[Amplitude] Referrer" are classified like page_url, referrer, ...
		return vendorkit.KeyClass(strings.TrimPrefix(key, "[Amplitude] "), false)
	}
	return vendorkit.KeyClass(key, false)
}

// topLevel are the keys of an event and of the request envelope.
var topLevel = map[string]string{
	"user_id":   "id.user",
	"device_id": "id.device",

	"event_type": "record.meta", "time": "record.meta", "event_id": "record.meta",
	"session_id": "record.meta", "insert_id": "record.meta", "partner_id": "record.meta",
	"revenue": "record.meta", "price": "record.meta", "quantity": "record.meta",
	"productId": "record.meta", "revenueType": "record.meta", "currency": "record.meta",
	"$skip_user_properties_sync": "record.meta",

	"library": "app.info", "app_version": "app.info", "version_name": "app.info",

	"platform": "device.info", "os_name": "device.info", "os_version": "device.info",
	"device_brand": "device.info", "device_manufacturer": "device.info",
	"device_model": "device.info", "device_type": "device.info", "language": "device.info",
	"user_agent": vendorkit.ClassUserAgent,

	"carrier":      "network.carrier",
	"country":      "geo.location",
	"region":       "geo.location",
	"city":         "geo.location",
	"dma":          "geo.location",
	"location_lat": "geo.lat",
	"location_lng": "geo.lng",
	"ip":           "net.ip",

	"idfa": "device.ad_id", "adid": "device.ad_id",
	"idfv": "device.vendor_id", "android_id": "device.vendor_id", "android_app_set_id": "device.vendor_id",

	// envelope
	"api_key":            "auth.account",
	"client_upload_time": "record.meta",
}
