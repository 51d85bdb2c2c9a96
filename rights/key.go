package rights

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// KeySize is the length of a subject key: the first 16 bytes of an
// HMAC-SHA-256. A collision merges two subjects, which can only suppress too
// much, never too little.
const KeySize = 16

// MinKeyLen is the shortest registry key Open accepts.
const MinKeyLen = 16

// Key is the keyed hash of one subject: HMAC-SHA-256(registry key,
// kind || uvarint(len(tenant)) || tenant || identifier), truncated.
type Key [KeySize]byte

// Prefix is the kind and the first 8 bytes of the key in hex, the only form
// of a subject that logs and reports show ("identity:0a1b2c3d4e5f6a7b").
func (k Key) Prefix(kind Kind) string {
	return kind.String() + ":" + hex.EncodeToString(k[:8])
}

// Ref names the subjects of one record by their keys. Build it with
// Registry.Ref (or Registry.Key) once per record, or once per request for
// the parts that all records share (the device id of an SDK batch).
//
// The keys come first: Go copies this 56-byte struct with 16-byte moves and
// an overlapping tail move, and a key inside that overlap made CheckRef on
// a copied Ref 2.5× slower (failed store-to-load forwarding).
type Ref struct {
	Identity    Key
	Device      Key
	Tenant      string
	HasIdentity bool
	HasDevice   bool
}

// WithIdentity returns a copy of ref that names identity k.
func (ref Ref) WithIdentity(k Key) Ref {
	ref.Identity, ref.HasIdentity = k, true
	return ref
}

// WithDevice returns a copy of ref that names device k.
func (ref Ref) WithDevice(k Key) Ref {
	ref.Device, ref.HasDevice = k, true
	return ref
}

// keyer computes subject keys. It is HMAC (RFC 2104) written out over two
// sha256 digests whose key-block states are saved once: restoring a saved
// state is cheaper than crypto/hmac's Reset, and the pool makes it
// allocation-free and safe for concurrent use. key_test.go checks it
// against crypto/hmac.
type keyer struct {
	inner, outer []byte // marshaled sha256 states after the ipad / opad block
	pool         sync.Pool
}

// maxPooledBuf bounds the message buffer kept per pooled hasher; nothing
// is copied into it past this size (the id is not retained either way:
// the buffer is overwritten by the next call).
const maxPooledBuf = 256

type keyHasher struct {
	in, out hash.Hash
	buf     []byte
	sum     [sha256.Size]byte
}

func newKeyer(key []byte) (*keyer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("cannot use registry key: it has %d bytes, give at least %d random bytes", len(key), MinKeyLen)
	}
	block := make([]byte, sha256.BlockSize)
	if len(key) > sha256.BlockSize {
		s := sha256.Sum256(key)
		copy(block, s[:])
	} else {
		copy(block, key)
	}
	pad := func(b byte) []byte {
		p := make([]byte, len(block))
		for i := range block {
			p[i] = block[i] ^ b
		}
		h := sha256.New()
		h.Write(p)
		st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic("sha256 state cannot be marshaled: " + err.Error())
		}
		return st
	}
	k := &keyer{inner: pad(0x36), outer: pad(0x5c)}
	k.pool.New = func() any {
		return &keyHasher{in: sha256.New(), out: sha256.New(), buf: make([]byte, 0, maxPooledBuf)}
	}
	return k, nil
}

// key hashes one identifier. id is only read, never retained.
func (k *keyer) key(tenant string, kind Kind, id []byte) Key {
	h := k.pool.Get().(*keyHasher)
	restore(h.in, k.inner)
	h.buf = append(h.buf[:0], byte(kind))
	h.buf = binary.AppendUvarint(h.buf, uint64(len(tenant)))
	h.buf = append(h.buf, tenant...)
	if len(h.buf)+len(id) <= maxPooledBuf { // one Write is a little cheaper
		h.buf = append(h.buf, id...)
		h.in.Write(h.buf)
	} else {
		h.in.Write(h.buf)
		h.in.Write(id)
	}
	s := h.in.Sum(h.sum[:0])
	restore(h.out, k.outer)
	h.out.Write(s)
	s = h.out.Sum(h.sum[:0])
	var out Key
	copy(out[:], s)
	if cap(h.buf) <= maxPooledBuf { // do not pool a buffer grown by a huge tenant name
		k.pool.Put(h)
	}
	return out
}

// fingerprint identifies the registry key in the store (Store.Bind). It
// is a keyed hash of a constant, so it reveals nothing about the key.
func (k *keyer) fingerprint() Key {
	return k.key("", 0, []byte("consentry rights registry key check v1"))
}

func restore(h hash.Hash, state []byte) {
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic("sha256 state cannot be restored: " + err.Error())
	}
}
