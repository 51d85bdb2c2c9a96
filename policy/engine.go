package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
)

// Engine evaluates the policy into cached plans. It is safe for concurrent
// use; Reload swaps policies atomically under running Plan calls.
type Engine struct {
	opts options
	log  *slog.Logger
	cur  atomic.Pointer[state] // read by every call

	// The hit counters are written by every call: keep them off the cache
	// line of cur so that cores do not invalidate each other's reads.
	_          [64]byte
	planHits   atomic.Uint64
	_          [56]byte
	recordHits atomic.Uint64
	_          [56]byte

	evaluations, planMisses, recordMisses, errs atomic.Uint64
	reloads, reloadErrors                       atomic.Uint64
	lastReloadOK                                atomic.Bool
	lastReloadAt                                atomic.Int64 // unix nanoseconds
	errLog                                      logLimiter
	reloadMu                                    sync.Mutex // serializes Reload, bundle activations and Close
	closed                                      atomic.Bool

	shapes    shapeLimiter  // new shapes per tenant and minute
	planSlots chan struct{} // requests evaluating Rego at once
}

var _ masking.Planner = (*Engine)(nil)

// Stats are the engine's counters since New.
type Stats struct {
	Evaluations  uint64 // Rego evaluations (plan and record cache misses)
	PlanHits     uint64
	PlanMisses   uint64
	RecordHits   uint64
	RecordMisses uint64
	Errors       uint64 // evaluations that failed closed (drop, rule consentry.error)
	Reloads      uint64 // successful reloads (Reload calls, and Watch reloads that changed the policy)
	ReloadErrors uint64 // failed reloads; the last good policy stayed active
	LastReloadOK bool
	LastReloadAt time.Time // the initial load or the last counted reload
	Revision     string
}

// state is one loaded policy revision with its caches.
type state struct {
	revision string // shown: the digest, or a bundle's revision
	digest   string // of the sources: unchanged sources keep the state
	data     map[string]any
	layered  bool     // compiled with the built-in modules (layer)
	classes  []string // named by the rules (Classes)
	// nameInDecision: field decisions may depend on the event name, so it
	// is part of plan and decision keys.
	nameInDecision bool
	decisionQ      rego.PreparedEvalQuery
	recordQ        rego.PreparedEvalQuery

	plans     *ristretto.Cache[uint64, *planEntry]
	decisions *ristretto.Cache[string, masking.Decision]
	records   *ristretto.Cache[uint64, *recordEntry]
	// hot holds the entries last served, in front of plans and records:
	// one probe of a fixed array per lookup instead of two keyed hashes
	// and a ristretto Get. Entries are compared in full (as ristretto's
	// are), so a collision costs a miss; only entries ristretto returned,
	// and plans of at most hotPlanBytes, are placed there.
	hot *hotEntries

	// Callers hold a reference while they use the caches; the last one out
	// of a retired state closes them (ristretto panics on use after Close).
	// refs is written by every call: padded away from the read-only fields.
	_         [64]byte
	refs      atomic.Int64
	_         [56]byte
	retired   atomic.Bool
	closeOnce sync.Once
}

// hotSize is the number of plan and of record entries kept in front of
// the ristretto caches (a power of two); hotPlanBytes bounds the plans kept
// there, so that the array pins at most hotSize*hotPlanBytes (2 MiB) of
// plans ristretto may have evicted.
const (
	hotSize      = 256
	hotPlanBytes = 8 << 10
)

type hotEntries struct {
	plans   [hotSize]atomic.Pointer[planEntry]
	records [hotSize]atomic.Pointer[recordEntry]
}

// hotIndex picks a hot slot from cheap features of the key: the fields'
// signature (a hash already), the name's length and first bytes.
func hotIndex(sig uint64, kind, name string) uint64 {
	x := sig ^ uint64(len(kind))<<40 ^ uint64(len(name))<<48
	for i := 0; i < len(name) && i < 8; i++ {
		x ^= uint64(name[i]) << (8 * i)
	}
	for i := 0; i < len(kind) && i < 4; i++ {
		x ^= uint64(kind[i]) << (8*i + 13)
	}
	x ^= x >> 31
	x *= 0x9e3779b97f4a7c15
	return x >> (64 - 8) // log2(hotSize)
}

type planEntry struct {
	tenant, format, kind, name string
	sig                        uint64
	plan                       *masking.Plan
}

type recordEntry struct {
	tenant, format, kind, name string
	decision                   masking.Decision
}

// matches reports whether ent is the plan of q's shape (name as keyed).
func (ent *planEntry) matches(q *masking.PlanQuery, name string) bool {
	return ent.sig == q.Sig && ent.tenant == q.Tenant && ent.format == q.Format &&
		ent.kind == q.Kind && ent.name == name && ent.plan.Matches(q.Fields)
}

// matches reports whether ent is the decision of this record identity.
func (ent *recordEntry) matches(tenant, format, kind, name string) bool {
	return ent.tenant == tenant && ent.format == format && ent.kind == kind && ent.name == name
}

// newCaches splits a budget of bytes between the plan (3/4), decision
// (1/8) and record (1/8) caches.
func (st *state) newCaches(bytes int64) error {
	st.hot = new(hotEntries)
	planBytes, otherBytes := max(bytes-bytes/4, 1), max(bytes/8, 1)
	var err error
	if st.plans, err = newCache[uint64, *planEntry](planBytes, planBytes/expectedPlanBytes); err != nil {
		return err
	}
	if st.decisions, err = newCache[string, masking.Decision](otherBytes, otherBytes/expectedDecisionCost); err != nil {
		st.plans.Close()
		return err
	}
	if st.records, err = newCache[uint64, *recordEntry](otherBytes, otherBytes/expectedRecordCost); err != nil {
		st.plans.Close()
		st.decisions.Close()
		return err
	}
	return nil
}

// newCache holds at most maxBytes of entries, each Set with its real size
// as cost; items is the expected number of entries.
func newCache[K ristretto.Key, V any](maxBytes, items int64) (*ristretto.Cache[K, V], error) {
	c, err := ristretto.NewCache(&ristretto.Config[K, V]{
		NumCounters:        min(max(items*10, 1_000), 10_000_000),
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // costs are the entries' real sizes, overhead included
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create policy cache: %w", err)
	}
	return c, nil
}

func (st *state) release() {
	if st.refs.Add(-1) == 0 && st.retired.Load() {
		st.closeOnce.Do(st.closeCaches)
	}
}

func (st *state) retire() {
	st.retired.Store(true)
	if st.refs.Load() == 0 {
		st.closeOnce.Do(st.closeCaches)
	}
}

func (st *state) closeCaches() {
	st.plans.Close()
	st.decisions.Close()
	st.records.Close()
}

// acquire returns the current state with a reference held, or nil when no
// policy is loaded (closed, or a bundle engine before its first bundle). The second load makes sure a state retired in between
// is not used.
func (e *Engine) acquire() *state {
	for {
		st := e.cur.Load()
		if st == nil {
			return nil
		}
		st.refs.Add(1)
		if e.cur.Load() == st {
			return st
		}
		st.release()
	}
}

// New loads, compiles (strict), prepares and smoke-tests the policy. Its
// errors name file:line for Rego problems.
//
// With WithBundle, New loads nothing: the engine is not Ready until the
// BundleSource activates its first bundle.
func New(opts ...Option) (*Engine, error) {
	e := &Engine{}
	for _, o := range opts {
		o(&e.opts)
	}
	if e.opts.fsys != nil && e.opts.dir != "" {
		return nil, errors.New("cannot create policy engine: use WithFS or WithDir, not both")
	}
	if b := e.opts.bundle; b != nil {
		if e.opts.fsys != nil || e.opts.dir != "" {
			return nil, errors.New("cannot create policy engine: use WithBundle or WithFS/WithDir, not both")
		}
		if !b.bound.CompareAndSwap(false, true) {
			return nil, errors.New("cannot create policy engine: the BundleSource already feeds another engine")
		}
	}
	e.opts.limits.ApplyDefaults()
	if e.opts.cacheBytes > 0 {
		e.opts.limits.PlanCacheBytes = e.opts.cacheBytes
	}
	slots := e.opts.limits.MaxConcurrentPlanning
	if slots <= 0 {
		slots = max(runtime.GOMAXPROCS(0)-1, 1)
	}
	e.planSlots = make(chan struct{}, slots)
	e.shapes.limit = e.opts.limits.MaxNewShapesPerTenantMinute
	e.log = e.opts.logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if b := e.opts.bundle; b != nil {
		b.engine = e
		return e, nil
	}
	if _, err := e.load(); err != nil {
		return nil, err
	}
	e.lastReloadOK.Store(true)
	e.lastReloadAt.Store(time.Now().UnixNano())
	return e, nil
}

var errBundleReload = errors.New("cannot reload policy: it comes from a bundle (policy.bundle), which is polled; BundleSource.Trigger polls now")

// load reads the sources and swaps in a new state if they changed.
func (e *Engine) load() (changed bool, err error) {
	if e.opts.bundle != nil {
		return false, errBundleReload
	}
	src, err := readSources(&e.opts, false)
	if err != nil {
		return false, err
	}
	return e.swap(src)
}

// swap validates src (compile, prepare, smoke test) and swaps it in, unless
// it is the policy already loaded. Callers hold reloadMu, or are New.
func (e *Engine) swap(src *sources) (changed bool, err error) {
	if cur := e.cur.Load(); cur != nil && cur.digest == src.digest && cur.revision == src.revision {
		return false, nil
	}
	st, err := build(src, e.opts.limits.PlanCacheBytes, !e.opts.skipValidation)
	if err != nil {
		return false, err
	}
	if old := e.cur.Swap(st); old != nil {
		old.retire()
	}
	e.log.Info("policy loaded", slog.String("policy_revision", st.revision))
	return true, nil
}

// Close stops the caches' goroutines. Plan and RecordDecision fail closed
// afterwards, and reloads and bundle activations are refused.
func (e *Engine) Close() {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.closed.Store(true)
	if old := e.cur.Swap(nil); old != nil {
		old.retire()
	}
}

// Revision is a short hex hash of the loaded Rego sources and data, or the
// revision of the active bundle (WithBundle); "" while none is loaded.
func (e *Engine) Revision() string {
	if st := e.cur.Load(); st != nil {
		return st.revision
	}
	return ""
}

// Ready reports whether a valid policy is loaded.
func (e *Engine) Ready() bool { return e.cur.Load() != nil }

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Evaluations:  e.evaluations.Load(),
		PlanHits:     e.planHits.Load(),
		PlanMisses:   e.planMisses.Load(),
		RecordHits:   e.recordHits.Load(),
		RecordMisses: e.recordMisses.Load(),
		Errors:       e.errs.Load(),
		Reloads:      e.reloads.Load(),
		ReloadErrors: e.reloadErrors.Load(),
		LastReloadOK: e.lastReloadOK.Load(),
		LastReloadAt: time.Unix(0, e.lastReloadAt.Load()),
		Revision:     e.Revision(),
	}
}

// TenantOption reads data.tenants[tenant][name] from the loaded data without
// evaluating Rego, e.g. TenantOption("acme-eu", "client_ip"). Values are JSON
// types: string, float64, bool, []any, map[string]any (shared: do not modify).
func (e *Engine) TenantOption(tenant, name string) (any, bool) {
	st := e.cur.Load()
	if st == nil {
		return nil, false
	}
	tenants, _ := st.data["tenants"].(map[string]any)
	t, _ := tenants[tenant].(map[string]any)
	v, ok := t[name]
	return v, ok
}

var (
	errNoPolicy = errors.New("cannot plan record: no policy loaded yet")
	errClosed   = errors.New("cannot use policy engine: it is closed")
)

// Plan returns the decisions for q's record shape. A cached plan is
// returned without allocating and without evaluating Rego.
func (e *Engine) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	st := e.acquire()
	if st == nil {
		if e.closed.Load() {
			return nil, errClosed
		}
		return nil, errNoPolicy
	}
	defer st.release()
	name := q.Name
	if !st.nameInDecision {
		name = ""
	}
	slot := &st.hot.plans[hotIndex(q.Sig, q.Kind, name)]
	if ent := slot.Load(); ent != nil && ent.matches(q, name) {
		e.planHits.Add(1)
		return ent.plan, nil
	}
	h := planKey(q.Tenant, q.Format, q.Kind, name, q.Sig)
	if ent, ok := st.plans.Get(h); ok && ent.matches(q, name) {
		e.planHits.Add(1)
		if ent.plan.Size() <= hotPlanBytes {
			slot.Store(ent)
		}
		return ent.plan, nil
	}
	e.planMisses.Add(1)
	return e.buildPlan(st, q, name, h)
}

func (e *Engine) buildPlan(st *state, q *masking.PlanQuery, name string, h uint64) (p *masking.Plan, err error) {
	if q.Classifier == nil {
		return nil, errors.New("cannot plan record: the query has no classifier")
	}
	lim := &e.opts.limits
	u := q.Usage
	now := time.Now()
	if u != nil {
		// Every new shape costs memory and maybe evaluations: charge the
		// request, then the tenant's minute.
		if u.NewShapes >= lim.MaxNewShapesPerRequest {
			return nil, budget.Err(budget.RequestShapes)
		}
		if !e.shapes.allow(q.Tenant, now) {
			u.Refused = true
			return nil, budget.Err(budget.TenantShapes)
		}
		u.NewShapes++
		if u.Deadline.IsZero() {
			u.Deadline = now.Add(lim.PolicyTimePerRequest)
		}
	}
	deadline := now.Add(lim.PolicyTimePerRequest)
	if u != nil {
		deadline = u.Deadline
	}
	defer func() {
		// A broken describer or classifier must not take the proxy down; the
		// caller drops the record's fields on error.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cannot plan record: describing a field panicked: %v", r)
		}
	}()
	ent := &planEntry{
		tenant: strings.Clone(q.Tenant),
		format: strings.Clone(q.Format),
		kind:   strings.Clone(q.Kind),
		name:   strings.Clone(name),
		sig:    q.Sig,
	}
	n := len(q.Fields)
	p = &masking.Plan{
		Fields:    append([]masking.FieldShape(nil), q.Fields...),
		Decisions: make([]masking.Decision, n),
		Classes:   make([]string, n),
		Paths:     make([]string, n),
	}
	var kb []byte
	set, partial, slot := false, false, false
	defer func() {
		if slot {
			<-e.planSlots
		}
	}()
	for i := range n {
		path, key := q.Describe(i)
		path, key = strings.Clone(path), strings.Clone(key)
		class := strings.Clone(q.Classifier.Classify(ent.kind, path, key))
		typ := p.Fields[i].Type.String()
		p.Paths[i], p.Classes[i] = path, class

		kb = decisionKey(kb[:0], ent.tenant, ent.format, ent.kind, ent.name, path, class, typ)
		if d, ok := st.decisions.Get(string(kb)); ok {
			p.Decisions[i] = d
			continue
		}
		// An evaluation: within the request's cap and policy time, and in
		// one of the planning slots, so that cold shapes leave cores to
		// cached traffic.
		over := budget.NumKinds
		switch {
		case u != nil && u.Evaluations >= lim.MaxEvalsPerRequest:
			over = budget.Evaluations
		case !slot && !e.acquireSlot(deadline):
			over = budget.EvalDeadline
		default:
			slot = true
			if !time.Now().Before(deadline) {
				over = budget.EvalDeadline
			}
		}
		if over == budget.NumKinds {
			if u != nil {
				u.Evaluations++
			}
			d, timedOut := e.evalField(st, ent, path, key, class, typ, deadline)
			if !timedOut {
				st.decisions.Set(string(kb), d, entryOverhead+int64(unsafe.Sizeof(d)))
				set = true
				p.Decisions[i] = d
				continue
			}
			over = budget.EvalDeadline
		}
		// Over budget: drop the field, and do not cache the plan, so that a
		// later request may decide it.
		p.Decisions[i] = budgetDrop
		partial = true
		if u != nil {
			u.Add(over, 1)
		}
	}
	ent.plan = p
	if !partial {
		st.plans.Set(h, ent, ent.size())
	}
	if set {
		st.decisions.Wait()
	}
	if !partial {
		st.plans.Wait() // without Wait, ristretto drops many buffered Sets
	}
	return p, nil
}

// size is what the plan cache charges for ent.
func (ent *planEntry) size() int64 {
	return entryOverhead + int64(unsafe.Sizeof(*ent)) +
		int64(len(ent.tenant)+len(ent.format)+len(ent.kind)+len(ent.name)) + ent.plan.Size()
}

// budgetDrop is the decision of a field left undecided by a budget.
var budgetDrop = masking.Decision{Action: masking.ActionDrop, Rule: budget.Rule}

// acquireSlot takes a planning slot, waiting at most until deadline.
func (e *Engine) acquireSlot(deadline time.Time) bool {
	select {
	case e.planSlots <- struct{}{}:
		return true
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case e.planSlots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// evalField evaluates one field's decision within EvalTimeout and
// deadline. timedOut reports a deadline that ran out: the caller drops the
// field under the budget rule and caches nothing.
func (e *Engine) evalField(st *state, ent *planEntry, path, key, class, typ string, deadline time.Time) (d masking.Decision, timedOut bool) {
	e.evaluations.Add(1)
	if dl := time.Now().Add(e.opts.limits.EvalTimeout); dl.Before(deadline) {
		deadline = dl
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if ctx.Err() != nil {
		return budgetDrop, true
	}
	d, err := st.evalDecision(ctx, ent.tenant, ent.format, ent.kind, ent.name, path, key, class, typ)
	if err != nil && ctx.Err() != nil {
		return budgetDrop, true
	}
	if err != nil {
		e.errs.Add(1)
		if ok, suppressed := e.errLog.allow(); ok {
			e.log.Warn("policy decision failed closed: field dropped",
				slog.String("tenant", ent.tenant), slog.String("format", ent.format),
				// Not the path or the event name: both come from the request
				// and may hold personal data.
				slog.String("kind", ent.kind), slog.String("class", class), slog.String("type", typ),
				slog.String("policy_revision", st.revision), slog.Uint64("suppressed", suppressed),
				slog.String("error", err.Error()))
		}
		return failClosed, false
	}
	return d, false
}

// shapeLimiter counts the plans each tenant builds per calendar minute.
type shapeLimiter struct {
	mu    sync.Mutex
	limit int
	win   map[string]*shapeWindow
}

type shapeWindow struct {
	minute int64
	n      int
}

// maxShapeWindows bounds the limiter's memory; tenants come from the
// configuration, so it is only reached by tools that invent tenants.
const maxShapeWindows = 4096

// allow counts one new shape for tenant and reports whether it is within
// the minute's budget.
func (l *shapeLimiter) allow(tenant string, now time.Time) bool {
	minute := now.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.win[tenant]
	if w == nil {
		if l.win == nil {
			l.win = map[string]*shapeWindow{}
		}
		if len(l.win) >= maxShapeWindows {
			for t, old := range l.win {
				if old.minute != minute {
					delete(l.win, t)
				}
			}
			if len(l.win) >= maxShapeWindows {
				return false
			}
		}
		w = &shapeWindow{minute: minute}
		l.win[strings.Clone(tenant)] = w
	}
	if w.minute != minute {
		w.minute, w.n = minute, 0
	}
	if w.n >= l.limit {
		return false
	}
	w.n++
	return true
}

// RecordDecision says whether a record is forwarded (keep) or dropped. It is
// cached per revision; errors fail closed (drop, rule consentry.error).
func (e *Engine) RecordDecision(tenant, format, kind, name string) masking.Decision {
	return e.RecordDecisionCharged(tenant, format, kind, name, nil)
}

// RecordDecisionCharged is RecordDecision for a request whose budget u
// pays the evaluation on a cache miss: within the request's evaluation cap
// and policy time. Past them, or when the evaluation itself runs out of
// time, it returns drop with rule consentry.budget, marks u refused (the
// request is answered 503 and retried: nothing is lost) and caches
// nothing, so that a slow moment never becomes a lasting refusal.
func (e *Engine) RecordDecisionCharged(tenant, format, kind, name string, u *budget.Usage) masking.Decision {
	st := e.acquire()
	if st == nil {
		return failClosed
	}
	defer st.release()
	slot := &st.hot.records[hotIndex(0, kind, name)]
	if ent := slot.Load(); ent != nil && ent.matches(tenant, format, kind, name) {
		e.recordHits.Add(1)
		return ent.decision
	}
	h := recordKey(tenant, format, kind, name)
	if ent, ok := st.records.Get(h); ok && ent.matches(tenant, format, kind, name) {
		e.recordHits.Add(1)
		slot.Store(ent)
		return ent.decision
	}
	e.recordMisses.Add(1)
	lim := &e.opts.limits
	deadline := time.Now().Add(lim.EvalTimeout)
	if u != nil && u.Active {
		if u.Deadline.IsZero() {
			u.Deadline = time.Now().Add(lim.PolicyTimePerRequest)
		}
		switch {
		case u.Evaluations >= lim.MaxEvalsPerRequest:
			u.Add(budget.Evaluations, 1)
			u.Refused = true
			return budgetDrop
		case !time.Now().Before(u.Deadline):
			u.Add(budget.EvalDeadline, 1)
			u.Refused = true
			return budgetDrop
		}
		u.Evaluations++
		if u.Deadline.Before(deadline) {
			deadline = u.Deadline
		}
	}
	ent := &recordEntry{
		tenant: strings.Clone(tenant),
		format: strings.Clone(format),
		kind:   strings.Clone(kind),
		name:   strings.Clone(name),
	}
	e.evaluations.Add(1)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	var d masking.Decision
	var err error
	timedOut := ctx.Err() != nil // no time left at all
	if !timedOut {
		d, err = st.evalRecord(ctx, ent.tenant, ent.format, ent.kind, ent.name)
		timedOut = err != nil && ctx.Err() != nil
	}
	cancel()
	if timedOut {
		if u != nil {
			u.Add(budget.EvalDeadline, 1)
			u.Refused = true
		}
		return budgetDrop // not cached: the next request decides again
	}
	if err != nil {
		e.errs.Add(1)
		if ok, suppressed := e.errLog.allow(); ok {
			e.log.Warn("policy record decision failed closed: record dropped",
				slog.String("tenant", ent.tenant), slog.String("format", ent.format),
				slog.String("kind", ent.kind),
				slog.String("policy_revision", st.revision), slog.Uint64("suppressed", suppressed),
				slog.String("error", err.Error()))
		}
		d = failClosed
	}
	ent.decision = d
	st.records.Set(h, ent, entryOverhead+int64(unsafe.Sizeof(*ent))+int64(len(ent.tenant)+len(ent.format)+len(ent.kind)+len(ent.name)+len(d.Rule)))
	st.records.Wait()
	return d
}

// decisionKey appends an unambiguous key (length-prefixed parts) for one
// field shape.
func decisionKey(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
	}
	return b
}

// logLimiter lets one warning a second through and counts the rest.
type logLimiter struct {
	last       atomic.Int64
	suppressed atomic.Uint64
}

func (l *logLimiter) allow() (bool, uint64) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// Decide evaluates one field shape without the caches (explain, rules
// test; not the request path). A decision that fails closed comes with the
// reason.
func (e *Engine) Decide(tenant, format, kind, name, path, key, class, typ string) (masking.Decision, error) {
	st := e.acquire()
	if st == nil {
		return failClosed, errNoPolicy
	}
	defer st.release()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.limits.EvalTimeout)
	defer cancel()
	return st.evalDecision(ctx, tenant, format, kind, name, path, key, class, typ)
}

// Classes are the field classes the loaded policy's rules name (the
// constants they compare input.field.class with), sorted.
func (e *Engine) Classes() []string {
	if st := e.cur.Load(); st != nil {
		return slices.Clone(st.classes)
	}
	return nil
}

// DecisionError evaluates one field shape again, without the caches, and
// returns why its decision fails closed (rule consentry.error), or nil. It
// is for explain and rules test, not for the request path.
func (e *Engine) DecisionError(tenant, format, kind, name, path, key, class, typ string) error {
	st := e.acquire()
	if st == nil {
		return errNoPolicy
	}
	defer st.release()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.limits.EvalTimeout)
	defer cancel()
	_, err := st.evalDecision(ctx, tenant, format, kind, name, path, key, class, typ)
	return err
}

// RecordDecisionError is DecisionError for a record decision.
func (e *Engine) RecordDecisionError(tenant, format, kind, name string) error {
	st := e.acquire()
	if st == nil {
		return errNoPolicy
	}
	defer st.release()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.limits.EvalTimeout)
	defer cancel()
	_, err := st.evalRecord(ctx, tenant, format, kind, name)
	return err
}
