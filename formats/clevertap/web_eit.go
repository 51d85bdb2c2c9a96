package clevertap

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// ---------------------------------------------------------------------------
// Encryption in transit (web: only d is encrypted, clevertap-wire.md §5)

type webEIT struct {
	key   []byte
	idTok []byte // the envelope's id as a JSON token
	idStr string
}

// openWebEIT recognises an EIT envelope in the decoded d and returns the
// plaintext (itself LZ-String Base64). ok=false: d is not an envelope.
func openWebEIT(d []byte) (e *webEIT, plain []byte, ok bool, err error) {
	if !gjson.GetBytes(d, "itp").Exists() {
		return nil, nil, false, nil
	}
	var itp, itk, itv []byte
	var idTok []byte
	encrypted := false
	err = masking.EachMember(d, func(key []byte, s, en int, t masking.ValueType) error {
		v := d[s:en]
		switch string(key) {
		case "itp", "itk", "itv":
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_envelope", "encrypted d field %q is not a string", key)
			}
			b, err := base64.StdEncoding.AppendDecode(nil, v[1:len(v)-1])
			if err != nil {
				return formats.Errorf(400, "invalid_envelope", "encrypted d field %q is not base64", key)
			}
			switch key[2] {
			case 'p':
				itp = b
			case 'k':
				itk = b
			default:
				itv = b
			}
		case "id":
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_envelope", "encrypted d has a non-string id")
			}
			idTok = v
		case "encrypted":
			encrypted = string(v) == "true"
		default:
			return formats.Errorf(400, "invalid_envelope", "encrypted d has keys other than itp, itk, itv, id, encrypted")
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	if !encrypted || itp == nil || len(itk) != 32 || len(itv) != 12 || idTok == nil {
		return nil, nil, false, formats.Errorf(400, "invalid_envelope", "encrypted d needs itp, a 256-bit itk, a 96-bit itv, id and encrypted:true")
	}
	aead, err := newGCM(itk)
	if err != nil {
		return nil, nil, false, err
	}
	plain, err = aead.Open(nil, itv, itp, nil)
	if err != nil {
		return nil, nil, false, formats.Errorf(400, "invalid_envelope", "encrypted d does not decrypt (wrong key, IV or tag)")
	}
	idStr, _ := masking.AppendUnquote(nil, idTok)
	return &webEIT{key: itk, idTok: idTok, idStr: string(idStr)}, plain, true, nil
}

// seal encrypts plain with the envelope's key and a fresh IV and appends the
// envelope JSON, keys in the SDK's order.
func (e *webEIT) seal(dst, plain []byte) ([]byte, error) {
	aead, err := newGCM(e.key)
	if err != nil {
		return dst, err
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return dst, fmt.Errorf("cannot draw an IV: %w", err)
	}
	ct := aead.Seal(nil, iv, plain, nil)
	dst = append(dst, `{"itp":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, ct)
	dst = append(dst, `","itk":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.key)
	dst = append(dst, `","itv":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, iv)
	dst = append(dst, `","id":`...)
	dst = append(dst, e.idTok...)
	return append(dst, `,"encrypted":true}`...), nil
}
