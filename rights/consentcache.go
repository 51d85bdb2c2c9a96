package rights

import "sync"

// DefaultConsentCacheSlots is the default size of the consent cache: one
// slot per subject, 24 bytes each (1.5 MiB).
const DefaultConsentCacheSlots = 1 << 16

// WithConsentCache sets the number of slots of the consent cache that lets
// Learn skip the store when a record repeats the marketing consent that is
// stored for its subject (see consentCache). Each slot holds one subject's
// keyed hash and its known per-channel consent (24 bytes).
func WithConsentCache(slots int) Option {
	return func(c *config) { c.consSlots = max(1, slots) }
}

// consentCache remembers, for recently seen subjects (keyed hashes, never
// identifiers), the per-channel consent that a read-only pass found stored,
// so that Learn can skip the store when a record repeats it (CleverTap
// sends every subscription flag on every profile push). Like the link
// cache it is direct-mapped and exact-or-miss: an entry is filled only by a
// read-only pass that no commit or feed apply overtook (the generation
// check under pubMu), and dropped under pubMu for every record that a
// commit or a feed change touches (each touched record has a hot entry), and
// wholly on a reload. So a hit is the stored truth; a miss costs a store
// read. Consent that is not known is ConsentUnknown, which no signal asks
// about. It serves the embedded store only (see consentKnown): a fleet
// instance neither fills nor reads it.
type consentCache struct {
	locks [64]sync.Mutex
	slots []consentSlot
	mask  uint64
}

type consentSlot struct {
	key   Key
	state [NumChannels]Consent
	valid bool
}

// consentSeen is one channel's consent that a read-only pass found already
// stored for subject key.
type consentSeen struct {
	key Key
	ch  Channel
	c   Consent
}

func newConsentCache(slots int) *consentCache {
	n := 1
	for n < slots {
		n <<= 1
	}
	return &consentCache{slots: make([]consentSlot, n), mask: uint64(n - 1)}
}

func (c *consentCache) index(k *Key) uint64 {
	var x uint64
	for _, b := range k[8:] {
		x = x<<8 | uint64(b)
	}
	return x & c.mask
}

func (c *consentCache) lock(i uint64) *sync.Mutex { return &c.locks[i%uint64(len(c.locks))] }

// has reports whether k's stored consent is known to be want[ch] for
// every channel ch where want names one.
func (c *consentCache) has(k *Key, want *[NumChannels]Consent) bool {
	i := c.index(k)
	mu := c.lock(i)
	mu.Lock()
	sl := &c.slots[i]
	ok := sl.valid && sl.key == *k
	if ok {
		for ch, w := range want {
			if w != ConsentUnknown && sl.state[ch] != w {
				ok = false
				break
			}
		}
	}
	mu.Unlock()
	return ok
}

// set records that k's stored consent for ch is s; the slot's other
// channels stay known only if it already held k.
func (c *consentCache) set(k Key, ch Channel, s Consent) {
	i := c.index(&k)
	mu := c.lock(i)
	mu.Lock()
	sl := &c.slots[i]
	if !sl.valid || sl.key != k {
		*sl = consentSlot{key: k, valid: true}
	}
	sl.state[ch] = s
	mu.Unlock()
}

func (c *consentCache) drop(k Key) {
	i := c.index(&k)
	mu := c.lock(i)
	mu.Lock()
	if sl := &c.slots[i]; sl.key == k {
		sl.valid = false
	}
	mu.Unlock()
}

// len counts the valid entries (tests).
func (c *consentCache) len() int {
	n := 0
	for i := range c.slots {
		mu := c.lock(uint64(i))
		mu.Lock()
		if c.slots[i].valid {
			n++
		}
		mu.Unlock()
	}
	return n
}

func (c *consentCache) clear() { clearStriped(&c.locks, c.slots) }

// consentKnown reports whether every marketing signal of s is already
// stored for the subject it lands on (see Learn), by the consent cache
// alone: push consent on the device if the record names one, the other
// channels on the person (the identity; for a device-only record its
// session identity, known from the link cache, else the device).
//
// It answers only for the embedded store. Over a shared store another
// instance's commit reaches this cache only when the change feed applies
// it, so for that window a cached value would be stale, and a record that
// repeats it after the other instance's answer (a user re-granting what
// was just revoked elsewhere) would be skipped and lost; the read of the
// shared store sees every acknowledged commit.
func (r *Registry) consentKnown(ref *Ref, s *Signals) bool {
	if r.follow != nil || !r.Healthy() {
		return false
	}
	person := s.Marketing
	if ref.HasDevice && s.Marketing[ChannelPush] != ConsentUnknown {
		var dev [NumChannels]Consent
		dev[ChannelPush] = s.Marketing[ChannelPush]
		if !r.cons.has(&ref.Device, &dev) {
			return false
		}
		person[ChannelPush] = ConsentUnknown
	}
	if person == ([NumChannels]Consent{}) {
		return true
	}
	if ref.HasIdentity {
		return r.cons.has(&ref.Identity, &person)
	}
	id, ok := r.sess.known(&ref.Device)
	if !ok {
		return false
	}
	if id == (Key{}) {
		return r.cons.has(&ref.Device, &person)
	}
	return r.cons.has(&id, &person)
}
