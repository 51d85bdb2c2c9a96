package rights

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MigrateStats counts what Migrate did. Merged subjects changed the target
// (new, or stronger there after the merge); Unchanged ones were already as
// strong in the target.
type MigrateStats struct {
	Merged    int `json:"subjectsMerged"`
	Unchanged int `json:"subjectsUnchanged"`
	Links     int `json:"links"`
	Log       int `json:"logEntries"`
}

// migrateChunk is how many subjects or links one migration transaction
// carries.
const migrateChunk = 500

// Migrate merges an embedded registry into another registry (a fleet's
// PostgreSQL one), so that a single node can grow into a fleet. from must
// have been created with the key to was opened with (hashes cannot be
// re-keyed: the raw identifiers are not stored).
//
// It merges, it does not overwrite: the stronger suppression wins (with
// its origin), erasure times and consent keep the latest, links are a
// union, and every hot-set entry the merge affects is recomputed, so a
// registry that is already serving loses nothing and running instances
// apply the result through the change feed. Log entries are copied once
// (the position reached is kept in the target). Running it again changes
// nothing that is already merged.
func Migrate(ctx context.Context, from *BoltStore, to *Registry) (MigrateStats, error) {
	var st MigrateStats
	fp := to.keys.fingerprint()
	if err := from.checkBound(fp[:]); err != nil {
		return st, fmt.Errorf("cannot read the embedded registry: %w (it was created with another key)", err)
	}
	var (
		recs  []Record
		links []Link
	)
	err := from.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketSubjects).ForEach(func(k, v []byte) error {
			if len(k) == 2*KeySize {
				return nil // a reverse link (link format 2): links has it too
			}
			rec, err := DecodeRecord(Key(k), v)
			recs = append(recs, rec)
			return err
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
			if len(k) != 2*KeySize {
				return fmt.Errorf("cannot read links: %w", errBadRecord)
			}
			links = append(links, Link{Identity: Key(k[:KeySize]), Device: Key(k[KeySize:]), Seen: seenTime(v)})
			return nil
		})
	})
	if err != nil {
		return st, fmt.Errorf("cannot read the embedded registry: %w", err)
	}
	// Links first: a subject merged later then finds its devices, and
	// their hot entries are recomputed with it.
	for lo := 0; lo < len(links); lo += migrateChunk {
		chunk := links[lo:min(lo+migrateChunk, len(links))]
		n := 0
		err := to.write("", time.Time{}, ActorSystem, "migrate links", func(t *txn) error {
			n = 0
			for _, l := range chunk {
				added, err := t.mergeLink(l)
				if err != nil {
					return err
				}
				if added {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("cannot migrate links: %w", err)
		}
		st.Links += n
	}
	for lo := 0; lo < len(recs); lo += migrateChunk {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		chunk := recs[lo:min(lo+migrateChunk, len(recs))]
		merged := 0
		err := to.write("", time.Time{}, ActorSystem, "migrate subjects", func(t *txn) error {
			merged = 0
			for i := range chunk {
				changed, err := t.merge(&chunk[i])
				if err != nil {
					return err
				}
				if changed {
					merged++
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("cannot migrate subjects: %w", err)
		}
		st.Merged += merged
		st.Unchanged += len(chunk) - merged
	}
	n, err := migrateLog(ctx, from, to)
	st.Log = n
	return st, err
}

// migrateLog copies the log entries the target has not received yet.
func migrateLog(ctx context.Context, from *BoltStore, to *Registry) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := to.write("", time.Time{}, ActorSystem, "migrate the rights log", func(t *txn) error {
			n = 0
			mt, ok := t.tx.(metaTx)
			if !ok {
				return fmt.Errorf("cannot migrate the rights log: the target store keeps no migration position")
			}
			through, err := mt.Meta(metaMigratedLog)
			if err != nil {
				return err
			}
			var last uint64
			err = from.db.View(func(btx *bolt.Tx) error {
				c := btx.Bucket(bucketLog).Cursor()
				for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, through+1)); k != nil && n < migrateChunk; k, v = c.Next() {
					var e LogEntry
					if err := json.Unmarshal(v, &e); err != nil {
						return fmt.Errorf("cannot decode rights log entry: %w", err)
					}
					last = e.Seq
					if e.Detail == "" {
						e.Detail = "migrated from the embedded store"
					} else {
						e.Detail += "; migrated from the embedded store"
					}
					e.Seq = 0
					t.log = append(t.log, e)
					n++
				}
				return nil
			})
			if err != nil || n == 0 {
				return err
			}
			return mt.SetMeta(metaMigratedLog, last)
		})
		if err != nil {
			return total, fmt.Errorf("cannot migrate the rights log: %w", err)
		}
		total += n
		if n < migrateChunk {
			return total, nil
		}
	}
}

// metaTx is implemented by transactions of a store that keeps migration
// bookkeeping.
type metaTx interface {
	Meta(name string) (uint64, error)
	SetMeta(name string, v uint64) error
}

const metaMigratedLog = "migrated_log_through"

// merge folds src (a record of another registry) into the record of the
// same subject here and reports whether that changed anything.
func (t *txn) merge(src *Record) (bool, error) {
	rec, err := t.get(src.Key, src.Kind)
	if err != nil {
		return false, err
	}
	before := *rec
	// The target is newer: it was written after everything the source knows
	// of the subject (a migration run again after the fleet went on).
	newer := rec.Updated.After(src.Updated) || rec.ErasedAt.After(src.ErasedAt)
	// The target knows the source's erasure and lifted it since (an admin
	// unsuppress on the fleet): the source's erasure is stale.
	lifted := src.Reason.isErasure() && !rec.Reason.isErasure() && !rec.ErasedAt.IsZero() &&
		!src.ErasedAt.After(rec.ErasedAt) && rec.Updated.After(src.Updated)
	switch {
	case lifted:
	case src.Reason > rec.Reason:
		rec.Reason, rec.AllowSystem, rec.Since, rec.VendorAcked = src.Reason, src.AllowSystem, src.Since, src.VendorAcked
	case src.Reason == rec.Reason && src.Reason != ReasonNone:
		rec.AllowSystem = rec.AllowSystem && src.AllowSystem
		rec.VendorAcked = rec.VendorAcked && src.VendorAcked
		if src.Since.Before(rec.Since) {
			rec.Since = src.Since
		}
	}
	if src.ErasedAt.After(rec.ErasedAt) {
		rec.ErasedAt = src.ErasedAt
	}
	if src.HasSession && (!rec.HasSession || src.SessionAt.After(rec.SessionAt)) {
		rec.Session, rec.HasSession, rec.SessionAt = src.Session, true, src.SessionAt
		t.sessChanged = append(t.sessChanged, Link{Identity: src.Session, Device: src.Key})
	}
	for ch := range rec.Consent {
		if s := src.Consent[ch]; s.State != ConsentUnknown && s.At.After(rec.Consent[ch].At) {
			rec.Consent[ch] = s
		}
		if c := rec.Consent[ch]; c.State != ConsentUnknown && !c.At.After(rec.ErasedAt) {
			rec.Consent[ch] = ChannelConsent{} // an erasure forgets consent given before it
		}
	}
	if !newer {
		// Vendor states belong to one erasure: a newer target's (or none,
		// after an unsuppress) stand.
		rec.Vendors = mergeVendors(rec.Vendors, src.Vendors)
	}
	if sameRecord(rec, &before) {
		return false, nil
	}
	updated := maxTime(before.Updated, src.Updated)
	t.touch(rec)
	rec.Updated = updated
	if rec.Kind == KindIdentity && (rec.Reason != before.Reason || rec.AllowSystem != before.AllowSystem) {
		t.identities[rec.Key] = true
	}
	return true, nil
}

// mergeLink adds a link of another registry unless it is here already.
func (t *txn) mergeLink(l Link) (bool, error) {
	found := false
	err := t.eachLink(l.Identity, KindIdentity, func(dk Key, _ time.Time) error {
		found = found || dk == l.Device
		return nil
	})
	if err != nil || found {
		return false, err
	}
	t.addLink(l.Identity, l.Device)
	if !l.Seen.IsZero() {
		op := t.linkOps[linkOpKey(l.Identity, l.Device)]
		op.seen = l.Seen
		t.linkOps[linkOpKey(l.Identity, l.Device)] = op
	}
	// The device's flags depend on its session identity, which the link may
	// just have made reachable from that identity.
	t.hotCheck[l.Device] = true
	if _, err := t.get(l.Device, KindDevice); err != nil {
		return false, err
	}
	return true, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mergeVendors returns the vendor erasures of both, the newer state per
// vendor, sorted by vendor; have is not modified.
func mergeVendors(have, src []VendorErasure) []VendorErasure {
	if len(src) == 0 {
		return have
	}
	out := slices.Clone(have)
	for _, v := range src {
		i := slices.IndexFunc(out, func(o VendorErasure) bool { return o.Vendor == v.Vendor })
		switch {
		case i < 0:
			out = append(out, v)
		case v.At.After(out[i].At):
			out[i] = v
		}
	}
	slices.SortFunc(out, func(a, b VendorErasure) int { return strings.Compare(a.Vendor, b.Vendor) })
	return out
}

// sameRecord compares two records field by field.
func sameRecord(a, b *Record) bool {
	return a.Key == b.Key && a.Kind == b.Kind && a.Reason == b.Reason && a.AllowSystem == b.AllowSystem &&
		a.Since == b.Since && a.ErasedAt == b.ErasedAt && a.VendorAcked == b.VendorAcked &&
		a.Session == b.Session && a.HasSession == b.HasSession && a.SessionAt == b.SessionAt &&
		a.Consent == b.Consent && a.Updated == b.Updated && slices.Equal(a.Vendors, b.Vendors)
}
