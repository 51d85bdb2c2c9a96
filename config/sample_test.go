package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deploySecrets are the environment variables the shipped configurations
// (deploy/) take their secrets from, with values of valid sizes.
var deploySecrets = map[string]string{
	"CONSENTRY_RIGHTS_KEY": strings.Repeat("r", 32),
	"CONSENTRY_PG_DSN":     "postgres://consentry:secret@postgres:5432/consentry",
	"CONSENTRY_DPO_TOKEN":  strings.Repeat("d", 24),
	"ACME_HMAC_KEY":        strings.Repeat("h", 32),
	"ACME_TOKEN_KEY":       base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, TokenKeySize)),
}

// The sample configuration, the ConfigMaps of the Kubernetes manifests and
// the Helm chart's renderings (deploy/testdata, kept current by the deploy
// module's tests) are valid configurations whose secrets all resolve.
func TestShippedConfigsAreValid(t *testing.T) {
	for k, v := range deploySecrets {
		t.Setenv(k, v)
	}
	configs := map[string][]byte{}
	b, err := os.ReadFile("../deploy/consentry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configs["deploy/consentry.yaml"] = b
	manifests, _ := filepath.Glob("../deploy/kubernetes/*.yaml")
	rendered, _ := filepath.Glob("../deploy/testdata/helm-*.yaml")
	if len(manifests) == 0 || len(rendered) == 0 {
		t.Fatalf("no manifests (%d) or chart renderings (%d)", len(manifests), len(rendered))
	}
	for _, path := range append(manifests, rendered...) {
		for name, cfg := range configMapConfigs(t, path) {
			configs[name] = cfg
		}
	}
	for name, data := range configs {
		t.Run(name, func(t *testing.T) {
			c, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(c.Tenants) == 0 {
				t.Fatal("no tenant")
			}
			for tn, tc := range c.Tenants {
				if _, err := LoadKeys(t.TempDir(), tn, tc.Keys); err != nil {
					t.Errorf("tenant %s: %v", tn, err)
				}
			}
			if c.Rights.Key.isSet() {
				if k, err := c.Rights.Key.Resolve(); err != nil || len(k) < 16 {
					t.Errorf("rights.key: %v", err)
				}
			}
			if pg := c.Rights.Postgres; pg != nil {
				if _, err := pg.DSN.Resolve(); err != nil {
					t.Errorf("rights.postgres.dsn: %v", err)
				}
			}
			for i, tok := range c.AdminTokens {
				if _, err := tok.Resolve(); err != nil {
					t.Errorf("admin_tokens[%d]: %v", i, err)
				}
			}
		})
	}
}

// configMapConfigs returns the consentry.yaml of every ConfigMap in a
// multi-document manifest.
func configMapConfigs(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	dec := yaml.NewDecoder(f)
	for i := 0; ; i++ {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if doc.Kind == "ConfigMap" && doc.Data["consentry.yaml"] != "" {
			out["deploy/"+strings.TrimPrefix(path, "../deploy/")+"#"+doc.Metadata.Name] = []byte(doc.Data["consentry.yaml"])
		}
	}
	if len(out) == 0 {
		t.Errorf("%s: no ConfigMap with consentry.yaml", path)
	}
	return out
}
