package masking

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
)

// Memo remembers the results of the keyed transforms for values seen
// before: the HMAC-SHA-256 digest behind hash and the AES-SIV token behind
// tokenize (fields and findings inside scanned text alike). Analytics
// traffic repeats the same identifiers in every batch (a device id, an
// e-mail address, a user id), and each costs two SHA-256 blocks or several
// AES blocks per occurrence without it.
//
// An entry is found by a 128-bit keyed hash of the value (maphash with
// seeds drawn for each Transformer, so each tenant's keys hash apart) and
// belongs to the Transformer that computed it: it holds that Transformer's
// id and the digest or token, never the value. A Transformer built with
// new keys (a key rotation) has a new id and new seeds and shares nothing
// with the old one. The cache is bounded by its byte budget (limits
// transform_cache_bytes); ristretto evicts the least valuable entries.
//
// A Memo is safe for concurrent use and shared by every tenant's
// Transformer; Close it when the last of them is done. Transforms that
// still run after Close compute without it.
type Memo struct {
	c *ristretto.Cache[string, *memoEntry]
	// mu keeps Close apart from Get and Set: ristretto's Close closes the
	// channel Set sends on before it marks the cache closed, so a Set
	// racing it would panic (send on closed channel).
	mu     sync.RWMutex
	closed atomic.Bool
}

// memoEntry is one remembered result.
type memoEntry struct {
	owner uint64 // Transformer.id
	op    memoOp
	out   []byte // a digest or token text, never the value
}

type memoOp uint8

const (
	memoHMAC  memoOp = iota + 1 // out: the 32-byte HMAC-SHA-256
	memoToken                   // out: the token's base64url body
)

// memoEntryOverhead is what an entry costs besides out: the entry, its
// slice header and ristretto's bookkeeping (store and policy maps,
// admission counters).
const memoEntryOverhead = int64(unsafe.Sizeof(memoEntry{})) + 128

// NewMemo returns a Memo that holds at most maxBytes of entries.
func NewMemo(maxBytes int64) (*Memo, error) { return newMemo(maxBytes, false) }

func newMemo(maxBytes int64, metrics bool) (*Memo, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cannot create transform cache: budget %d bytes is not positive", maxBytes)
	}
	items := max(maxBytes/(memoEntryOverhead+48), 1)
	c, err := ristretto.NewCache(&ristretto.Config[string, *memoEntry]{
		NumCounters:        min(max(items*10, 1_000), 10_000_000),
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // entries are charged their real size, overhead included
		Metrics:            metrics,
		KeyToHash:          memoKeyHash,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create transform cache: %w", err)
	}
	return &Memo{c: c}, nil
}

// memoKeyHash reads the two halves of a 16-byte memo key: ristretto finds
// the entry by the first and checks the second.
func memoKeyHash(k string) (uint64, uint64) {
	b := unsafe.Slice(unsafe.StringData(k), len(k))
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
}

// Wait blocks until the results remembered so far are in the cache
// (ristretto applies them asynchronously); for tests and benchmarks.
func (m *Memo) Wait() {
	if m == nil {
		return
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.closed.Load() {
		m.c.Wait()
	}
}

// Close releases the cache; a closed Memo remembers nothing: Get misses
// and Set does nothing.
func (m *Memo) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed.Swap(true) {
		m.c.Close()
	}
}

func (m *Memo) get(k string) (*memoEntry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return nil, false
	}
	return m.c.Get(k)
}

func (m *Memo) set(k string, e *memoEntry) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.closed.Load() {
		m.c.Set(k, e, int64(len(e.out))+memoEntryOverhead)
	}
}

// transformerIDs numbers Transformers so that a memo entry is only ever
// read by the Transformer that wrote it.
var transformerIDs atomic.Uint64

// TransformerOption configures NewTransformer.
type TransformerOption func(*Transformer)

// WithMemo makes the Transformer remember its keyed results in m (nil: no
// memo).
func WithMemo(m *Memo) TransformerOption { return func(t *Transformer) { t.memo = m } }

// memoKey writes the 128-bit keyed hash of (op, in) into sc.key and returns
// it as a string view (valid until the next memoKey on sc).
func (t *Transformer) memoKey(sc *scratch, op memoOp, in []byte) string {
	s := &t.memoSeeds[op-1]
	binary.LittleEndian.PutUint64(sc.key[:], maphash.Bytes(s[0], in))
	binary.LittleEndian.PutUint64(sc.key[8:], maphash.Bytes(s[1], in))
	return unsafe.String(&sc.key[0], len(sc.key))
}

// memoGet returns the remembered result of (op, in), or nil.
func (t *Transformer) memoGet(sc *scratch, op memoOp, in []byte) ([]byte, string) {
	k := t.memoKey(sc, op, in)
	e, ok := t.memo.get(k)
	if !ok || e.owner != t.id || e.op != op {
		return nil, k
	}
	return e.out, k
}

// memoSet remembers out (copied) as the result of the key k.
func (t *Transformer) memoSet(k string, op memoOp, out []byte) {
	e := &memoEntry{owner: t.id, op: op, out: append([]byte(nil), out...)}
	t.memo.set(k, e)
}
