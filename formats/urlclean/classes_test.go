package urlclean

import (
	"strings"
	"testing"
)

func TestURLParamClass(t *testing.T) {
	for key, want := range map[string]string{
		"email": "contact.email", "user_email": "contact.email", "EmailAddress": "contact.email", "mail": "contact.email",
		"phone": "contact.phone", "mobileNumber": "contact.phone", "tel": "contact.phone",
		"first_name": "person.name", "lastName": "person.name", "username": "person.name", "name": "person.name",
		"hostname": "", "pagename": "",
		"token": "auth.secret", "access_token": "auth.secret", "id_token": "auth.secret", "password": "auth.secret",
		"apiKey": "auth.secret", "code": "auth.secret", "sessionid": "auth.secret", "X-Amz-Signature": "auth.secret",
		"gclid": "ad.click_id", "fbclid": "ad.click_id", "ttclid": "ad.click_id", "irclickid": "ad.click_id",
		"utm_source": "web.campaign", "utm_campaign": "web.campaign",
		"uid": "id.user", "customer_id": "id.user", "ip": "net.ip", "lat": "geo.lat", "lng": "geo.lng",
		"dob": "person.birthdate", "zip": "person.address",
		"page": "", "q": "", "sku": "", "": "",
		strings.Repeat("x", 100) + "email": "",
	} {
		if got := ParamClass(key); got != want {
			t.Errorf("ParamClass(%q) = %q, want %q", key, got, want)
		}
	}
}
