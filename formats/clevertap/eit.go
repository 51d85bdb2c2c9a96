package clevertap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/consentry/consentry/formats"
)

// Envelope is an Encryption-in-Transit body: AES-256-GCM with a session key
// that travels in the envelope itself (clevertap-wire.md §5).
type Envelope struct {
	key []byte
}

// IsEnvelope reports whether body looks like an EIT envelope rather than a
// plain batch.
func IsEnvelope(body []byte) bool {
	r := gjson.Parse(formats.B2S(body))
	return r.IsObject() && r.Get("itp").Exists()
}

// OpenEnvelope decrypts an EIT body and returns the plaintext batch and the
// envelope to seal the cleaned batch with.
func OpenEnvelope(body []byte) ([]byte, *Envelope, error) {
	if !gjson.ValidBytes(body) {
		return nil, nil, formats.Errorf(400, "malformed_json", "encrypted envelope is not valid JSON")
	}
	r := gjson.ParseBytes(body)
	var fields [3][]byte
	for i, k := range [...]string{"itp", "itk", "itv"} {
		v := r.Get(k)
		if v.Type != gjson.String {
			return nil, nil, formats.Errorf(400, "invalid_envelope", "encrypted envelope lacks %q", k)
		}
		b, err := base64.StdEncoding.DecodeString(v.Str)
		if err != nil {
			return nil, nil, formats.Errorf(400, "invalid_envelope", "encrypted envelope field %q is not base64", k)
		}
		fields[i] = b
	}
	// Only the three keys are known: anything else would pass uninspected.
	unknown := false
	r.ForEach(func(k, _ gjson.Result) bool {
		if s := k.Str; s != "itp" && s != "itk" && s != "itv" {
			unknown = true
		}
		return !unknown
	})
	if unknown {
		return nil, nil, formats.Errorf(400, "invalid_envelope", "encrypted envelope has keys other than itp, itk, itv")
	}
	ct, key, iv := fields[0], fields[1], fields[2]
	if len(key) != 32 || len(iv) != 12 {
		return nil, nil, formats.Errorf(400, "invalid_envelope", "encrypted envelope needs a 256-bit key and a 96-bit IV")
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, nil, err
	}
	plain, err := aead.Open(nil, iv, ct, nil)
	if err != nil {
		return nil, nil, formats.Errorf(400, "invalid_envelope", "encrypted envelope does not decrypt (wrong key, IV or tag)")
	}
	return plain, &Envelope{key: key}, nil
}

// Seal encrypts plain with the envelope's session key and a fresh IV and
// returns the envelope JSON. A fresh IV is required: GCM must never reuse
// (key, IV) for different plaintexts.
func (e *Envelope) Seal(plain []byte) ([]byte, error) {
	aead, err := newGCM(e.key)
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("cannot draw an IV: %w", err)
	}
	ct := aead.Seal(nil, iv, plain, nil)
	out, err := sjson.SetBytes([]byte(`{}`), "itp", base64.StdEncoding.EncodeToString(ct))
	if err == nil {
		out, err = sjson.SetBytes(out, "itk", base64.StdEncoding.EncodeToString(e.key))
	}
	if err == nil {
		out, err = sjson.SetBytes(out, "itv", base64.StdEncoding.EncodeToString(iv))
	}
	return out, err
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("cannot use the envelope key")
	}
	return cipher.NewGCM(block)
}
