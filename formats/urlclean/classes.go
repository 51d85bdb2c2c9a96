package urlclean

import "strings"

// Classes of the parts of a URL record.
const (
	ClassPath     = "web.url_path"
	ClassFragment = "web.url_fragment"
)

// Classifier assigns classes to the fields of a URL record (kind Kind):
// the path and the fragment by their own class, parameters by their key.
type Classifier struct{}

// Classify implements masking.Classifier.
func (Classifier) Classify(_, path, key string) string {
	switch path {
	case "path":
		return ClassPath
	case "fragment":
		return ClassFragment
	}
	return ParamClass(key)
}

// ParamClass classifies the key of a URL or query parameter by its name.
// Keys are compared lower-cased without '_', '-', '.' and spaces, so that
// user_email, userEmail and user-email are the same.
func ParamClass(key string) string {
	var buf [48]byte
	k := buf[:0]
	for i := 0; i < len(key) && len(k) < len(buf); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			k = append(k, c+'a'-'A')
		case c == '_', c == '-', c == '.', c == ' ':
		default:
			k = append(k, c)
		}
	}
	if len(key) > len(buf) {
		return ""
	}
	s := string(k)
	if c, ok := exact[s]; ok {
		return c
	}
	switch {
	case strings.HasPrefix(s, "utm"):
		return "web.campaign"
	case strings.Contains(s, "email"):
		return "contact.email"
	case strings.Contains(s, "phone"), strings.Contains(s, "mobile"), strings.Contains(s, "msisdn"):
		return "contact.phone"
	case strings.Contains(s, "token"), strings.Contains(s, "password"), strings.Contains(s, "passwd"),
		strings.Contains(s, "secret"), strings.Contains(s, "apikey"), strings.Contains(s, "session"),
		strings.Contains(s, "signature"), strings.Contains(s, "auth"), strings.Contains(s, "jwt"):
		return "auth.secret"
	case strings.HasSuffix(s, "clid"), strings.HasSuffix(s, "clickid"):
		return "ad.click_id"
	case strings.HasSuffix(s, "name") && s != "pagename" && s != "hostname" && s != "filename":
		return "person.name"
	}
	return ""
}

var exact = map[string]string{
	"mail": "contact.email", "email": "contact.email",
	"tel": "contact.phone", "cell": "contact.phone",
	"name": "person.name", "fname": "person.name", "lname": "person.name", "surname": "person.name",
	"user": "person.name", "login": "person.name",
	"uid": "id.user", "userid": "id.user", "customerid": "id.user", "memberid": "id.user",
	"identity": "id.user", "accountid": "id.user",
	"code": "auth.secret", "pwd": "auth.secret", "pass": "auth.secret", "key": "auth.secret",
	"sig": "auth.secret", "otp": "auth.secret", "pin": "auth.secret", "nonce": "auth.secret",
	"ticket": "auth.secret", "sid": "auth.secret", "state": "auth.secret",
	"gclid": "ad.click_id", "gbraid": "ad.click_id", "wbraid": "ad.click_id", "dclid": "ad.click_id",
	"fbclid": "ad.click_id", "msclkid": "ad.click_id", "ttclid": "ad.click_id", "twclid": "ad.click_id",
	"lifatid": "ad.click_id", "yclid": "ad.click_id", "igshid": "ad.click_id", "epik": "ad.click_id",
	"sccid": "ad.click_id", "mceid": "ad.click_id", "hsenc": "ad.click_id", "mkttok": "ad.click_id",
	"ip": "net.ip", "ipaddress": "net.ip",
	"lat": "geo.lat", "latitude": "geo.lat", "lng": "geo.lng", "lon": "geo.lng", "longitude": "geo.lng",
	"dob": "person.birthdate", "birthdate": "person.birthdate", "birthday": "person.birthdate",
	"dateofbirth": "person.birthdate",
	"address":     "person.address", "street": "person.address", "zip": "person.address",
	"zipcode": "person.address", "postcode": "person.address", "postalcode": "person.address",
}
