package rights

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
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
	return []Record{
		{Key: Key{2}, Kind: KindIdentity},
		{Key: Key{3}, Kind: KindIdentity, Reason: ReasonOptOut, Since: at},
		full,
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
		if got != rec {
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

func TestParseMarketingKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		value bool
		ch    Channel
		c     Consent
		ok    bool
	}{
		{"MSG-push", true, ChannelPush, ConsentGranted, true},
		{"MSG-push-all", false, ChannelPushAll, ConsentRevoked, true},
		{"MSG-email", false, ChannelEmail, ConsentRevoked, true},
		{"MSG-sms", true, ChannelSMS, ConsentGranted, true},
		{"MSG-whatsapp", true, ChannelWhatsApp, ConsentGranted, true},
		{"MSG-dndPhone", true, ChannelDNDPhone, ConsentRevoked, true},
		{"MSG-dndEmail", false, ChannelDNDEmail, ConsentGranted, true},
		{"MSG-Email", true, 0, ConsentUnknown, false},
		{"Email", true, 0, ConsentUnknown, false},
	}
	for _, tt := range tests {
		ch, c, ok := ParseMarketingKey([]byte(tt.key), tt.value)
		if ch != tt.ch || c != tt.c || ok != tt.ok {
			t.Errorf("ParseMarketingKey(%q, %v) = %v, %v, %v; want %v, %v, %v", tt.key, tt.value, ch, c, ok, tt.ch, tt.c, tt.ok)
		}
	}
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
