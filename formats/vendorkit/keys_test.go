package vendorkit

import (
	"slices"
	"testing"
)

func TestKeyClass(t *testing.T) {
	cases := []struct {
		key    string
		person bool
		want   string
	}{
		{"email", false, "contact.email"},
		{"E-Mail", false, "contact.email"},
		{"$first_name", false, "person.name"},
		{"First Name", false, "person.name"},
		{"name", false, ""},
		{"name", true, "person.name"},
		{"Nickname", true, "person.name"},
		{"postalCode", false, ClassAddress},
		{"android_app_set_id", false, "device.vendor_id"},
		{"total", true, ""},
	}
	for _, c := range cases {
		if got := KeyClass(c.key, c.person); got != c.want {
			t.Errorf("KeyClass(%q, %v) = %q, want %q", c.key, c.person, got, c.want)
		}
	}
}

func TestPathKeys(t *testing.T) {
	cases := map[string][]string{
		"":                    nil,
		"a":                   {"a"},
		"properties[].e.x[]":  {"properties", "e", "x"},
		"context.traits.name": {"context", "traits", "name"},
	}
	for in, want := range cases {
		if got, ok := PathKeys(in, "k"); !slices.Equal(got, want) || ok != (in != "") {
			t.Errorf("PathKeys(%q, k) = %q %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := PathKeys("context.library.name", "library.name"); ok {
		t.Error("a dotted key passed for a path")
	}
}

func TestKeyClassAddressesAndBusinessIDs(t *testing.T) {
	for key, want := range map[string]string{
		"shipping_address": ClassAddress, "billingAddress": ClassAddress, "address_line1": ClassAddress,
		"Street": ClassAddress, "postcode": ClassAddress, "Lieferadresse": ClassAddress,
		"recipient_name": "person.name", "order_id": ClassBusinessID, "SKU": ClassBusinessID,
		"isbn": ClassBusinessID, "build": ClassBusinessID, "tracking_number": ClassBusinessID,
	} {
		if got := KeyClass(key, false); got != want {
			t.Errorf("KeyClass(%q) = %q, want %q", key, got, want)
		}
	}
}
