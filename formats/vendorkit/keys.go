package vendorkit

import "strings"

// ClassAddress is a street address or postal code. It is not in the default
// policy's class table yet, so it falls back to scanning; tenants can give it
// a rule (drop is the GDPR-sensible one).
const ClassAddress = "contact.address"

// PathKeys splits a rewriter path ("a.b[].c") into its keys for a
// classifier that gives structural classes only at exact paths. ok is false
// when key must be classified by name alone: at the root, or when the key
// itself holds a dot and could otherwise pass for a nested path
// ("library.name" for context.library.name).
func PathKeys(path, key string) (segs []string, ok bool) {
	segs = splitPath(path)
	return segs, len(segs) > 0 && strings.IndexByte(key, '.') < 0
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

// KeyClass classifies a key by name alone: personal data that apps put under
// any name-alike key. person is true inside person objects (traits, user
// properties, profile updates), where a bare "name" is the person's name
// rather than a product's.
func KeyClass(key string, person bool) string {
	k := NormKey(key)
	if c, ok := piiKeys[k]; ok {
		return c
	}
	if person && (k == "name" || k == "nickname") {
		return "person.name"
	}
	return ""
}

// NormKey lower-cases key and removes '$', '_', '-', '.' and spaces, so that
// "First Name", "first_name" and "$firstName" match one entry.
func NormKey(key string) string {
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
	"shippingaddress": ClassAddress, "billingaddress": ClassAddress, "deliveryaddress": ClassAddress,
	"homeaddress": ClassAddress, "mailingaddress": ClassAddress, "postaladdress": ClassAddress,
	"residentialaddress": ClassAddress, "addressline": ClassAddress, "addressline3": ClassAddress,
	"address1": ClassAddress, "address2": ClassAddress, "streetname": ClassAddress,
	"housenumber": ClassAddress, "streetnumber": ClassAddress, "shippingstreet": ClassAddress,
	"billingstreet": ClassAddress, "shippingzip": ClassAddress, "billingzip": ClassAddress,
	"shippingpostcode": ClassAddress, "billingpostcode": ClassAddress, "postleitzahl": ClassAddress,
	"plz": ClassAddress, "strasse": ClassAddress, "straße": ClassAddress, "adresse": ClassAddress,
	"lieferadresse": ClassAddress, "rechnungsadresse": ClassAddress, "direccion": ClassAddress,
	"indirizzo": ClassAddress, "codepostal": ClassAddress, "cap": ClassAddress,
	"customername": "person.name", "recipientname": "person.name", "shippingname": "person.name",
	"billingname": "person.name", "contactname": "person.name", "cardholdername": "person.name",
	"nachname": "person.name", "vorname": "person.name", "prenom": "person.name", "nom": "person.name",
	// Business identifiers: not personal data by default, and never scanned
	// for phone-shaped digits.
	"orderid": ClassBusinessID, "ordernumber": ClassBusinessID, "orderno": ClassBusinessID,
	"invoiceid": ClassBusinessID, "invoicenumber": ClassBusinessID, "invoiceno": ClassBusinessID,
	"sku": ClassBusinessID, "productsku": ClassBusinessID, "isbn": ClassBusinessID, "ean": ClassBusinessID,
	"upc": ClassBusinessID, "gtin": ClassBusinessID, "partnumber": ClassBusinessID, "mpn": ClassBusinessID,
	"trackingnumber": ClassBusinessID, "trackingid": ClassBusinessID, "build": ClassBusinessID,
	"buildnumber": ClassBusinessID, "version": ClassBusinessID, "appversion": ClassBusinessID,
	"transactionid": ClassBusinessID, "receiptid": ClassBusinessID, "productid": ClassBusinessID,
	"requestid": ClassBusinessID, "traceid": ClassBusinessID, "ponumber": ClassBusinessID,
	// Page URLs, referrers and paths: cleaned part by part (package urlclean).
	"url": ClassURL, "pageurl": ClassURL, "currenturl": ClassURL, "initialcurrenturl": ClassURL,
	"referrer": ClassURL, "referer": ClassURL, "referrerurl": ClassURL, "initialreferrer": ClassURL,
	"pathname": ClassURL, "initialpathname": ClassURL, "pagepath": ClassURL, "pagelocation": ClassURL,
	"href": ClassURL, "landingpage": ClassURL, "landingpageurl": ClassURL,
	// User agents: generalized to browser and OS family.
	"useragent": ClassUserAgent, "rawuseragent": ClassUserAgent,
}

// ClassURL is a page URL, referrer, path or query string: the default
// policy cleans it part by part (scan with "url": true, see package
// urlclean).
const ClassURL = "web.url"

// ClassUserAgent is a User-Agent string: the default policy generalizes it
// to browser family and major version and OS family.
const ClassUserAgent = "device.user_agent"

// ClassBusinessID is an order, invoice, product, tracking, build or request
// identifier: the default policy keeps it.
const ClassBusinessID = "business.id"
