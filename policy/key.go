package policy

import (
	"hash/maphash"
	"math/bits"
)

// seed keys the cache hashes per process, so request contents cannot aim
// at chosen collisions; hits are verified against the full key anyway.
var seed = maphash.MakeSeed()

// mix folds x into h (a multiply-rotate step; each input is already a
// keyed hash).
func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0x9e3779b97f4a7c15
	return bits.RotateLeft64(h, 31)
}

// planKey hashes a record shape without allocating.
func planKey(tenant, format, kind, name string, sig uint64) uint64 {
	h := uint64(0x706c616e) // "plan"
	h = mix(h, maphash.String(seed, tenant))
	h = mix(h, maphash.String(seed, format))
	h = mix(h, maphash.String(seed, kind))
	h = mix(h, maphash.String(seed, name))
	return mix(h, sig)
}

// recordKey hashes a record identity without allocating.
func recordKey(tenant, format, kind, name string) uint64 {
	h := uint64(0x7265636f7264) // "record"
	h = mix(h, maphash.String(seed, tenant))
	h = mix(h, maphash.String(seed, format))
	h = mix(h, maphash.String(seed, kind))
	return mix(h, maphash.String(seed, name))
}
