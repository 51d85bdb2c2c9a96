package config

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Key sizes: HMAC-SHA-256 key and AES-SIV-512 key (two AES-256 halves).
const (
	HMACKeySize  = 32
	TokenKeySize = 64
)

// TenantKeys are a tenant's resolved secrets.
type TenantKeys struct {
	HMAC       []byte
	Token      []byte
	TokenKeyID string
	// Generated is true when the keys were created or read from the data
	// directory rather than configured.
	Generated bool
	Path      string
}

type keyFile struct {
	HMAC       string `json:"hmac"`
	Token      string `json:"token"`
	TokenKeyID string `json:"token_key_id"`
}

// ResolveKeys returns the tenant's configured keys; keys not configured are
// loaded from, or generated into, <dataDir>/keys/<tenant>.json (mode 0600)
// so that pseudonyms stay stable across restarts.
func ResolveKeys(dataDir, tenant string, k Keys) (*TenantKeys, error) {
	return resolveKeys(dataDir, tenant, k, true)
}

// LoadKeys is ResolveKeys for offline tools (explain, detokenize): keys that
// are not configured must already exist in the data directory; nothing is
// created.
func LoadKeys(dataDir, tenant string, k Keys) (*TenantKeys, error) {
	return resolveKeys(dataDir, tenant, k, false)
}

func resolveKeys(dataDir, tenant string, k Keys, create bool) (*TenantKeys, error) {
	hmacKey, err := k.HMAC.Resolve()
	if err != nil {
		return nil, fmt.Errorf("tenants.%s.keys.hmac: %w", tenant, err)
	}
	if k.Token.Encoding != "" {
		return nil, fmt.Errorf("tenants.%s.keys.token.encoding: the token key is always base64; remove encoding", tenant)
	}
	tokenKey, err := k.Token.Resolve()
	if err != nil {
		return nil, fmt.Errorf("tenants.%s.keys.token: %w", tenant, err)
	}
	out := &TenantKeys{HMAC: hmacKey, TokenKeyID: k.TokenKeyID}
	if len(tokenKey) > 0 {
		// Configured token keys are base64 (64 random bytes do not fit in YAML).
		if out.Token, err = base64.StdEncoding.DecodeString(string(tokenKey)); err != nil || len(out.Token) != TokenKeySize {
			return nil, fmt.Errorf("tenants.%s.keys.token: must be %d bytes, base64-encoded (openssl rand -base64 %d)", tenant, TokenKeySize, TokenKeySize)
		}
	}
	if out.HMAC != nil && len(out.HMAC) < HMACKeySize {
		return nil, fmt.Errorf("tenants.%s.keys.hmac: must be at least %d bytes", tenant, HMACKeySize)
	}
	if out.HMAC != nil && out.Token != nil {
		if out.TokenKeyID == "" {
			out.TokenKeyID = "k1"
		}
		return out, nil
	}
	if !create {
		path := filepath.Join(dataDir, "keys", tenant+".json")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no keys for tenant %q in %s (the proxy creates them on its first start with this data directory)", tenant, filepath.Join(dataDir, "keys"))
		}
	}
	stored, path, err := loadOrCreate(dataDir, tenant)
	if err != nil {
		return nil, err
	}
	out.Generated, out.Path = true, path
	if out.HMAC == nil {
		out.HMAC = stored.HMAC
	}
	if out.Token == nil {
		out.Token = stored.Token
		if out.TokenKeyID == "" {
			out.TokenKeyID = stored.TokenKeyID
		}
	}
	if out.TokenKeyID == "" {
		out.TokenKeyID = "k1"
	}
	return out, nil
}

func loadOrCreate(dataDir, tenant string) (*TenantKeys, string, error) {
	dir := filepath.Join(dataDir, "keys")
	path := filepath.Join(dir, tenant+".json")
	b, err := os.ReadFile(path)
	if err == nil {
		var kf keyFile
		if err := json.Unmarshal(b, &kf); err != nil {
			return nil, path, fmt.Errorf("cannot parse key file %s: %w", path, err)
		}
		h, err1 := base64.StdEncoding.DecodeString(kf.HMAC)
		t, err2 := base64.StdEncoding.DecodeString(kf.Token)
		if err1 != nil || err2 != nil || len(h) < HMACKeySize || len(t) != TokenKeySize {
			return nil, path, fmt.Errorf("key file %s is damaged; restore it from backup (deleting it changes every pseudonym)", path)
		}
		return &TenantKeys{HMAC: h, Token: t, TokenKeyID: kf.TokenKeyID}, path, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, path, fmt.Errorf("cannot read key file: %w", err)
	}
	k := &TenantKeys{HMAC: make([]byte, HMACKeySize), Token: make([]byte, TokenKeySize), TokenKeyID: "k1"}
	if _, err := rand.Read(k.HMAC); err != nil {
		return nil, path, err
	}
	if _, err := rand.Read(k.Token); err != nil {
		return nil, path, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, path, fmt.Errorf("cannot create key directory (check --data): %w", err)
	}
	b, _ = json.Marshal(keyFile{HMAC: base64.StdEncoding.EncodeToString(k.HMAC), Token: base64.StdEncoding.EncodeToString(k.Token), TokenKeyID: k.TokenKeyID})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, path, fmt.Errorf("cannot write key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, path, fmt.Errorf("cannot write key file: %w", err)
	}
	return k, path, nil
}

// RegistryKey returns the rights registry key: configured, or read from (or
// generated into) <dataDir>/keys/rights.key.
func RegistryKey(dataDir string, s Secret) ([]byte, error) {
	k, err := s.Resolve()
	if err != nil {
		return nil, fmt.Errorf("rights.key: %w", err)
	}
	if k != nil {
		if len(k) < 16 {
			return nil, errors.New("rights.key: must be at least 16 bytes")
		}
		return k, nil
	}
	path := filepath.Join(dataDir, "keys", "rights.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("key file %s is damaged; restore it from backup (the registry cannot be read without it)", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot read the rights key: %w", err)
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create key directory (check --data): %w", err)
	}
	if err := os.WriteFile(path+".tmp", []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
		return nil, fmt.Errorf("cannot write the rights key: %w", err)
	}
	return k, os.Rename(path+".tmp", path)
}

// CheckTokenKeys refuses tenants that share a token key. A token names its
// key id, not its tenant, so with one key two tenants would open each
// other's tokens (an access request of one would reveal the other's
// values). Generated keys differ; a key configured twice, or a key file
// copied to another tenant, is an error naming both tenants.
func CheckTokenKeys(keys map[string]*TenantKeys) error {
	names := make([]string, 0, len(keys))
	for name := range keys {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for i, a := range names {
		for _, b := range names[i+1:] {
			ka, kb := keys[a], keys[b]
			if ka == nil || kb == nil || len(ka.Token) == 0 {
				continue
			}
			if subtle.ConstantTimeCompare(ka.Token, kb.Token) == 1 {
				errs = append(errs, fmt.Errorf("tenants.%s.keys.token and tenants.%s.keys.token: the same token key; give each tenant its own (openssl rand -base64 %d), or the tenants open each other's tokens", a, b, TokenKeySize))
			}
		}
	}
	return errors.Join(errs...)
}
