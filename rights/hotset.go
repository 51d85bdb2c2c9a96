package rights

import "sync"

// Flags is the hot-set state of one subject, one byte so that a suppressed
// subject costs about 20-30 bytes of memory. Stores persist it as an opaque
// byte; zero means "not in the hot set".
//
//	bits 0-1  direct suppression reason (the subject itself is suppressed)
//	bit  2    direct suppression allows system records
//	bits 3-4  via reason: the identity last seen on this device is suppressed
//	bit  5    via suppression allows system records
type Flags uint8

const (
	flagDirectAllow Flags = 1 << 2
	flagViaShift          = 3
	flagViaAllow    Flags = 1 << 5
)

func makeFlags(direct Reason, directAllow bool, via Reason, viaAllow bool) Flags {
	f := Flags(direct&3) | Flags(via&3)<<flagViaShift
	if direct != ReasonNone && directAllow {
		f |= flagDirectAllow
	}
	if via != ReasonNone && viaAllow {
		f |= flagViaAllow
	}
	return f
}

func (f Flags) direct() (Reason, bool) { return Reason(f & 3), f&flagDirectAllow != 0 }
func (f Flags) via() (Reason, bool)    { return Reason(f>>flagViaShift) & 3, f&flagViaAllow != 0 }

// suppressing reports whether f suppresses anything; used to apply only
// suppressions when a commit fails.
func (f Flags) suppressing() bool { return f&(3|3<<flagViaShift) != 0 }

const hotShards = 64

// hotSet is the exact, complete in-memory set of subjects that can suppress
// a record. It is the truth for "not suppressed": nothing is ever evicted.
// Sharding keeps the read locks of two cores off one cache line and keeps
// each map's growth small.
type hotSet struct {
	shards [hotShards]hotShard
}

type hotShard struct {
	mu sync.RWMutex
	m  map[Key]Flags
	_  [64 - 24 - 8]byte // pad to a cache line
}

func newHotSet() *hotSet {
	h := &hotSet{}
	for i := range h.shards {
		h.shards[i].m = make(map[Key]Flags)
	}
	return h
}

func (h *hotSet) shard(k *Key) *hotShard { return &h.shards[k[0]%hotShards] }

func (h *hotSet) get(k *Key) Flags {
	s := h.shard(k)
	s.mu.RLock()
	f := s.m[*k]
	s.mu.RUnlock()
	return f
}

// set stores f for k; zero deletes.
func (h *hotSet) set(k Key, f Flags) {
	s := h.shard(&k)
	s.mu.Lock()
	if f == 0 {
		delete(s.m, k)
	} else {
		s.m[k] = f
	}
	s.mu.Unlock()
}

// loadUnlocked inserts without locking; only before the set is shared.
func (h *hotSet) loadUnlocked(k Key, f Flags) {
	if f != 0 {
		h.shard(&k).m[k] = f
	}
}

func (h *hotSet) len() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// sessionCache remembers, for recently seen devices, the identity that is
// durably recorded as the device's current session, so that Learn on the
// hot path can skip the store when a record repeats a known link. It is
// direct-mapped and exact-or-miss: an entry is invalidated before the
// session changes and filled only with committed values, so a hit is
// always the truth and a miss just costs a store read.
type sessionCache struct {
	locks [64]sync.Mutex
	slots []sessionSlot
	mask  uint64
}

type sessionSlot struct {
	device, identity Key
	valid            bool
}

func newSessionCache(slots int) *sessionCache {
	n := 1
	for n < slots {
		n <<= 1
	}
	return &sessionCache{slots: make([]sessionSlot, n), mask: uint64(n - 1)}
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
	ok := s.valid && s.device == *device && s.identity == *identity
	mu.Unlock()
	return ok
}

func (c *sessionCache) set(device, identity Key) {
	i := c.index(&device)
	mu := &c.locks[i%uint64(len(c.locks))]
	mu.Lock()
	c.slots[i] = sessionSlot{device: device, identity: identity, valid: true}
	mu.Unlock()
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
