package rights

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DBFile is the file name of the embedded store inside the data directory.
const DBFile = "rights.db"

var (
	bucketMeta = []byte("meta")
	// subjects: key → EncodeRecord, and device||identity → last seen (the
	// reverse links: they sort right after the device's record, so that a
	// new link's device record and reverse link dirty one leaf page, not
	// two in two B+trees).
	bucketSubjects = []byte("subjects")
	bucketHot      = []byte("hot")   // key → Flags (the hot set, loaded at start-up)
	bucketLinks    = []byte("links") // identity||device → last seen (unix nanos, big-endian)
	// rlinks held the reverse links before link format 2; OpenBolt moves
	// them into subjects and deletes it. Readers still read it (a store
	// opened read-only is not migrated).
	bucketRLinks   = []byte("rlinks")
	bucketLog      = []byte("log") // seq (big-endian) → JSON LogEntry
	metaKeyCheck   = []byte("keycheck")
	metaHotFormat  = []byte("hotformat")
	metaLinkFormat = []byte("linkformat")
	allBuckets     = [][]byte{bucketMeta, bucketSubjects, bucketHot, bucketLinks, bucketLog}
)

// linkFormat 2: the reverse links live in the subjects bucket.
const linkFormat = 2

// hotFormatLinks2 is written to metaHotFormat once the links are in link
// format 2. Binaries from before link format 2 refuse any hot format but
// theirs (2), and one of them opening a migrated store would find no
// reverse links (a device's identities unknown: its user's opt-out would
// not cover it), so the mark makes them refuse it. The hot set's layout is
// hotFormat's.
const hotFormatLinks2 = 3

// BoltStore is the embedded, durable Store: one bbolt file in a data
// directory. Every Update is one bbolt transaction, fsynced before it
// returns. The file holds keyed hashes and states only.
type BoltStore struct {
	db *bolt.DB
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens or creates dir/rights.db. It fails after one second if
// another process holds the file.
func OpenBolt(dir string) (*BoltStore, error) { return openBolt(dir, nil) }

// openBolt is OpenBolt with the bbolt options changed by tune (benchmarks).
func openBolt(dir string, tune func(*bolt.Options)) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create rights data directory: %w", err)
	}
	opts := &bolt.Options{
		Timeout:      time.Second,
		FreelistType: bolt.FreelistMapType,
		// The freelist is not written at every commit but rebuilt by
		// scanning the file at open (as etcd does). Over a 1M-member store
		// (221 MB) with the free pages a bulk load or the link sweep
		// leaves (17,650), a new link then costs 16 % fewer written bytes
		// (33.0 → 27.7 KB) and about as much less CPU; Open takes
		// 0.11-0.13 s longer (BenchmarkLearnNewLinksGrown1M,
		// BenchmarkOpenGrown1M). InitialMmapSize showed no gain there.
		NoFreelistSync: true,
	}
	if tune != nil {
		tune(opts)
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open rights store %s (is another consentry using the data directory?): %w", filepath.Join(dir, DBFile), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := migrateHotFormat(tx); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(metaLinkFormat); len(v) == 1 && v[0] > linkFormat {
			return fmt.Errorf("cannot read links: format %d is newer than this binary knows (%d); upgrade consentry", v[0], linkFormat)
		}
		return stampLinks(tx, time.Now())
	})
	if err == nil {
		err = migrateRLinks(db, rlinksChunk)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot initialise rights store: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// rlinksChunk is how many reverse links one migration transaction moves.
const rlinksChunk = 50_000

// migrateRLinks moves the reverse links of a store written before link
// format 2 from the rlinks bucket into subjects, at most chunk per
// transaction (each moves its links atomically, so a crash leaves every
// link in exactly one place, and the next open goes on), then deletes
// rlinks. The format marks are written by the first transaction.
func migrateRLinks(db *bolt.DB, chunk int) error {
	current := false
	err := db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		v, h := m.Get(metaLinkFormat), m.Get(metaHotFormat)
		current = tx.Bucket(bucketRLinks) == nil && len(v) == 1 && v[0] == linkFormat && len(h) == 1 && h[0] == hotFormatLinks2
		return nil
	})
	if err != nil || current {
		return err
	}
	for {
		done := false
		err := db.Update(func(tx *bolt.Tx) error {
			// The marks go first, with the first links moved: a binary
			// from before link format 2 must refuse a store whose
			// migration a crash cut short too (it reads rlinks only).
			m := tx.Bucket(bucketMeta)
			if err := m.Put(metaHotFormat, []byte{hotFormatLinks2}); err != nil {
				return err
			}
			if err := m.Put(metaLinkFormat, []byte{linkFormat}); err != nil {
				return err
			}
			old := tx.Bucket(bucketRLinks)
			if old == nil {
				done = true
				return nil
			}
			// Read the chunk first: deleting under a cursor leaves empty
			// nodes it walks again and again until the commit rebalances.
			var keys, vals [][]byte
			c := old.Cursor()
			for k, v := c.First(); k != nil && len(keys) < chunk; k, v = c.Next() {
				if len(k) != 2*KeySize { // the value is copied as is: seenTime reads any
					return fmt.Errorf("cannot migrate links: %w (bad entry)", errBadRecord)
				}
				keys, vals = append(keys, k), append(vals, v)
			}
			if len(keys) == 0 {
				return tx.DeleteBucket(bucketRLinks)
			}
			subj := tx.Bucket(bucketSubjects)
			for i, k := range keys {
				// Copies: k and v point into pages the writes below may
				// free.
				if err := subj.Put(bytes.Clone(k), bytes.Clone(vals[i])); err != nil {
					return err
				}
			}
			for _, k := range keys {
				if err := old.Delete(bytes.Clone(k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// migrateHotFormat rewrites a hot set persisted in an older Flags layout.
// A store without a format mark was written by format 1 (or is new).
func migrateHotFormat(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	if v := m.Get(metaHotFormat); len(v) == 1 {
		if v[0] != hotFormat && v[0] != hotFormatLinks2 {
			return fmt.Errorf("cannot read hot set: format %d is newer than this binary knows (%d); upgrade consentry", v[0], hotFormat)
		}
		return nil
	}
	hot := tx.Bucket(bucketHot)
	type entry struct{ k, v []byte }
	var conv []entry
	err := hot.ForEach(func(k, v []byte) error {
		if len(v) != 1 {
			return fmt.Errorf("cannot migrate hot set: %w (bad entry)", errBadRecord)
		}
		conv = append(conv, entry{append([]byte(nil), k...), []byte{byte(flagsFromFormat1(v[0]))}})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range conv {
		if err := hot.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return m.Put(metaHotFormat, []byte{hotFormat})
}

// stampLinks gives links written before links carried a last-seen time the
// time of the upgrade, so that they expire a full TTL later, not at once.
func stampLinks(tx *bolt.Tx, now time.Time) error {
	for _, name := range [][]byte{bucketLinks, bucketRLinks} {
		b := tx.Bucket(name)
		if b == nil {
			continue // no rlinks: migrated (link format 2)
		}
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) == 0 {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Put(k, seenBytes(now)); err != nil {
				return err
			}
		}
	}
	return nil
}

func seenBytes(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

func seenTime(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}

// OpenBoltReadOnly opens an existing dir/rights.db for reading (a migration
// source): it fails if there is none, and never writes to it.
func OpenBoltReadOnly(dir string) (*BoltStore, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot open rights store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("cannot open rights store %s (is a consentry still using it?): %w", path, err)
	}
	// Nothing is migrated here: a layout newer than this binary's is
	// refused rather than misread.
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil // empty: nothing to misread
		}
		if v := m.Get(metaLinkFormat); len(v) == 1 && v[0] > linkFormat {
			return fmt.Errorf("link format %d is newer than this binary knows (%d); upgrade consentry", v[0], linkFormat)
		}
		if v := m.Get(metaHotFormat); len(v) == 1 && v[0] != hotFormat && v[0] != hotFormatLinks2 {
			return fmt.Errorf("hot format %d is newer than this binary knows (%d); upgrade consentry", v[0], hotFormatLinks2)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot read rights store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// checkBound reports ErrKeyMismatch unless the store was created with the
// key whose fingerprint is fp; it writes nothing.
func (s *BoltStore) checkBound(fp []byte) error {
	return s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("cannot read rights store: %w (no meta bucket)", errBadRecord)
		}
		if old := m.Get(metaKeyCheck); old == nil || subtle.ConstantTimeCompare(old, fp) != 1 {
			return ErrKeyMismatch
		}
		return nil
	})
}

// Bind implements Store.
func (s *BoltStore) Bind(name string, fp []byte) error {
	key := metaKeyCheck
	if name != BindRegistry {
		key = append([]byte("keycheck:"), name...)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		old := m.Get(key)
		if old == nil {
			return m.Put(key, fp)
		}
		if subtle.ConstantTimeCompare(old, fp) != 1 {
			return ErrKeyMismatch
		}
		return nil
	})
}

// Load implements Store. The embedded store has no change feed.
func (s *BoltStore) Load(fn func(Key, Flags) error) (uint64, error) {
	return 0, s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHot).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != KeySize || len(v) != 1 {
				return fmt.Errorf("cannot load hot set: %w (bad entry)", errBadRecord)
			}
			if err := fn(Key(k), Flags(v[0])); err != nil {
				return err
			}
		}
		return nil
	})
}

// View implements Store.
func (s *BoltStore) View(fn func(StoreReader) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update implements Store: one bbolt transaction, fsynced (data and meta
// page) before it returns. bbolt has one writer at a time, so fn runs once.
func (s *BoltStore) Update(fn func(StoreTx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(k Key) (Record, bool, error) {
	v := t.tx.Bucket(bucketSubjects).Get(k[:])
	if v == nil {
		return Record{}, false, nil
	}
	rec, err := DecodeRecord(k, v)
	if err != nil {
		return Record{}, false, err
	}
	return rec, true, nil
}

func (t boltTx) Links(k Key, kind Kind, fn func(Key, time.Time) error) error {
	if kind != KindDevice {
		return scanLinks(t.tx.Bucket(bucketLinks), k, fn)
	}
	if err := scanLinks(t.tx.Bucket(bucketSubjects), k, fn); err != nil {
		return err
	}
	if old := t.tx.Bucket(bucketRLinks); old != nil { // not migrated (read-only)
		return scanLinks(old, k, fn)
	}
	return nil
}

// scanLinks calls fn for every link key k||other in b. In subjects it
// skips k's own record (the only key of KeySize bytes with that prefix).
func scanLinks(b *bolt.Bucket, k Key, fn func(Key, time.Time) error) error {
	c := b.Cursor()
	for kk, v := c.Seek(k[:]); kk != nil && bytes.HasPrefix(kk, k[:]); kk, v = c.Next() {
		if len(kk) == KeySize {
			continue
		}
		if len(kk) != 2*KeySize {
			return fmt.Errorf("cannot read links: %w (bad entry)", errBadRecord)
		}
		if err := fn(Key(kk[KeySize:]), seenTime(v)); err != nil {
			return err
		}
	}
	return nil
}

// StaleLinks scans the links in key order from resume, at most 64 keys per
// link it may return, so that one call holds the store briefly: the sweep
// that calls it runs rarely (see WithLinkBounds), and an index by time
// would cost every link write more.
func (t boltTx) StaleLinks(before time.Time, resume []byte, limit int) ([]Link, []byte, error) {
	var out []Link
	c := t.tx.Bucket(bucketLinks).Cursor()
	k, v := c.First()
	if resume != nil {
		k, v = c.Seek(resume)
	}
	for scanned := 0; k != nil; k, v = c.Next() {
		if len(out) == limit || scanned == 64*limit {
			return out, append([]byte(nil), k...), nil
		}
		scanned++
		if len(k) != 2*KeySize {
			return nil, nil, fmt.Errorf("cannot read links: %w (bad entry)", errBadRecord)
		}
		if seenTime(v).Before(before) {
			out = append(out, Link{Identity: Key(k[:KeySize]), Device: Key(k[KeySize:])})
		}
	}
	return out, nil, nil
}

func (t boltTx) Apply(c *Change) error {
	if c.empty() {
		return nil
	}
	tx := t.tx
	if !tx.Writable() {
		return errors.New("cannot apply a change in a read-only transaction")
	}
	// Records and reverse links share subjects: put them in key order, so
	// that a large change appends to bbolt's nodes instead of inserting
	// into their middle (quadratic in a bulk load).
	subj := tx.Bucket(bucketSubjects)
	puts := make([][2][]byte, 0, len(c.Records)+len(c.Links))
	for i := range c.Records {
		r := &c.Records[i]
		puts = append(puts, [2][]byte{r.Key[:], EncodeRecord(r)})
	}
	for _, l := range c.Links {
		puts = append(puts, [2][]byte{linkKey(l.Device, l.Identity), seenBytes(nonZeroTime(l.Seen))})
	}
	slices.SortFunc(puts, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	for _, kv := range puts {
		if err := subj.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	hot := tx.Bucket(bucketHot)
	for _, h := range c.Hot {
		var err error
		if h.Flags == 0 {
			err = hot.Delete(h.Key[:])
		} else {
			err = hot.Put(h.Key[:], []byte{byte(h.Flags)})
		}
		if err != nil {
			return err
		}
	}
	// A writable store has no rlinks bucket (OpenBolt migrated it).
	links := tx.Bucket(bucketLinks)
	for _, l := range c.Links {
		if err := links.Put(linkKey(l.Identity, l.Device), seenBytes(nonZeroTime(l.Seen))); err != nil {
			return err
		}
	}
	for _, l := range c.Unlinks {
		if err := links.Delete(linkKey(l.Identity, l.Device)); err != nil {
			return err
		}
		if err := subj.Delete(linkKey(l.Device, l.Identity)); err != nil {
			return err
		}
	}
	lb := tx.Bucket(bucketLog)
	lb.FillPercent = 0.95 // append-only keys
	for i := range c.Log {
		seq, err := lb.NextSequence()
		if err != nil {
			return err
		}
		c.Log[i].Seq = seq
		v, err := json.Marshal(&c.Log[i])
		if err != nil {
			return err
		}
		if err := lb.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return err
		}
	}
	return nil
}

// ReadLog implements Store.
func (s *BoltStore) ReadLog(after uint64, limit int) ([]LogEntry, error) {
	var out []LogEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("cannot decode rights log entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Close implements Store.
func (s *BoltStore) Close() error { return s.db.Close() }

func linkKey(a, b Key) []byte {
	k := make([]byte, 0, 2*KeySize)
	return append(append(k, a[:]...), b[:]...)
}

// CompactBolt rewrites the embedded store in dir without free pages (as a
// bulk load or the link sweep leaves them), so that commits do not carry
// them. The store must not be open.
func CompactBolt(dir string) error {
	path := filepath.Join(dir, DBFile)
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("cannot open rights store %s to compact it (is a consentry using it?): %w", path, err)
	}
	defer src.Close()
	dst, err := bolt.Open(path+".compact", 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Rename(path+".compact", path)
}
