package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// encryptEnvelope builds an Encryption-in-Transit body as the Android SDK
// does: AES-256-GCM, key and IV in the envelope.
func encryptEnvelope(t *testing.T, plain []byte) ([]byte, []byte) {
	t.Helper()
	key := make([]byte, 32)
	iv := make([]byte, 12)
	rand.Read(key)
	rand.Read(iv)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	ct := aead.Seal(nil, iv, plain, nil)
	b, _ := json.Marshal(map[string]string{
		"itp": base64.StdEncoding.EncodeToString(ct),
		"itk": base64.StdEncoding.EncodeToString(key),
		"itv": base64.StdEncoding.EncodeToString(iv),
	})
	return b, key
}

func decryptEnvelope(t *testing.T, body, key []byte) []byte {
	t.Helper()
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("upstream body is not an envelope: %s", body)
	}
	ct, _ := base64.StdEncoding.DecodeString(env["itp"])
	iv, _ := base64.StdEncoding.DecodeString(env["itv"])
	k, _ := base64.StdEncoding.DecodeString(env["itk"])
	if string(k) != string(key) {
		t.Fatalf("session key changed")
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	plain, err := aead.Open(nil, iv, ct, nil)
	if err != nil {
		t.Fatalf("cannot decrypt what the upstream got: %v", err)
	}
	return plain
}
