package rights

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Store is where the registry keeps subject state durably. BoltStore is the
// embedded single-node store; PGStore is shared by a fleet. Only keyed
// hashes, flags and times are stored.
type Store interface {
	// Bind records a key's fingerprint under name on first use and
	// afterwards returns ErrKeyMismatch if it differs. The registry binds
	// its own key as "rights"; a fleet binds each tenant key too, so that
	// every instance pseudonymises alike.
	Bind(name string, fingerprint []byte) error
	// Load calls fn for every hot-set entry (the persisted Flags of every
	// subject that can suppress a record) and returns the position of the
	// change feed the loaded state is consistent with (0 for stores that
	// have no feed).
	Load(fn func(Key, Flags) error) (uint64, error)
	// View runs fn on a consistent read-only view.
	View(fn func(StoreReader) error) error
	// Update runs fn in one read-write transaction and commits it; it
	// returns only once the commit is durable (the acknowledged-opt-out
	// guarantee). A shared store may run fn more than once (it retries
	// transactions that lost a race with another instance), so fn must
	// derive everything it writes from what it reads in that run.
	Update(fn func(StoreTx) error) error
	// ReadLog returns up to limit rights-log entries with Seq > after, in
	// order.
	ReadLog(after uint64, limit int) ([]LogEntry, error)
	Close() error
}

// BindRegistry is the name under which the registry binds its own key.
const BindRegistry = "rights"

// StoreReader reads subject state.
type StoreReader interface {
	// Get returns the record of a subject; ok is false if none is stored.
	Get(k Key) (rec Record, ok bool, err error)
	// Links calls fn for the other side of every identity↔device link of k
	// (the devices of an identity, or the identities of a device) and when
	// the link was last seen.
	Links(k Key, kind Kind, fn func(other Key, seen time.Time) error) error
	// StaleLinks returns up to limit links last seen before before,
	// starting from resume (nil: the start). It returns where to resume,
	// nil when there is nothing left to look at.
	StaleLinks(before time.Time, resume []byte, limit int) (stale []Link, next []byte, err error)
}

// StoreTx is one read-write transaction.
type StoreTx interface {
	StoreReader
	// Apply writes c in the transaction. It assigns LogEntry.Seq.
	Apply(c *Change) error
}

// Change is one atomic write.
type Change struct {
	Records []Record
	Hot     []HotEntry // Flags 0 deletes the entry
	Links   []Link     // added, or seen again (last seen: the commit time)
	Unlinks []Link     // removed (expired or evicted)
	Log     []LogEntry
	// Sessions are the devices whose session identity changed, with the
	// new identity (zero: the session was cleared): a shared store
	// publishes them so that the other instances' link caches stay exact.
	Sessions []Link
	// FeedSeq is set by a shared store's Apply: the feed position the
	// caller must have applied before answering — this change's own, or,
	// if it wrote nothing to the feed, the newest its snapshot read
	// (0: the store has no feed).
	FeedSeq uint64
}

// Feed is implemented by a store that other instances write too (PGStore):
// their changes reach this instance through it.
type Feed interface {
	// Changes returns up to limit changes committed after position after,
	// in commit order. ErrFeedTruncated means the feed no longer holds all
	// of them: reload everything (Store.Load).
	Changes(ctx context.Context, after uint64, limit int) ([]FeedChange, error)
	// Wake receives a value when changes may be waiting.
	Wake() <-chan struct{}
}

// FeedChange is what one commit changed in the hot set and in device
// sessions. Reset asks every instance to reload everything.
type FeedChange struct {
	Seq      uint64
	Hot      []HotEntry
	Sessions []Link
	Reset    bool
}

// HotEntry is one persisted hot-set entry.
type HotEntry struct {
	Key   Key
	Flags Flags
}

// Link is one identity↔device link. Seen is when it was last seen (in a
// Change: zero means the commit time).
type Link struct {
	Identity, Device Key
	Seen             time.Time
}

func (c *Change) empty() bool {
	return len(c.Records) == 0 && len(c.Hot) == 0 && len(c.Links) == 0 && len(c.Unlinks) == 0 && len(c.Log) == 0 && len(c.Sessions) == 0
}

// Record encoding, version 1 (all integers big-endian, times in Unix
// nanoseconds, 0 = zero time):
//
//	version(1) kind(1) reason(1) flags(1) since(8) erased(8) sessionAt(8) updated(8)
//	[session(16) if flags&hasSession] consentMask(1) {state(1) at(8)} per set bit
//
// Version 2 (written only for records that hold vendor erasures, so that a
// binary that knows version 1 still reads every other record) appends
//
//	count(1) {len(1) vendor, state(1), httpStatus(2), at(8), len(1) job, len(1) reason} per vendor
//
// Version 3 (written only while a vendor call is claimed or a vendor did
// not know the id, so that other records stay version 2) appends to each
// vendor
//
//	len(1) owner, until(8), vendorFlags(1)
const (
	recordVersion   = 1
	recordVersion2  = 2
	recordVersion3  = 3
	recFlagAllow    = 1 << 0
	recFlagSession  = 1 << 1
	recFlagAcked    = 1 << 2
	vendorUnknownID = 1 << 0 // vendorFlags
	recordFixedSize = 4 + 4*8
)

var errBadRecord = errors.New("malformed subject record")

// EncodeRecord serialises rec (without its key, which is the store key).
func EncodeRecord(rec *Record) []byte {
	b := make([]byte, 0, recordFixedSize+KeySize+1+int(NumChannels)*9)
	var fl byte
	if rec.AllowSystem {
		fl |= recFlagAllow
	}
	if rec.HasSession {
		fl |= recFlagSession
	}
	if rec.VendorAcked {
		fl |= recFlagAcked
	}
	version := byte(recordVersion)
	if len(rec.Vendors) > 0 {
		version = recordVersion2
		for _, v := range rec.Vendors {
			if v.Owner != "" || !v.Until.IsZero() || v.UnknownID {
				version = recordVersion3
			}
		}
	}
	b = append(b, version, byte(rec.Kind), byte(rec.Reason), fl)
	b = appendTime(b, rec.Since)
	b = appendTime(b, rec.ErasedAt)
	b = appendTime(b, rec.SessionAt)
	b = appendTime(b, rec.Updated)
	if rec.HasSession {
		b = append(b, rec.Session[:]...)
	}
	var mask byte
	for ch, c := range rec.Consent {
		if c.State != ConsentUnknown {
			mask |= 1 << ch
		}
	}
	b = append(b, mask)
	for _, c := range rec.Consent {
		if c.State != ConsentUnknown {
			b = append(b, byte(c.State))
			b = appendTime(b, c.At)
		}
	}
	if version >= recordVersion2 {
		n := min(len(rec.Vendors), 255)
		b = append(b, byte(n))
		for _, v := range rec.Vendors[:n] {
			b = appendShort(b, v.Vendor)
			b = append(b, byte(v.State))
			b = binary.BigEndian.AppendUint16(b, uint16(min(max(v.HTTPStatus, 0), 65535)))
			b = appendTime(b, v.At)
			b = appendShort(b, v.Job)
			b = appendShort(b, v.Reason)
			if version == recordVersion3 {
				b = appendShort(b, v.Owner)
				b = appendTime(b, v.Until)
				var vf byte
				if v.UnknownID {
					vf |= vendorUnknownID
				}
				b = append(b, vf)
			}
		}
	}
	return b
}

// appendShort appends a length byte and s, cut to 255 bytes.
func appendShort(b []byte, s string) []byte {
	s = s[:min(len(s), 255)]
	return append(append(b, byte(len(s))), s...)
}

// readShort reads what appendShort wrote.
func readShort(p []byte) (string, []byte, bool) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return "", p, false
	}
	n := int(p[0])
	return string(p[1 : 1+n]), p[1+n:], true
}

// decodeVendors reads the vendor section of a version 2 or 3 record.
func decodeVendors(p []byte, version byte) ([]VendorErasure, []byte, error) {
	bad := fmt.Errorf("cannot decode subject record vendor erasures: %w", errBadRecord)
	if len(p) < 1 || p[0] == 0 {
		return nil, p, bad
	}
	n := int(p[0])
	p = p[1:]
	out := make([]VendorErasure, 0, n)
	for range n {
		var v VendorErasure
		var ok bool
		if v.Vendor, p, ok = readShort(p); !ok || v.Vendor == "" || len(p) < 11 {
			return nil, p, bad
		}
		v.State = VendorState(p[0])
		if v.State < VendorRequested || v.State > maxVendorState {
			return nil, p, bad
		}
		v.HTTPStatus = int(binary.BigEndian.Uint16(p[1:3]))
		v.At, p = readTime(p[3:])
		if v.Job, p, ok = readShort(p); !ok {
			return nil, p, bad
		}
		if v.Reason, p, ok = readShort(p); !ok {
			return nil, p, bad
		}
		if version == recordVersion3 {
			if v.Owner, p, ok = readShort(p); !ok || len(p) < 9 || p[8]&^vendorUnknownID != 0 {
				return nil, p, bad
			}
			v.Until, p = readTime(p)
			v.UnknownID, p = p[0]&vendorUnknownID != 0, p[1:]
		}
		out = append(out, v)
	}
	return out, p, nil
}

// DecodeRecord parses what EncodeRecord produced; k is the store key.
func DecodeRecord(k Key, b []byte) (Record, error) {
	rec := Record{Key: k}
	if len(b) < recordFixedSize || b[0] < recordVersion || b[0] > recordVersion3 {
		return rec, fmt.Errorf("cannot decode subject record: %w (unknown version or short)", errBadRecord)
	}
	rec.Kind = Kind(b[1])
	rec.Reason = Reason(b[2])
	fl := b[3]
	if (rec.Kind != KindIdentity && rec.Kind != KindDevice) || rec.Reason > maxReason || fl&^(recFlagAllow|recFlagSession|recFlagAcked) != 0 {
		return rec, fmt.Errorf("cannot decode subject record: %w", errBadRecord)
	}
	rec.AllowSystem = fl&recFlagAllow != 0
	rec.HasSession = fl&recFlagSession != 0
	rec.VendorAcked = fl&recFlagAcked != 0
	p := b[4:]
	rec.Since, p = readTime(p)
	rec.ErasedAt, p = readTime(p)
	rec.SessionAt, p = readTime(p)
	rec.Updated, p = readTime(p)
	if rec.HasSession {
		if len(p) < KeySize {
			return rec, fmt.Errorf("cannot decode subject record session: %w", errBadRecord)
		}
		copy(rec.Session[:], p)
		p = p[KeySize:]
	}
	if len(p) < 1 || p[0]>>NumChannels != 0 {
		return rec, fmt.Errorf("cannot decode subject record consent: %w", errBadRecord)
	}
	mask := p[0]
	p = p[1:]
	for ch := range NumChannels {
		if mask&(1<<ch) == 0 {
			continue
		}
		if len(p) < 9 || p[0] == byte(ConsentUnknown) || p[0] > byte(ConsentRevoked) {
			return rec, fmt.Errorf("cannot decode subject record consent: %w", errBadRecord)
		}
		rec.Consent[ch].State = Consent(p[0])
		rec.Consent[ch].At, p = readTime(p[1:])
	}
	if b[0] >= recordVersion2 {
		var err error
		if rec.Vendors, p, err = decodeVendors(p, b[0]); err != nil {
			return rec, err
		}
	}
	if len(p) != 0 {
		return rec, fmt.Errorf("cannot decode subject record: %w (trailing bytes)", errBadRecord)
	}
	return rec, nil
}

func appendTime(b []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// readTime needs len(p) >= 8 (checked by the callers).
func readTime(p []byte) (time.Time, []byte) {
	n := int64(binary.BigEndian.Uint64(p))
	if n == 0 {
		return time.Time{}, p[8:]
	}
	return time.Unix(0, n).UTC(), p[8:]
}
