package rights

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func sampleRecords() []Record {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	full := Record{
		Key: Key{1}, Kind: KindDevice, Reason: ReasonErasure, AllowSystem: true,
		Since: at, ErasedAt: at.Add(time.Hour), Session: Key{9, 8, 7}, HasSession: true,
		SessionAt: at.Add(2 * time.Hour), Updated: at.Add(3 * time.Hour),
	}
	full.Consent[ChannelPush] = ChannelConsent{State: ConsentGranted, At: at}
	full.Consent[ChannelDNDEmail] = ChannelConsent{State: ConsentRevoked, At: at.Add(time.Minute)}
	erased := Record{Key: Key{4}, Kind: KindIdentity, Reason: ReasonAdminErasure, Since: at, ErasedAt: at, Updated: at,
		Vendors: []VendorErasure{
			{Vendor: "mixpanel", State: VendorAccepted, HTTPStatus: 200, Job: "task-1", At: at},
			{Vendor: "segment", State: VendorFailed, HTTPStatus: 503, Reason: "HTTP 503", At: at.Add(time.Second)},
			{Vendor: "posthog", State: VendorRequested},
		}}
	claimed := erased
	claimed.Key = Key{5}
	claimed.Vendors = []VendorErasure{
		{Vendor: "amplitude", State: VendorRequested, At: at, Owner: "i-0a1b2c3d", Until: at.Add(40 * time.Second)},
		{Vendor: "segment", State: VendorAccepted, HTTPStatus: 200, Job: "reg-1", At: at},
	}
	unknown := erased
	unknown.Key = Key{6}
	unknown.Vendors = []VendorErasure{{Vendor: "posthog", State: VendorAccepted, HTTPStatus: 202, Reason: "unknown id", At: at, UnknownID: true}}
	return []Record{
		{Key: Key{2}, Kind: KindIdentity},
		{Key: Key{3}, Kind: KindIdentity, Reason: ReasonOptOut, Since: at},
		full,
		erased,
		claimed,
		unknown,
	}
}

// A record is written as version 3 only while a vendor call is claimed or
// a vendor did not know the id, so that a binary that knows version 2
// reads every other record.
func TestRecordVersionFollowsClaims(t *testing.T) {
	t.Parallel()
	for i, want := range []byte{1, 1, 1, 2, 3, 3} {
		if got := EncodeRecord(&sampleRecords()[i])[0]; got != want {
			t.Errorf("record %d: version %d, want %d", i, got, want)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, rec := range sampleRecords() {
		enc := EncodeRecord(&rec)
		got, err := DecodeRecord(rec.Key, enc)
		if err != nil {
			t.Fatalf("DecodeRecord(%x): %v", enc, err)
		}
		if !sameRecord(&got, &rec) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
		}
	}
}

func TestDecodeRecordRejectsMalformed(t *testing.T) {
	t.Parallel()
	good := EncodeRecord(&sampleRecords()[2])
	tests := map[string][]byte{
		"empty":         nil,
		"short":         good[:10],
		"version":       append([]byte{9}, good[1:]...),
		"kind":          append([]byte{1, 'x'}, good[2:]...),
		"reason":        append([]byte{1, 'd', 7}, good[3:]...),
		"trailing":      append(append([]byte(nil), good...), 0),
		"truncated":     good[:len(good)-1],
		"unknown flags": append([]byte{1, 'd', 1, 0x80}, good[4:]...),
	}
	v2 := EncodeRecord(&sampleRecords()[3])
	tests["v2 truncated"] = v2[:len(v2)-1]
	tests["v2 no vendors"] = append(append([]byte(nil), v2[:recordFixedSize+1]...), 0)
	tests["v2 trailing"] = append(append([]byte(nil), v2...), 0)
	tests["v1 with vendors"] = append([]byte{1}, v2[1:]...)
	for name, in := range tests {
		if _, err := DecodeRecord(Key{}, in); !errors.Is(err, errBadRecord) {
			t.Errorf("%s: err = %v, want errBadRecord", name, err)
		}
	}
}

// FuzzDecodeRecord: decoding never panics, and whatever decodes re-encodes
// to the same bytes (so a stored record cannot change meaning on rewrite).
func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(EncodeRecord(&rec))
	}
	f.Add([]byte{1, 'i', 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		rec, err := DecodeRecord(Key{}, in)
		if err != nil {
			return
		}
		if out := EncodeRecord(&rec); !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
		}
	})
}

func TestParseChannel(t *testing.T) {
	t.Parallel()
	for ch := range NumChannels {
		got, ok := ParseChannel(ch.String())
		if !ok || got != ch {
			t.Errorf("ParseChannel(%q) = %v, %v", ch.String(), got, ok)
		}
	}
	if _, ok := ParseChannel("fax"); ok {
		t.Error("ParseChannel(fax) ok")
	}
}

func TestValidateIdentifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{"alice@example.com", true},
		{"__g0123456789abcdef", true},
		{"Jürgen", true},
		{"", false},
		{strings.Repeat("x", MaxIdentifierLen+1), false},
		{"bad\xff", false},
		{"tab\tid", false},
	}
	for _, tt := range tests {
		err := ValidateIdentifier([]byte(tt.id))
		if (err == nil) != tt.ok {
			t.Errorf("ValidateIdentifier(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalidSubject) || (tt.id != "" && strings.Contains(err.Error(), tt.id))) {
			t.Errorf("ValidateIdentifier(%q) error %q: must wrap ErrInvalidSubject and not quote the value", tt.id, err)
		}
	}
}

// A store written with the format-1 hot-set layout (two bits per reason)
// is converted when opened: nothing suppressed becomes clear.
func TestBoltMigratesHotFormat1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := openTest(t, dir)
	a, dev := r.Ref(tenant, b("A"), nil), r.Ref(tenant, nil, b("a1"))
	if err := r.Link(r.Ref(tenant, b("A"), b("a1"))); err != nil {
		t.Fatal(err)
	}
	if err := r.OptOut(a, true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// Rewrite the hot set as format 1 and drop the format mark.
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Delete(metaHotFormat); err != nil {
			return err
		}
		hot := tx.Bucket(bucketHot)
		return hot.ForEach(func(k, v []byte) error {
			f := Flags(v[0])
			d, da := f.direct()
			vr, va := f.via()
			old := byte(d&3) | byte(vr&3)<<3
			if da {
				old |= 1 << 2
			}
			if va {
				old |= 1 << 5
			}
			return hot.Put(k, []byte{old})
		})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r2 := openTest(t, dir)
	want := Verdict{Status: StatusSuppressed, Reason: ReasonOptOut, AllowSystem: true}
	if v := r2.CheckRef(a); v != want {
		t.Errorf("identity after migration: %+v, want %+v", v, want)
	}
	if v := r2.CheckRef(dev); v != want {
		t.Errorf("device (via identity) after migration: %+v, want %+v", v, want)
	}
}
