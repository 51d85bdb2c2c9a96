package rights

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// linkFixture writes devices with their identities through a registry:
// d1 is shared by u1 and u2, u1 also uses d2, u3 (opted out) uses d3.
func linkFixture(t *testing.T, dir string) {
	t.Helper()
	r := openTest(t, dir)
	for _, o := range []op{
		{do: "link", id: "u1", dev: "d1"},
		{do: "link", id: "u2", dev: "d1"},
		{do: "link", id: "u1", dev: "d2"},
		{do: "link", id: "u3", dev: "d3"},
		{do: "optout", id: "u3"},
	} {
		if err := apply(t, r, o); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
}

var fixtureDevices = map[string][]string{"d1": {"u1", "u2"}, "d2": {"u1"}, "d3": {"u3"}}

// toLinkFormat1 rewrites dir's store as a binary before link format 2
// left it: the reverse links in the rlinks bucket, no link format mark,
// hot format mark 2. The first keep reverse links stay in subjects, as a
// migration cut short by a crash leaves them, with the marks its first
// transaction wrote.
func toLinkFormat1(t *testing.T, dir string, keep int) {
	t.Helper()
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.db.Update(func(tx *bolt.Tx) error {
		subj := tx.Bucket(bucketSubjects)
		old, err := tx.CreateBucket(bucketRLinks)
		if err != nil {
			return err
		}
		var moved [][2][]byte
		err = subj.ForEach(func(k, v []byte) error {
			if len(k) == 2*KeySize {
				moved = append(moved, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(moved) < 4 {
			return fmt.Errorf("%d reverse links in subjects, want 4", len(moved))
		}
		for _, kv := range moved[keep:] {
			if err := subj.Delete(kv[0]); err != nil {
				return err
			}
			if err := old.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if keep > 0 {
			return nil // the marks stay
		}
		if err := tx.Bucket(bucketMeta).Put(metaHotFormat, []byte{hotFormat}); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaLinkFormat)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// deviceLinks reads the identities linked to each fixture device.
func deviceLinks(t *testing.T, st Store, r *Registry) map[string][]string {
	t.Helper()
	names := map[Key]string{}
	for _, u := range []string{"u1", "u2", "u3"} {
		names[r.Ref(tenant, b(u), nil).Identity] = u
	}
	got := map[string][]string{}
	err := st.View(func(rd StoreReader) error {
		for d := range fixtureDevices {
			err := rd.Links(r.Ref(tenant, nil, b(d)).Device, KindDevice, func(ik Key, _ time.Time) error {
				got[d] = append(got[d], names[ik])
				return nil
			})
			if err != nil {
				return err
			}
			slices.Sort(got[d])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// linkFormatState reports whether the rlinks bucket exists, the format
// mark and how many reverse links subjects holds. Wherever the links are
// marked format 2, the hot format mark must say so to older binaries.
func linkFormatState(t *testing.T, dir string) (rlinks bool, mark []byte, inSubjects int) {
	t.Helper()
	st, err := OpenBoltReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.db.View(func(tx *bolt.Tx) error {
		rlinks = tx.Bucket(bucketRLinks) != nil
		mark = append([]byte(nil), tx.Bucket(bucketMeta).Get(metaLinkFormat)...)
		hot := tx.Bucket(bucketMeta).Get(metaHotFormat)
		if want := []byte{hotFormatLinks2}; len(mark) == 1 && !bytes.Equal(hot, want) {
			t.Errorf("link format %v with hot format mark %v, want %v: a binary from before link format 2 would open it", mark, hot, want)
		}
		return tx.Bucket(bucketSubjects).ForEach(func(k, _ []byte) error {
			if len(k) == 2*KeySize {
				inSubjects++
			}
			return nil
		})
	})
	return rlinks, mark, inSubjects
}

// A store written before link format 2 (reverse links in rlinks), or one
// whose migration a crash cut short, is read as before when opened
// read-only (a migration source), and opening it migrates it in place:
// every reverse link once in subjects, rlinks gone, the format marked.
// The registry then finds every device's identities (an erasure by device
// erases them all) and keeps suppressing.
func TestOpenMigratesLinkFormat1(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		keep  int // reverse links left in subjects (a cut-short migration)
		chunk int // links per migration transaction; 0: as Open does
	}{
		{"format 1", 0, 0},
		{"format 1 in chunks of one", 0, 1},
		{"cut short", 2, 0},
		{"cut short in chunks of two", 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			linkFixture(t, dir)
			toLinkFormat1(t, dir, tc.keep)
			wantMark := 0 // a cut-short migration wrote the marks first
			if tc.keep > 0 {
				wantMark = 1
			}
			if rl, mark, n := linkFormatState(t, dir); !rl || len(mark) != wantMark || n != tc.keep {
				t.Fatalf("fixture: rlinks %v, mark %v, %d in subjects", rl, mark, n)
			}

			ro, err := OpenBoltReadOnly(dir)
			if err != nil {
				t.Fatal(err)
			}
			kr := &Registry{keys: mustKeyer(t)}
			if got := deviceLinks(t, ro, kr); !maps.EqualFunc(got, fixtureDevices, slices.Equal) {
				t.Errorf("read-only, before migration: %v, want %v", got, fixtureDevices)
			}
			ro.Close()

			if tc.chunk > 0 {
				st, err := OpenBolt(dir) // migrates; then again in small chunks below
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
				toLinkFormat1(t, dir, tc.keep)
				db, err := bolt.Open(dir+"/"+DBFile, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := migrateRLinks(db, tc.chunk); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			for round := range 2 { // the second open finds nothing to do
				r := openTest(t, dir)
				if got := deviceLinks(t, r.store, r); !maps.EqualFunc(got, fixtureDevices, slices.Equal) {
					t.Errorf("open %d: %v, want %v", round, got, fixtureDevices)
				}
				checkAll(t, r, fmt.Sprintf("open %d", round), []expect{
					supp("", "d3", ReasonOptOut), supp("u3", "", ReasonOptOut),
					clear("", "d1"), clear("u1", ""), clear("u2", ""),
				})
				rep, err := r.Show(r.Ref(tenant, nil, b("d1")), "test-admin")
				if err != nil || rep.LinkedIdentities == nil || *rep.LinkedIdentities != 2 {
					t.Errorf("open %d: report of d1 %+v, %v: want 2 linked identities", round, rep, err)
				}
				r.Close()
				if rl, mark, n := linkFormatState(t, dir); rl || string(mark) != string([]byte{linkFormat}) || n != 4 {
					t.Fatalf("open %d: rlinks %v, mark %v, %d reverse links in subjects, want none, [%d], 4", round, rl, mark, n, linkFormat)
				}
			}
			r := openTest(t, dir)
			if err := apply(t, r, op{do: "erase", dev: "d1"}); err != nil {
				t.Fatal(err)
			}
			checkAll(t, r, "after erasing d1", []expect{
				supp("u1", "", ReasonAdminErasure), supp("u2", "", ReasonAdminErasure), supp("", "d2", ReasonAdminErasure),
			})
		})
	}
}

// A link removed (evicted or expired) leaves nothing behind in subjects,
// and Migrate reads the reverse links in subjects as links, not records.
func TestReverseLinksInSubjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := openTest(t, dir, WithLinkBounds(LinkBounds{MaxIdentitiesPerDevice: 1}))
	for _, u := range []string{"u1", "u2"} {
		if err := apply(t, r, op{do: "link", id: u, dev: "d1"}); err != nil {
			t.Fatal(err)
		}
	}
	got := deviceLinks(t, r.store, r)
	if want := []string{"u2"}; !slices.Equal(got["d1"], want) {
		t.Errorf("d1 after an eviction: %v, want %v", got["d1"], want)
	}
	r.Close()
	if _, _, n := linkFormatState(t, dir); n != 1 {
		t.Errorf("%d reverse links in subjects, want 1", n)
	}
}

// A store marked with a newer link format is refused, not misread.
func TestNewerLinkFormatRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaLinkFormat, []byte{linkFormat + 1})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBolt(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenBolt of a newer link format: %v, want a refusal", err)
	}
	if _, err := OpenBoltReadOnly(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenBoltReadOnly (rights migrate's source) of a newer link format: %v, want a refusal", err)
	}
}

func mustKeyer(t *testing.T) *keyer {
	t.Helper()
	k, err := newKeyer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Binaries from before link format 2 open a store only if its hot format
// mark is 2; every store this binary opens is marked otherwise, new or
// migrated, so that they refuse it instead of finding no reverse links.
func TestStoreRefusedByBinariesBeforeLinkFormat2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	rlinks, mark, _ := linkFormatState(t, dir) // checks the hot format mark
	if rlinks || !bytes.Equal(mark, []byte{linkFormat}) {
		t.Fatalf("a new store: rlinks %v, link format %v", rlinks, mark)
	}
	st, err = OpenBolt(dir) // reopening a current store changes nothing
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	linkFormatState(t, dir)
}

// A migration that stops part way (a crash, a bad entry) has already
// marked the store, so that a binary from before link format 2, which
// reads reverse links from rlinks only, refuses it.
func TestCutShortMigrationIsMarked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	linkFixture(t, dir)
	toLinkFormat1(t, dir, 0)
	db, err := bolt.Open(dir+"/"+DBFile, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { // sorts after every link: read by the last chunk
		return tx.Bucket(bucketRLinks).Put(bytes.Repeat([]byte{0xff}, 5), seenBytes(time.Now()))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateRLinks(db, 2); err == nil {
		t.Fatal("migrating a bad entry succeeded")
	}
	db.Close()
	rl, mark, n := linkFormatState(t, dir) // fails unless the hot format mark says 3
	if !rl || !bytes.Equal(mark, []byte{linkFormat}) || n != 4 {
		t.Fatalf("after a cut-short migration: rlinks %v, link format mark %v, %d reverse links moved", rl, mark, n)
	}
}
