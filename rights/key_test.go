package rights

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

func TestKeyIsTruncatedHMACSHA256(t *testing.T) {
	t.Parallel()
	long := make([]byte, 100) // longer than a SHA-256 block: hashed first
	for i := range long {
		long[i] = byte(i)
	}
	tests := []struct {
		key    []byte
		tenant string
		kind   Kind
		id     []byte
	}{
		{testKey, "acme-eu", KindIdentity, []byte("alice")},
		{testKey, "acme-eu", KindDevice, []byte("__g0123456789abcdef")},
		{testKey, "", KindIdentity, nil},
		{long, "t", KindDevice, long},
		{testKey, string(long) + string(long) + string(long), KindIdentity, long},
	}
	for _, tt := range tests {
		k, err := newKeyer(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte{byte(tt.kind)}
		msg = binary.AppendUvarint(msg, uint64(len(tt.tenant)))
		msg = append(append(msg, tt.tenant...), tt.id...)
		m := hmac.New(sha256.New, tt.key)
		m.Write(msg)
		want := m.Sum(nil)[:KeySize]
		for range 2 { // second time from the pool
			got := k.key(tt.tenant, tt.kind, tt.id)
			if string(got[:]) != string(want) {
				t.Errorf("key(%q, %v, %q) = %x, want %x", tt.tenant, tt.kind, tt.id, got, want)
			}
		}
	}
}

func TestKeysSeparateTenantsKindsAndIdentifiers(t *testing.T) {
	t.Parallel()
	k, err := newKeyer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Key]string{}
	for _, c := range []struct {
		tenant string
		kind   Kind
		id     string
	}{
		{"a", KindIdentity, "bc"}, {"ab", KindIdentity, "c"}, {"a", KindDevice, "bc"},
		{"b", KindIdentity, "bc"}, {"a", KindIdentity, "bd"}, {"", KindIdentity, "abc"},
	} {
		key := k.key(c.tenant, c.kind, []byte(c.id))
		if prev, ok := seen[key]; ok {
			t.Errorf("%+v collides with %s", c, prev)
		}
		seen[key] = c.tenant + "/" + c.id
	}
	if got := (Key{0xab, 0xcd}).Prefix(KindDevice); got != "device:abcd000000000000" {
		t.Errorf("Prefix = %q", got)
	}
}
