package amplitude

import "strings"

// ClassAddress is a street address or postal code; the default policy has
// no rule for it yet, so it is scanned.
const ClassAddress = "contact.address"

// Classifier assigns canonical classes (DESIGN.md) to Amplitude keys.
// Structural classes, which the policy keeps, are given only at their exact
// path.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(_, path, key string) string {
	segs := splitPath(path)
	if strings.IndexByte(key, '.') >= 0 || len(segs) == 0 {
		return keyClass(key, false)
	}
	if len(segs) == 1 {
		if c, ok := topLevel[key]; ok {
			return c
		}
		return keyClass(key, false)
	}
	switch segs[0] {
	case "user_properties":
		// user_properties.$set.email, or user_properties.email (no operation).
		return keyClass(key, true)
	case "plan", "ingestion_metadata":
		if len(segs) == 2 {
			return "app.info"
		}
	case "options":
		if len(segs) == 2 {
			return "record.meta"
		}
	}
	return keyClass(key, false)
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
	"user_agent": "device.info",

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

// keyClass classifies a key by name alone. person is true inside user
// properties, where a bare "name" is the person's name.
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
