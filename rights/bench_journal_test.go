package rights

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkStoreNewLinkGrown1M measures, below the registry, what a new
// link costs the store over the grown compacted 1M store, for the design
// in use and for a journal the store does not have (its floor, to size
// that redesign): "direct" writes the device record and reverse link into
// subjects and the link into links (link format 2), in commits of 32
// links as the group commit makes them; "journal" appends each link with
// its record under a sequence key instead; "merge-N" moves N journalled
// links, sorted, into subjects and links in one transaction and deletes
// them from the journal (what a background merge would cost per link).
// Readers, the in-memory index and crash safety of such a journal are not
// modelled. Run merge-N with -benchtime 1x or 2x.
func BenchmarkStoreNewLinkGrown1M(b *testing.B) {
	for _, mode := range []string{"direct", "journal", "merge-1000", "merge-10000", "merge-100000"} {
		b.Run(mode, func(b *testing.B) {
			dir := copyGrown(b, true)
			st, err := OpenBolt(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			k, _ := newKeyer(testKey)
			mk := func(i int) (Key, Key) {
				return k.key(tenant, KindIdentity, fmt.Appendf(nil, "j-user-%d", i)), k.key(tenant, KindDevice, fmt.Appendf(nil, "__g-j-%d", i))
			}
			at := time.Now()
			const perCommit = 32
			var n int
			if _, err := fmt.Sscanf(mode, "merge-%d", &n); err == nil {
				benchMerge(b, st, n, at, mk)
				return
			}
			c0, s0 := processCPU(), st.db.Stats()
			b.ResetTimer()
			for lo := 0; lo < b.N; lo += perCommit {
				err := st.db.Update(func(tx *bolt.Tx) error {
					sb, lb := tx.Bucket(bucketSubjects), tx.Bucket(bucketLinks)
					j, err := tx.CreateBucketIfNotExists([]byte("journal"))
					if err != nil {
						return err
					}
					j.FillPercent = 1
					for i := lo; i < min(lo+perCommit, b.N); i++ {
						ik, dk := mk(i)
						rec := EncodeRecord(&Record{Key: dk, Kind: KindDevice, Session: ik, HasSession: true, SessionAt: at, Updated: at})
						if mode == "journal" {
							seq, _ := j.NextSequence()
							v := append(append(append(append([]byte{}, ik[:]...), dk[:]...), seenBytes(at)...), rec...)
							if err := j.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
								return err
							}
							continue
						}
						if err := sb.Put(dk[:], rec); err != nil {
							return err
						}
						if err := sb.Put(linkKey(dk, ik), seenBytes(at)); err != nil {
							return err
						}
						if err := lb.Put(linkKey(ik, dk), seenBytes(at)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			d := st.db.Stats()
			d = d.Sub(&s0)
			b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu-µs/link")
			b.ReportMetric(float64(d.TxStats.GetPageAlloc())/float64(b.N), "alloc-B/link")
		})
	}
}

// benchMerge: each op fills a journal bucket with n new links (not
// measured) and then merges them, sorted, into subjects and links and
// deletes them from the journal in one transaction (measured).
func benchMerge(b *testing.B, st *BoltStore, n int, at time.Time, mk func(int) (Key, Key)) {
	jb := []byte("journal")
	var cpu time.Duration
	var alloc int64
	b.ResetTimer()
	for it := range b.N {
		b.StopTimer()
		err := st.db.Update(func(tx *bolt.Tx) error {
			j, err := tx.CreateBucketIfNotExists(jb)
			if err != nil {
				return err
			}
			j.FillPercent = 1
			for i := it * n; i < (it+1)*n; i++ {
				ik, dk := mk(i)
				rec := EncodeRecord(&Record{Key: dk, Kind: KindDevice, Session: ik, HasSession: true, SessionAt: at, Updated: at})
				v := append(append(append(append([]byte{}, ik[:]...), dk[:]...), seenBytes(at)...), rec...)
				seq, _ := j.NextSequence()
				if err := j.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0, s0 := processCPU(), st.db.Stats()
		err = st.db.Update(func(tx *bolt.Tx) error {
			j := tx.Bucket(jb)
			type e struct{ k, v []byte }
			var subj, links []e
			var seqs [][]byte
			j.ForEach(func(kk, v []byte) error {
				seqs = append(seqs, bytes.Clone(kk))
				ik, dk, seen, rec := v[:16], v[16:32], v[32:40], v[40:]
				subj = append(subj, e{bytes.Clone(dk), bytes.Clone(rec)}, e{append(bytes.Clone(dk), ik...), bytes.Clone(seen)})
				links = append(links, e{append(bytes.Clone(ik), dk...), bytes.Clone(seen)})
				return nil
			})
			slices.SortFunc(subj, func(a, b e) int { return bytes.Compare(a.k, b.k) })
			slices.SortFunc(links, func(a, b e) int { return bytes.Compare(a.k, b.k) })
			sb, lb := tx.Bucket(bucketSubjects), tx.Bucket(bucketLinks)
			for _, x := range subj {
				if err := sb.Put(x.k, x.v); err != nil {
					return err
				}
			}
			for _, x := range links {
				if err := lb.Put(x.k, x.v); err != nil {
					return err
				}
			}
			for _, s := range seqs {
				if err := j.Delete(s); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - c0
		s1 := st.db.Stats()
		d := s1.Sub(&s0)
		alloc += d.TxStats.GetPageAlloc()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/link")
	b.ReportMetric(float64(alloc)/float64(b.N*n), "alloc-B/link")
}
