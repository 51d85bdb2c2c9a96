package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/consentry/consentry/bench/internal/grow"
	"github.com/consentry/consentry/bench/internal/report"
)

// defaultPopulation is what typical requests draw members from when the
// registry starts empty (-registry-size 0): the devices are then unknown.
const defaultPopulation = 1_000_000

// prepareData writes Consentry's data directory: the fixed keys, and with
// -registry-size > 0 a registry of that many members, grown once per size
// and seed into the cache and copied for this run (Consentry writes it).
func (h *harness) prepareData() error {
	h.dataDir = filepath.Join(h.tmp, "consentry-data")
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		return err
	}
	n := h.cfg.registrySize
	if n == 0 {
		return grow.WriteKeys(h.dataDir)
	}
	cache := h.cfg.regCache
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		cache = filepath.Join(dir, "consentry-bench")
	}
	h.logf("rights registry: %d members (seed %d), cache %s", n, h.cfg.seed, cache)
	st, err := grow.Cached(cache, h.dataDir, n, h.cfg.seed)
	if err != nil {
		return fmt.Errorf("cannot pre-grow the rights registry: %w", err)
	}
	h.logf("rights registry ready: %d members, %.0f MB, grown in %s%s", st.Members, float64(st.Bytes)/1e6, st.Took.Round(1e8),
		map[bool]string{true: " (cached)", false: ""}[st.Cached])
	h.run.Registry = &report.Registry{
		Members: st.Members, OptOuts: st.OptOuts, HotSet: st.HotSet, Bytes: st.Bytes, Seed: st.Seed,
		GrowSeconds: st.Took.Seconds(), Cached: st.Cached, Population: h.population, Session: h.cfg.session,
	}
	return nil
}
