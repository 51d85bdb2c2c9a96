package rights

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// Flags is the hot-set state of one subject, one byte so that a suppressed
// subject costs about 20-30 bytes of memory. Stores persist it as an opaque
// byte; zero means "not in the hot set".
//
//	bits 0-2  direct suppression reason (the subject itself is suppressed)
//	bit  3    direct suppression allows system records
//	bits 4-6  via reason: the identity last seen on this device is suppressed
//	bit  7    via suppression allows system records
//
// Stores written before format 2 used two bits per reason; BoltStore
// converts them when it opens (hotFormat).
type Flags uint8

const (
	flagReasonMask        = 7
	flagDirectAllow Flags = 1 << 3
	flagViaShift          = 4
	flagViaAllow    Flags = 1 << 7
)

// hotFormat is the version of the Flags layout that stores persist.
const hotFormat = 2

func makeFlags(direct Reason, directAllow bool, via Reason, viaAllow bool) Flags {
	f := Flags(direct&flagReasonMask) | Flags(via&flagReasonMask)<<flagViaShift
	if direct != ReasonNone && directAllow {
		f |= flagDirectAllow
	}
	if via != ReasonNone && viaAllow {
		f |= flagViaAllow
	}
	return f
}

func (f Flags) direct() (Reason, bool) { return Reason(f & flagReasonMask), f&flagDirectAllow != 0 }
func (f Flags) via() (Reason, bool) {
	return Reason(f>>flagViaShift) & flagReasonMask, f&flagViaAllow != 0
}

// suppressing reports whether f suppresses anything; used to apply only
// suppressions when a commit fails.
func (f Flags) suppressing() bool { return f&(flagReasonMask|flagReasonMask<<flagViaShift) != 0 }

// flagsFromFormat1 converts a hot-set byte of format 1 (two bits per
// reason: bits 0-1 direct, 2 allow, 3-4 via, 5 via allow).
func flagsFromFormat1(b byte) Flags {
	return makeFlags(Reason(b&3), b&(1<<2) != 0, Reason(b>>3)&3, b&(1<<5) != 0)
}

const hotShards = 64

// hotSet is the exact, complete in-memory set of subjects that can suppress
// a record. It is the truth for "not suppressed": nothing is ever evicted.
// Sharding keeps the read locks of two cores off one cache line and keeps
// each table's growth small.
type hotSet struct {
	shards [hotShards]hotShard
}

// hotShard is padded to two cache lines so that the read-lock counters of
// neighbouring shards do not share a line.
type hotShard struct {
	mu sync.RWMutex
	t  hotTable
	_  [128 - 24 - 64]byte
}

func newHotSet() *hotSet { return &hotSet{} }

func (h *hotSet) shard(k *Key) *hotShard { return &h.shards[k[0]%hotShards] }

func (h *hotSet) get(k *Key) Flags {
	s := h.shard(k)
	s.mu.RLock()
	f := s.t.get(k)
	s.mu.RUnlock()
	return f
}

// set stores f for k; zero deletes.
func (h *hotSet) set(k Key, f Flags) {
	s := h.shard(&k)
	s.mu.Lock()
	s.t.set(&k, f)
	s.mu.Unlock()
}

// loadUnlocked inserts without locking; only before the set is shared.
func (h *hotSet) loadUnlocked(k Key, f Flags) {
	h.shard(&k).t.set(&k, f)
}

// clear empties the set (before a reload).
func (h *hotSet) clear() {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		s.t = hotTable{}
		s.mu.Unlock()
	}
}

func (h *hotSet) len() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		n += s.t.n
		s.mu.RUnlock()
	}
	return n
}

// hotTable is an open-addressing hash table with linear probing. A slot is
// one 16-byte Key: bytes 0-14 are the subject key, byte 15 holds the Flags.
// A parallel array holds one tag byte per slot (0 = empty, else a
// fingerprint of the key), 16 times smaller than the slots, so that it stays
// in the CPU caches: a lookup of a subject that is not in the set (the
// common case) usually ends in the tag array without a memory miss, and
// only a tag match reads the slot. Subject keys are uniformly random HMAC
// output, so the home slot, the tag and the shard are taken from different
// key bytes without hashing. Two keys that differ only in byte 15 share a
// slot, which can only suppress too much, never too little.
type hotTable struct {
	tags  []uint8
	slots []Key // same length as tags: a power of two, or zero
	mask  uint64
	n     int
}

// low7 keeps bytes 8-14 of a key's second word; byte 15 is the Flags.
const low7 = 1<<56 - 1

// slotHome is taken from bytes 8-14 (tables are far smaller than 2^56
// slots); byte 0 chose the shard.
func slotHome(k *Key) uint64 { return binary.LittleEndian.Uint64(k[8:16]) & low7 }

// slotTag is the non-zero fingerprint of a key, from byte 1.
func slotTag(k *Key) uint8 {
	if k[1] == 0 {
		return 1
	}
	return k[1]
}

// find returns the slot index holding k, or the empty slot where it would
// go, and whether it was found. The table must not be empty. It reads the
// key as two aligned words: loads straddling them defeat store-to-load
// forwarding when the caller has just copied a Ref (measured 2.5× slower).
func (t *hotTable) find(k *Key) (uint64, bool) {
	a, b := binary.LittleEndian.Uint64(k[0:8]), binary.LittleEndian.Uint64(k[8:16])&low7
	tag := slotTag(k)
	for i := b & t.mask; ; i = (i + 1) & t.mask {
		switch t.tags[i] {
		case 0:
			return i, false
		case tag:
			s := &t.slots[i]
			if binary.LittleEndian.Uint64(s[8:16])&low7 == b && binary.LittleEndian.Uint64(s[0:8]) == a {
				return i, true
			}
		}
	}
}

func (t *hotTable) get(k *Key) Flags {
	if t.n == 0 {
		return 0
	}
	i, ok := t.find(k)
	if !ok {
		return 0
	}
	return Flags(t.slots[i][15])
}

func (t *hotTable) set(k *Key, f Flags) {
	if f == 0 {
		if t.n == 0 {
			return
		}
		if i, ok := t.find(k); ok {
			t.remove(i)
		}
		return
	}
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
	}
	i, ok := t.find(k)
	if !ok {
		t.n++
	}
	t.tags[i] = slotTag(k)
	t.slots[i] = *k
	t.slots[i][15] = byte(f)
}

func (t *hotTable) grow() {
	oldTags, oldSlots := t.tags, t.slots
	n := max(16, 2*len(oldSlots))
	t.tags, t.slots, t.mask = make([]uint8, n), make([]Key, n), uint64(n-1)
	for i, tag := range oldTags {
		if tag != 0 {
			j, _ := t.find(&oldSlots[i])
			t.tags[j], t.slots[j] = tag, oldSlots[i]
		}
	}
}

// remove empties slot i and shifts later entries of the probe run back
// (Knuth's algorithm R), so lookups never need tombstones.
func (t *hotTable) remove(i uint64) {
	t.n--
	for {
		t.tags[i], t.slots[i] = 0, Key{}
		j := i
		for {
			j = (j + 1) & t.mask
			if t.tags[j] == 0 {
				return
			}
			h := slotHome(&t.slots[j]) & t.mask
			// The entry at j may stay if its home lies cyclically in (i, j].
			if i <= j {
				if i < h && h <= j {
					continue
				}
			} else if i < h || h <= j {
				continue
			}
			t.tags[i], t.slots[i] = t.tags[j], t.slots[j]
			i = j
			break
		}
	}
}

// sessionCache remembers, for recently seen devices, the identity that is
// durably recorded as the device's current session, so that Learn on the
// hot path can skip the store when a record repeats a known link. It is
// direct-mapped and exact-or-miss: an entry is invalidated before the
// session changes and filled only with committed values, so a hit is
// always the truth and a miss just costs a store read.
//
// An entry is trusted for a day after it was set (hour is a coarse clock),
// so that a link in use is confirmed, and its last-seen time written, about
// once a day; entries set at different times expire at different times. An
// entry with a zero identity records that the device has no session.
type sessionCache struct {
	locks [64]sync.Mutex
	slots []sessionSlot
	mask  uint64
	hour  *atomic.Uint32
}

type sessionSlot struct {
	device, identity Key
	valid            bool
	hour             uint32
}

// sessionTrustHours is how long a cache entry is trusted.
const sessionTrustHours = 24

func newSessionCache(slots int, hour *atomic.Uint32) *sessionCache {
	n := 1
	for n < slots {
		n <<= 1
	}
	return &sessionCache{slots: make([]sessionSlot, n), mask: uint64(n - 1), hour: hour}
}

// known returns the session identity cached for device (zero: none) if
// the entry is still trusted.
func (c *sessionCache) known(device *Key) (Key, bool) {
	i := c.index(device)
	mu := &c.locks[i%uint64(len(c.locks))]
	mu.Lock()
	s := &c.slots[i]
	ok := s.valid && s.device == *device && c.hour.Load()-s.hour < sessionTrustHours
	id := s.identity
	mu.Unlock()
	return id, ok
}

func (c *sessionCache) index(device *Key) uint64 {
	var x uint64
	for _, b := range device[8:] {
		x = x<<8 | uint64(b)
	}
	return x & c.mask
}

func (c *sessionCache) has(device, identity *Key) bool {
	i := c.index(device)
	mu := &c.locks[i%uint64(len(c.locks))]
	mu.Lock()
	s := &c.slots[i]
	ok := s.valid && s.device == *device && s.identity == *identity && c.hour.Load()-s.hour < sessionTrustHours
	mu.Unlock()
	return ok
}

func (c *sessionCache) set(device, identity Key) {
	i := c.index(&device)
	mu := &c.locks[i%uint64(len(c.locks))]
	mu.Lock()
	c.slots[i] = sessionSlot{device: device, identity: identity, valid: true, hour: c.hour.Load()}
	mu.Unlock()
}

// clear forgets every entry.
func (c *sessionCache) clear() { clearStriped(&c.locks, c.slots) }

// clearStriped zeroes a striped cache's slots with every stripe's lock
// held, so that no reader sees a half-cleared cache.
func clearStriped[T any](locks *[64]sync.Mutex, slots []T) {
	for i := range locks {
		locks[i].Lock()
	}
	var zero T
	for i := range slots {
		slots[i] = zero
	}
	for i := range locks {
		locks[i].Unlock()
	}
}

func (c *sessionCache) drop(device Key) {
	i := c.index(&device)
	mu := &c.locks[i%uint64(len(c.locks))]
	mu.Lock()
	if s := &c.slots[i]; s.device == device {
		s.valid = false
	}
	mu.Unlock()
}
