package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ManifestEntry describes one dumped request; File is relative to the dump
// directory.
type ManifestEntry struct {
	Request
	File string `json:"file"`
}

// Manifest is written as manifest.json next to the bodies.
type Manifest struct {
	Seed     int64           `json:"seed"`
	Epoch    int64           `json:"epoch"`
	Variants int             `json:"variants"`
	Requests []ManifestEntry `json:"requests"`
}

// Dump writes every request of the given kinds to dir as
// <kind>-<nn>.json (the body, byte-exact) plus manifest.json with method,
// path, headers and record counts.
func Dump(dir string, kinds []Kind, opts Options) error {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create corpus directory: %w", err)
	}
	m := Manifest{Seed: opts.Seed, Epoch: opts.Now.Unix(), Variants: opts.Variants}
	for _, k := range kinds {
		reqs, err := Generate(k, opts)
		if err != nil {
			return err
		}
		for i, r := range reqs {
			name := fmt.Sprintf("%s-%02d.json", k, i)
			if err := os.WriteFile(filepath.Join(dir, name), r.Body, 0o644); err != nil {
				return fmt.Errorf("cannot write corpus file %s: %w", name, err)
			}
			m.Requests = append(m.Requests, ManifestEntry{Request: r, File: name})
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode corpus manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write corpus manifest: %w", err)
	}
	return nil
}
