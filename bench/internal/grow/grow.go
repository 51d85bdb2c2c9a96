// Package grow builds a Consentry data directory whose rights registry
// already holds a realistic population, so that a benchmark measures the
// costs that grow with the store (bbolt depth, page cache misses, refresh
// writes of returning devices), which a few seconds on an empty registry
// never show.
//
// Member m of the population is the device corpus.MemberDevice(seed, m)
// logged in as corpus.MemberIdentity(m): one subject record per device
// (its session identity) and one link in each direction, last seen 1 to 30
// days before the growth, as a live app's returning users are. One member
// in OptOutEvery has opted out (identity suppressed, in the hot set). The
// keys are fixed (RegistryKey, TenantKeys) and written into the data
// directory, so Consentry started on it with --data computes the same keyed
// hashes from traffic and a typical request from member m hits member m's
// link.
//
// Records and links are written through the rights package's public store
// API (OpenBolt, Update, Apply) in large transactions: growing a million
// members through traffic (group commit, 256 links per fsync) takes minutes,
// this takes seconds. The opt-outs go through Registry.OptOut so that their
// hot-set entries and rights log are exactly what traffic would write.
// Finally the file is compacted (bbolt.Compact, as `bbolt compact` does):
// the bulk load leaves ~15 % of the pages on bbolt's freelist, which every
// commit then sorts and writes; a compacted store starts with the freelist
// its own traffic makes, so the store costs a run shows are not an
// artifact of how it was grown.
package grow

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/consentry/consentry/rights"
)

// Tenant is the tenant a single-tenant Consentry serves.
const Tenant = "default"

// OptOutEvery: one member in this many has opted out.
const OptOutEvery = 100

// Version changes when the layout of a grown directory changes, so that a
// cached directory of an older layout is not reused. 3: rights link format
// 2 (reverse links in subjects); an older directory would be migrated at
// every start and measured in another shape.
const Version = 3

// batch is the members written per store transaction.
const batch = 50_000

func fixed(label string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		s := sha256.Sum256(fmt.Appendf(nil, "consentry-bench %s %d", label, i))
		out = append(out, s[:]...)
	}
	return out[:n]
}

// RegistryKey is the rights registry key of every grown directory.
func RegistryKey() []byte { return fixed("rights key", 32) }

// Stats describes a grown directory.
type Stats struct {
	Members  int           `json:"members"`
	OptOuts  int           `json:"opt_outs"`
	HotSet   int           `json:"hot_set"`
	Bytes    int64         `json:"bytes"`
	Took     time.Duration `json:"took_ns"`
	Seed     int64         `json:"seed"`
	Version  int           `json:"version"`
	Cached   bool          `json:"-"`
	Location string        `json:"-"`
}

// WriteKeys writes the fixed registry and tenant keys into dir/keys the way
// Consentry stores generated ones.
func WriteKeys(dir string) error {
	kd := filepath.Join(dir, "keys")
	if err := os.MkdirAll(kd, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(kd, "rights.key"), []byte(base64.StdEncoding.EncodeToString(RegistryKey())), 0o600); err != nil {
		return err
	}
	kf, _ := json.Marshal(map[string]string{
		"hmac":         base64.StdEncoding.EncodeToString(fixed("tenant hmac", 32)),
		"token":        base64.StdEncoding.EncodeToString(fixed("tenant token", 64)),
		"token_key_id": "k1",
	})
	return os.WriteFile(filepath.Join(kd, Tenant+".json"), kf, 0o600)
}

// Grow writes a data directory of n members into dir (created; must not
// hold a registry yet).
func Grow(dir string, n int, seed int64) (Stats, error) {
	start := time.Now()
	st := Stats{Members: n, Seed: seed, Version: Version}
	if n < 0 {
		return st, errors.New("cannot grow a registry of negative size")
	}
	if err := WriteKeys(dir); err != nil {
		return st, fmt.Errorf("cannot write the bench keys: %w", err)
	}
	// Open once to bind the key and to hash the members' ids.
	reg, err := rights.Open(dir, RegistryKey())
	if err != nil {
		return st, err
	}
	devs := make([]rights.Key, n)
	ids := make([]rights.Key, n)
	for m := range n {
		devs[m] = reg.Key(Tenant, rights.KindDevice, []byte(corpus.MemberDevice(seed, uint64(m))))
		ids[m] = reg.Key(Tenant, rights.KindIdentity, []byte(corpus.MemberIdentity(uint64(m))))
	}
	if err := reg.Close(); err != nil {
		return st, err
	}
	if err := writeMembers(dir, devs, ids, seed, start); err != nil {
		return st, err
	}
	// Opt-outs through the registry, concurrently (group commit).
	reg, err = rights.Open(dir, RegistryKey())
	if err != nil {
		return st, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for m := w * OptOutEvery; m < n; m += 64 * OptOutEvery {
				ref := rights.Ref{Tenant: Tenant, Identity: ids[m], HasIdentity: true, Device: devs[m], HasDevice: true}
				if err := reg.OptOut(ref, false, start); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		reg.Close()
		return st, fmt.Errorf("cannot record the opt-outs: %w", err)
	}
	st.OptOuts = (n + OptOutEvery - 1) / OptOutEvery
	st.HotSet = reg.Len()
	if err := reg.Close(); err != nil {
		return st, err
	}
	if err := rights.CompactBolt(dir); err != nil {
		return st, fmt.Errorf("cannot compact the grown store: %w", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, rights.DBFile)); err == nil {
		st.Bytes = fi.Size()
	}
	st.Took = time.Since(start)
	return st, nil
}

// writeMembers writes every member's device record and link, in key order
// within each transaction (bbolt appends cheaply in order).
func writeMembers(dir string, devs, ids []rights.Key, seed int64, now time.Time) error {
	store, err := rights.OpenBolt(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x67726f77))
	order := make([]int, len(devs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(devs[a][:], devs[b][:]) })
	for lo := 0; lo < len(order); lo += batch {
		part := order[lo:min(lo+batch, len(order))]
		c := &rights.Change{Records: make([]rights.Record, 0, len(part)), Links: make([]rights.Link, 0, len(part))}
		for _, m := range part {
			// Last seen 1–30 days ago: a returning device's first request
			// of the day refreshes its link, as it does in production.
			seen := now.Add(-time.Duration(24+rng.IntN(29*24)) * time.Hour).UTC()
			c.Records = append(c.Records, rights.Record{
				Key: devs[m], Kind: rights.KindDevice,
				Session: ids[m], HasSession: true, SessionAt: seen, Updated: seen,
			})
			c.Links = append(c.Links, rights.Link{Identity: ids[m], Device: devs[m], Seen: seen})
		}
		if err := store.Update(func(tx rights.StoreTx) error { return tx.Apply(c) }); err != nil {
			return fmt.Errorf("cannot write members: %w", err)
		}
	}
	return nil
}

// Cached returns a data directory of n members for seed under cacheDir,
// growing it on first use (keyed by size, seed and Version), and copies it
// into dst, which the contender may then write.
func Cached(cacheDir, dst string, n int, seed int64) (Stats, error) {
	src := filepath.Join(cacheDir, fmt.Sprintf("registry-v%d-n%d-s%d", Version, n, seed))
	var st Stats
	b, err := os.ReadFile(filepath.Join(src, "grown.json"))
	if err == nil && json.Unmarshal(b, &st) == nil {
		st.Cached = true
	} else {
		tmp := src + fmt.Sprintf(".tmp%d", os.Getpid())
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return st, fmt.Errorf("cannot create the registry cache (set -registry-cache): %w", err)
		}
		if st, err = Grow(tmp, n, seed); err != nil {
			os.RemoveAll(tmp)
			return st, err
		}
		meta, _ := json.Marshal(st)
		if err := os.WriteFile(filepath.Join(tmp, "grown.json"), meta, 0o600); err != nil {
			return st, err
		}
		os.RemoveAll(src)
		if err := os.Rename(tmp, src); err != nil {
			return st, err
		}
	}
	st.Location = src
	return st, copyDir(src, dst)
}

// copyDir copies the files a data directory holds (rights.db, keys/).
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		if rel == "grown.json" {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}
