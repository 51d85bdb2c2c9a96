package rights

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSessionCacheSlots is the default size of the link cache (about 33
// bytes per slot).
const DefaultSessionCacheSlots = 1 << 16

// Registry holds the data-subject state of every tenant. All methods are
// safe for concurrent use. A nil *Registry answers StatusUnknown (fail
// closed) and reports unhealthy.
type Registry struct {
	store Store
	keys  *keyer
	hot   atomic.Pointer[hotSet] // replaced whole on a reload
	sess  *sessionCache
	cons  *consentCache
	now   func() time.Time

	wmu    sync.Mutex // serialises commits; never held by readers
	closed atomic.Bool
	// Healthy = !closed && !broken && !stale, read afresh on every call.
	broken atomic.Bool // a store failure (embedded store): recovery runs
	stale  atomic.Bool // shared store: not confirmed current within the bound
	follow *follower   // shared store only

	// pubMu orders what reaches the link cache: commits (embedded store)
	// and feed applies (shared store) bump gen under it, and a read-only
	// pass caches what it read only if gen did not move meanwhile.
	pubMu sync.Mutex
	gen   atomic.Uint64
	// Embedded store: commits started and published (under pubMu, with a
	// channel closed at each publish), so that a read-only pass that saw a
	// commit waits until lookups see it too.
	commitsStarted atomic.Uint64
	published      uint64
	publishedCh    chan struct{}

	writes     chan *writeReq // to the group-commit writer
	refresh    *refreshQueue  // link refreshes waiting for a commit
	writerDone chan struct{}  // closed when the writer has stopped
	stats      struct{ commits, batched, expired, evicted, writeErrors atomic.Uint64 }
	links      LinkBounds
	hour       atomic.Uint32 // coarse clock of the link cache

	healthMu   sync.Mutex // guards failures, recovering and the start of recovery
	failures   uint64
	recovering bool
	retry      time.Duration // first delay between recovery attempts
	stop       chan struct{}
	done       sync.WaitGroup
	onRecover  func() // tests: called after a recovery
	// beforePublish (tests) runs between a commit and its publish.
	beforePublish func()
}

type config struct {
	now          func() time.Time
	sessSlots    int
	consSlots    int
	retry        time.Duration
	maxStaleness time.Duration
	pollEvery    time.Duration
	links        LinkBounds
}

// Option configures a Registry.
type Option func(*config)

// WithClock sets the clock used for timestamps when a call gives none.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSessionCache sets the number of slots of the device→identity link
// cache that lets Learn skip the store for links it has seen.
func WithSessionCache(slots int) Option {
	return func(c *config) { c.sessSlots = max(1, slots) }
}

// WithRecoveryDelay sets the first delay between attempts to recover from
// a store failure (it doubles up to 30 s). Default 1 s.
func WithRecoveryDelay(d time.Duration) Option {
	return func(c *config) { c.retry = max(time.Millisecond, d) }
}

// Open opens (or creates) the embedded store in dir and loads the registry.
// key is the registry's HMAC key (at least 16 bytes, keep it secret and
// stable: with another key every stored subject is lost, so Open refuses a
// store created with a different key). On error the caller has no registry
// and must fail closed; a nil *Registry does that by itself.
func Open(dir string, key []byte, opts ...Option) (*Registry, error) {
	st, err := OpenBolt(dir)
	if err != nil {
		return nil, err
	}
	r, err := New(st, key, opts...)
	if err != nil {
		st.Close()
		return nil, err
	}
	return r, nil
}

// New builds a registry over store and loads its hot set. The registry owns
// store from then on (Close closes it).
func New(store Store, key []byte, opts ...Option) (*Registry, error) {
	cfg := config{now: time.Now, sessSlots: DefaultSessionCacheSlots, consSlots: DefaultConsentCacheSlots, retry: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	k, err := newKeyer(key)
	if err != nil {
		return nil, err
	}
	fp := k.fingerprint()
	if err := store.Bind(BindRegistry, fp[:]); err != nil {
		if errors.Is(err, ErrKeyMismatch) {
			return nil, fmt.Errorf("cannot open rights registry: %w (use the key the store was created with)", err)
		}
		return nil, fmt.Errorf("cannot open rights registry: %w", err)
	}
	r := &Registry{
		store: store, keys: k, now: cfg.now, links: cfg.links.withDefaults(),
		retry: cfg.retry, stop: make(chan struct{}), writes: make(chan *writeReq, maxWriteBatch),
		publishedCh: make(chan struct{}),
		writerDone:  make(chan struct{}),
		refresh:     newRefreshQueue(),
	}
	r.hour.Store(hourOf(time.Now()))
	r.sess = newSessionCache(cfg.sessSlots, &r.hour)
	r.cons = newConsentCache(cfg.consSlots)
	pos, err := r.load()
	if err != nil {
		return nil, err
	}
	r.done.Add(1)
	go r.runWriter()
	r.done.Add(1)
	go r.runSweeper()
	if feed, ok := store.(Feed); ok {
		r.follow = newFollower(feed, &cfg, pos)
		r.done.Add(1)
		go r.runFollower()
	}
	return r, nil
}

// load reads the whole hot set from the store into a new set and swaps it
// in: lookups keep reading the old set meanwhile, never a half-built one.
// Callers hold what keeps writes out (wmu, or the follower's lock).
func (r *Registry) load() (uint64, error) {
	h := newHotSet()
	pos, err := r.store.Load(func(k Key, f Flags) error {
		h.loadUnlocked(k, f)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot load rights registry: %w", err)
	}
	r.pubMu.Lock()
	r.hot.Store(h)
	r.sess.clear()
	r.cons.clear()
	r.gen.Add(1)
	r.pubMu.Unlock()
	return pos, nil
}

// BindKey binds another key to the store under name (the fingerprint is a
// keyed hash of a constant: it reveals nothing about the key). A fleet binds
// every tenant's pseudonymisation keys, so that an instance configured with
// other keys refuses to start instead of writing other pseudonyms. It
// returns an error wrapping ErrKeyMismatch if the store holds another
// fingerprint under name.
func (r *Registry) BindKey(name string, key []byte) error {
	if name == BindRegistry {
		return fmt.Errorf("cannot bind key: the name %q is the registry's own", name)
	}
	if len(key) == 0 {
		return fmt.Errorf("cannot bind key %s: it is empty", name)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("consentry key fingerprint v1"))
	if err := r.store.Bind(name, mac.Sum(nil)); err != nil {
		return fmt.Errorf("cannot bind key %s: %w", name, err)
	}
	return nil
}

// fail reports a store failure. Over the embedded store it turns the
// registry unhealthy and starts the recovery loop: memory may then hold
// suppressions that are not durable, and lookups fail closed until recovery
// has reloaded memory from the store. Over a shared store memory only ever
// moves through the feed, so the failed request alone fails (503); the
// follower's staleness bound covers a database that stays away.
func (r *Registry) fail(what string, err error) error {
	if r.follow != nil {
		return fmt.Errorf("cannot %s: %w: %w", what, ErrUnavailable, err)
	}
	r.healthMu.Lock()
	r.broken.Store(true)
	r.failures++
	r.startRecoveryLocked()
	r.healthMu.Unlock()
	return fmt.Errorf("cannot %s: %w: %w (the registry fails closed until the store works again)", what, ErrUnavailable, err)
}

// startRecovery retries the store with backoff until a probe write
// succeeds, then reloads memory from the store and turns healthy again:
// a full disk that gets space back, or a database that returns, needs no
// restart.
// Called with healthMu held.
func (r *Registry) startRecoveryLocked() {
	if r.closed.Load() || r.recovering {
		return
	}
	r.recovering = true
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		delay := r.retry
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(delay):
			}
			if r.tryRecover() {
				if r.onRecover != nil {
					r.onRecover()
				}
				return
			}
			delay = min(2*delay, 30*time.Second)
		}
	}()
}

// tryRecover probes the store and reloads memory from it. It turns the
// registry healthy only if no failure happened meanwhile; otherwise the
// loop goes on.
func (r *Registry) tryRecover() bool {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.closed.Load() {
		return false
	}
	r.healthMu.Lock()
	failures := r.failures
	r.healthMu.Unlock()
	err := r.store.Update(func(tx StoreTx) error {
		return tx.Apply(&Change{Log: []LogEntry{{Time: r.now().UTC(), Action: ActionRecover, Actor: ActorSystem}}})
	})
	if err != nil {
		return false
	}
	if _, err := r.load(); err != nil {
		return false
	}
	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	if r.failures != failures {
		return false
	}
	r.broken.Store(false)
	r.recovering = false
	return true
}

// Close closes the store. Afterwards lookups answer StatusUnknown.
func (r *Registry) Close() error {
	if r == nil {
		return nil
	}
	r.healthMu.Lock()
	if r.closed.Swap(true) {
		r.healthMu.Unlock()
		return nil
	}
	r.healthMu.Unlock()
	close(r.stop)
	if r.follow != nil {
		r.follow.cancel()
	}
	if in, ok := r.store.(interface{ Interrupt() }); ok {
		in.Interrupt() // a reload or poll in flight gives up now
	}
	r.done.Wait()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.flushRefreshesLocked() // a clean stop loses no refresh
	return r.store.Close()
}

// Healthy is false when the store failed or the registry is closed. After a
// failed write memory may hold suppressions that are not durable: the proxy
// fails closed and reports not-ready until the recovery loop has reached
// the store again and reloaded memory from it.
func (r *Registry) Healthy() bool {
	return r != nil && !r.closed.Load() && !r.broken.Load() && !r.stale.Load()
}

// Len is the number of subjects in the hot set (suppressed subjects and
// devices whose current identity is suppressed).
func (r *Registry) Len() int {
	if r == nil {
		return 0
	}
	return r.hot.Load().len()
}

// Key returns the key of one identifier. id is read, never retained.
func (r *Registry) Key(tenant string, kind Kind, id []byte) Key {
	return r.keys.key(tenant, kind, id)
}

// Ref hashes the identifiers of one record; an empty identity or device
// means the record does not carry it. Views into request bodies are fine:
// nothing is retained. Costs one HMAC-SHA-256 per identifier.
func (r *Registry) Ref(tenant string, identity, device []byte) Ref {
	ref := Ref{Tenant: tenant}
	if len(identity) > 0 {
		ref.Identity, ref.HasIdentity = r.keys.key(tenant, KindIdentity, identity), true
	}
	if len(device) > 0 {
		ref.Device, ref.HasDevice = r.keys.key(tenant, KindDevice, device), true
	}
	return ref
}

// Check is Ref followed by CheckRef. It does not allocate.
func (r *Registry) Check(tenant string, identity, device []byte) Verdict {
	if !r.Healthy() {
		return Verdict{}
	}
	var ik, dk Key
	if len(identity) > 0 {
		ik = r.keys.key(tenant, KindIdentity, identity)
	}
	if len(device) > 0 {
		dk = r.keys.key(tenant, KindDevice, device)
	}
	return r.verdict(&ik, &dk, len(identity) > 0, len(device) > 0)
}

// CheckRef decides one record from the exact in-memory set; it does not
// allocate and never reads the store. The rule:
//
//   - a record naming an identity is suppressed if that identity is;
//   - a record carrying a device is suppressed if the device itself is
//     (device-level opt-out with no known identity, erasure by device id,
//     admin suppression of the device);
//   - a record carrying a device but naming no identity is also suppressed
//     if the identity last seen on that device (its session identity) is.
//
// So suppressing an identity covers all of its devices while it is their
// current user, and a device shared with another identity is clear for that
// other identity once it logs in.
func (r *Registry) CheckRef(ref Ref) Verdict {
	return r.verdict(&ref.Identity, &ref.Device, ref.HasIdentity, ref.HasDevice)
}

func (r *Registry) verdict(ik, dk *Key, hasIdentity, hasDevice bool) Verdict {
	if !r.Healthy() {
		return Verdict{}
	}
	hot := r.hot.Load()
	v := Verdict{Status: StatusClear}
	if hasIdentity {
		v.merge(hot.get(ik).direct())
	}
	if hasDevice {
		f := hot.get(dk)
		v.merge(f.direct())
		if !hasIdentity {
			v.merge(f.via())
		}
	}
	if !r.Healthy() { // the store failed while we looked
		return Verdict{}
	}
	return v
}
