package masking

import (
	"bytes"
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/detect"
)

// pathSeed makes path hashes stable within a process; plans are never
// persisted, so a per-process seed is enough.
var pathSeed = maphash.MakeSeed()

const arrayMark = 0x9e3779b97f4a7c15

// maxNodes bounds the work one record can cause.
const maxNodes = 1 << 16

// ErrTooManyFields is returned for records with more than maxNodes values.
var ErrTooManyFields = errors.New("record has too many fields")

// node is one value inside the record being rewritten.
type node struct {
	parent   int32 // -1 for the record root
	keyStart int32 // start of the key token, -1 for array elements
	keyEnd   int32
	valStart int32
	valEnd   int32
	slot     int32 // index into distinct shapes, leaves only; -1 for containers
	subEnd   int32 // index of the first node after this node's subtree
	typ      ValueType
	keyEsc   bool
	piiKey   bool // the key itself holds personal data, or is over budget (slot overSlot(kind)): the member is dropped
	// ord is the number of earlier siblings and prevEnd where the previous
	// one ended (-1: none); drops counts, in the emit pass, the children
	// of a container dropped so far. A drop removes a comma before it
	// when an earlier sibling stays (ord > the parent's drops).
	ord, prevEnd, drops int32
}

func (n *node) start() int32 {
	if n.keyStart >= 0 {
		return n.keyStart
	}
	return n.valStart
}

// Counter counts occurrences of names (classes, rules) by their interned
// id, so that counting a field costs an index increment.
type Counter struct {
	counts  []int
	touched []uint32
}

// Add counts n occurrences of the name with interned id.
func (c *Counter) Add(id uint32, n int) {
	if int(id) >= len(c.counts) {
		c.counts = append(c.counts, make([]int, int(id)+1-len(c.counts))...)
	}
	if c.counts[id] == 0 {
		c.touched = append(c.touched, id)
	}
	c.counts[id] += n
}

// Each calls fn for every counted name, in first-counted order. fn must not
// intern names.
func (c *Counter) Each(fn func(name string, n int)) {
	intern.RLock()
	names := intern.names
	intern.RUnlock()
	for _, id := range c.touched {
		fn(names[id], c.counts[id])
	}
}

// EachQuoted is Each with every name already quoted as a JSON string
// (AppendQuote), as the audit log writes them: names are quoted once, when
// they are interned.
func (c *Counter) EachQuoted(fn func(quoted string, n int)) {
	intern.RLock()
	quoted := intern.quoted
	intern.RUnlock()
	for _, id := range c.touched {
		fn(quoted[id], c.counts[id])
	}
}

// Reset empties c, keeping its storage.
func (c *Counter) Reset() {
	for _, id := range c.touched {
		c.counts[id] = 0
	}
	c.touched = c.touched[:0]
}

// The intern table holds class and rule names. Both come from the
// policy and the format adapters, never from request data, so it is
// bounded by the size of the configuration.
var intern struct {
	sync.RWMutex
	ids    map[string]uint32
	names  []string
	quoted []string // names[i] as a JSON string
}

// Intern returns the id of name, adding it on first use.
func Intern(name string) uint32 {
	intern.RLock()
	id, ok := intern.ids[name]
	intern.RUnlock()
	if ok {
		return id
	}
	intern.Lock()
	defer intern.Unlock()
	if id, ok := intern.ids[name]; ok {
		return id
	}
	if intern.ids == nil {
		intern.ids = map[string]uint32{}
	}
	id = uint32(len(intern.names))
	name = strings.Clone(name)
	intern.ids[name] = id
	intern.names = append(intern.names, name)
	intern.quoted = append(intern.quoted, string(AppendQuote(nil, []byte(name))))
	return id
}

// InternedName returns the name of an interned id.
func InternedName(id uint32) string {
	intern.RLock()
	defer intern.RUnlock()
	return intern.names[id]
}

// Stats accumulates what the rewriter did; it never holds a value.
type Stats struct {
	Fields   int
	Actions  [NumActions]int
	Findings int
	Errors   int // fields dropped because a transform failed
	Classes  Counter
	Rules    Counter
	// FindingClasses and FindingRules count the findings scan replaced
	// (or dropped with their value) by detector class ("contact.email")
	// and by detector rule ("phone.intl"); only with a FieldApplier.
	FindingClasses Counter
	FindingRules   Counter
	// OnFinding, when set, sees every finding counted, with its record's
	// kind and name, its field's path and the action applied to it
	// (explain uses it). It is configuration: Reset keeps it.
	OnFinding func(kind, name, path string, f Finding, a Action)
	// Budget is what the request spent of its budgets and where it hit
	// them; the planner charges it through PlanQuery.Usage.
	Budget budget.Usage
}

// Reset clears s for reuse.
func (s *Stats) Reset() {
	s.Fields, s.Findings, s.Errors = 0, 0, 0
	s.Actions = [NumActions]int{}
	s.Classes.Reset()
	s.Rules.Reset()
	s.FindingClasses.Reset()
	s.FindingRules.Reset()
	s.Budget.Reset()
}

// Applier turns a leaf's raw JSON token into its replacement under a
// decision (*Transformer implements it with the tenant's keys).
type Applier interface {
	Apply(dst []byte, d *Decision, raw []byte, typ ValueType) (out []byte, drop bool, findings int, err error)
}

// FieldApplier is an Applier that learns which field it transforms and
// reports the findings it replaced; the rewriter prefers ApplyField to
// Apply. *Transformer implements it; format adapters wrap it to clean
// values made of parts (URLs) as records of their own.
type FieldApplier interface {
	Applier
	ApplyField(dst []byte, d *Decision, raw []byte, typ ValueType, f *Field) (out []byte, drop bool, err error)
}

// Field is what the rewriter tells a FieldApplier about the value it
// transforms, and where the applier reports its findings.
type Field struct {
	Path  string // the field's path (Plan.Paths; "" when the plan has none)
	Stats *Stats // the request's stats, for appliers that rewrite records of their own
	// Looked: the value is a string the rewriter's quick reject for scan
	// (detect.Clean) did not pass; the applier's scan need not try it.
	Looked bool
	// Found: the applier appends each finding it replaced or dropped with
	// the value; the rewriter counts them by class and rule.
	Found []Finding
}

// Record describes the record being rewritten and the parts that decide.
type Record struct {
	Tenant      string
	Format      string
	Kind        string
	Name        string
	Classifier  Classifier
	Planner     Planner
	Transformer Applier
	// OnPlan, when set, sees the plan of every record (explain uses it).
	OnPlan func(*Plan)
}

// Rewriter applies policy plans to JSON records in one pass. It holds
// scratch space and is not safe for concurrent use: get one from
// AcquireRewriter per request.
type Rewriter struct {
	raw        []byte
	start, end int // the parsed record is raw[start:end]
	nodes      []node
	slotHits   []int32 // leaves per distinct shape, for counting
	distinct   []FieldShape
	table      []int32 // open addressing over distinct, value = slot+1
	keyBuf     []byte
	finds      []Finding
	field      Field
	slotNode   []int32 // first leaf node of each distinct shape (Parse; describe, emit)
	query      PlanQuery
	lim        *budget.Limits
	// Key and path budgets of the record being parsed.
	maxKey, maxDepth, maxPath int
	// cleanKeys holds the hashes of keys found to hold no personal data:
	// records of a batch repeat their keys, and a hash (seeded, 64 bits)
	// already stands for a field's path in plans.
	cleanKeys [256]uint64
	// scanned holds, by their hash (as cleanKeys), the values a scan gave
	// back unchanged with nothing replaced: under detector options o,
	// every finding (if any) was of a class the params keep (keeps, the
	// plan's fingerprint of those classes). Holding o keeps its address
	// from being reused.
	scanned [256]scanned
	// dups: a shape of the parsed record has several leaves; piiKeys: a
	// member is dropped for its key (Parse); emitted: Emit ran since (its
	// per-node state needs a reset).
	dups, piiKeys, emitted bool
	// numMax is the byte length of the longest number token of the
	// parsed record, or math.MaxInt when one has an exponent or a member
	// was skipped unread (see PlainNumbers).
	numMax int
}

// overSlot marks a member dropped by budget k in node.slot (< -1).
func overSlot(k budget.Kind) int32 { return -2 - int32(k) }

var rewriterPool = sync.Pool{New: func() any { return NewRewriter() }}

// AcquireRewriter returns a pooled Rewriter; release it with ReleaseRewriter.
func AcquireRewriter() *Rewriter { return rewriterPool.Get().(*Rewriter) }

// ReleaseRewriter returns rw to the pool, unless its scratch grew beyond
// the limits' MaxPooledBufferBytes (then the garbage collector takes it).
func ReleaseRewriter(rw *Rewriter) {
	rw.raw = nil
	rw.nodes = rw.nodes[:0]
	rw.query.Classifier, rw.query.Kind, rw.query.Name, rw.query.Tenant = nil, "", "", ""
	rw.query.Usage = nil
	limit := rw.limits().MaxPooledBufferBytes
	rw.lim = nil
	if rw.footprint() > limit {
		return
	}
	rewriterPool.Put(rw)
}

// footprint is the memory rw's scratch holds.
func (rw *Rewriter) footprint() int {
	return cap(rw.nodes)*int(unsafe.Sizeof(node{})) + cap(rw.slotHits)*4 + cap(rw.distinct)*int(unsafe.Sizeof(FieldShape{})) +
		cap(rw.table)*4 + cap(rw.keyBuf) + cap(rw.finds)*int(unsafe.Sizeof(Finding{})) + cap(rw.slotNode)*4
}

// defaultLimits apply to a Rewriter without SetLimits.
var defaultLimits = budget.Defaults()

// SetLimits sets the key and path budgets Parse enforces and the pooling
// bound of ReleaseRewriter; nil restores the defaults. l must stay
// unchanged while rw uses it.
func (rw *Rewriter) SetLimits(l *budget.Limits) { rw.lim = l }

// Limits returns the budgets set with SetLimits (nil: the defaults).
func (rw *Rewriter) Limits() *budget.Limits { return rw.lim }

func (rw *Rewriter) limits() *budget.Limits {
	if rw.lim != nil {
		return rw.lim
	}
	return &defaultLimits
}

// NewRewriter returns an empty Rewriter.
func NewRewriter() *Rewriter {
	rw := &Rewriter{table: make([]int32, 64)}
	rw.query.describe = rw.describe
	return rw
}

// Rewrite validates the JSON object raw, asks rec.Planner for the plan of
// its shape and appends the rewritten object to dst. Every leaf at every
// depth is decided, so duplicate keys and keys written with escapes are
// masked like their plain twins. On a planner error every leaf is dropped.
// A syntax error returns dst unchanged and a *SyntaxError.
func (rw *Rewriter) Rewrite(dst, raw []byte, rec *Record, st *Stats) ([]byte, error) {
	end, err := rw.Parse(raw, 0)
	if err != nil {
		return dst, err
	}
	if j := SkipSpace(raw, end); j != len(raw) {
		return dst, synErr(j, "trailing data after record")
	}
	return append(rw.Emit(dst, rec, st), raw[end:]...), nil
}

// Parse validates the JSON object that starts at buf[start] (after optional
// whitespace) and indexes it for Lookup and Emit. It returns the index just
// past the object. buf must stay unchanged until Emit.
func (rw *Rewriter) Parse(buf []byte, start int) (int, error) {
	rw.raw = buf
	rw.nodes = rw.nodes[:0]
	rw.distinct = rw.distinct[:0]
	rw.slotNode = rw.slotNode[:0]
	rw.numMax = 0
	rw.dups, rw.emitted, rw.piiKeys = false, false, false
	lim := rw.limits()
	rw.maxKey, rw.maxDepth, rw.maxPath = lim.MaxKeyBytes, lim.MaxPathDepth, lim.MaxPathBytes
	i := SkipSpace(buf, start)
	rw.start = start
	if i >= len(buf) || buf[i] != '{' {
		return 0, synErr(i, "record is not a JSON object")
	}
	end, err := rw.walk(i, -1, -1, -1, false, 0, 0, 0)
	rw.clearTable()
	if err != nil {
		rw.nodes = rw.nodes[:0]
		rw.numMax = math.MaxInt
		return 0, err
	}
	rw.end = end
	return end, nil
}

// Emit applies the plan for the parsed record's shape and appends the
// rewritten record to dst.
func (rw *Rewriter) Emit(dst []byte, rec *Record, st *Stats) []byte {
	var sig uint64
	for _, f := range rw.distinct {
		sig = bits.RotateLeft64(sig, 11) ^ f.Hash ^ uint64(f.Type)*0xff51afd7ed558ccd
	}
	q := &rw.query
	q.Tenant, q.Format, q.Kind, q.Name = rec.Tenant, rec.Format, rec.Kind, rec.Name
	q.Sig, q.Fields, q.Classifier = sig, rw.distinct, rec.Classifier
	q.Usage = nil
	if st.Budget.Active {
		q.Usage = &st.Budget
	}
	plan, perr := rec.Planner.Plan(q)
	if perr == nil && (plan == nil || !plan.Matches(rw.distinct)) {
		perr = errors.New("planner returned a plan for another shape")
	}
	if perr == nil && rec.OnPlan != nil {
		rec.OnPlan(plan)
	}
	return rw.emit(dst, plan, perr, rec, st)
}

// PlainNumbers reports whether every number token of the parsed record
// has at most maxLen bytes and no exponent. It is false when a member was
// validated without being indexed (a key over budget or holding personal
// data): callers that must bound numbers scan the record then. Parse
// learns it for free, which spares them a second pass over the bytes.
func (rw *Rewriter) PlainNumbers(maxLen int) bool { return rw.numMax <= maxLen }

// Lookup returns the node of the member key in the object node parent (0 is
// the record), or -1. With duplicate keys it returns the last occurrence,
// as most JSON decoders do.
func (rw *Rewriter) Lookup(parent int32, key string) int32 {
	found := int32(-1)
	if parent < 0 || int(parent) >= len(rw.nodes) || rw.nodes[parent].typ != TypeObject {
		return -1
	}
	for j := parent + 1; j < rw.nodes[parent].subEnd; j = rw.nodes[j].subEnd {
		if rw.keyIs(&rw.nodes[j], key) {
			found = j
		}
	}
	return found
}

// Children calls fn for every member of the object node parent with its
// decoded key (valid during the call).
func (rw *Rewriter) Children(parent int32, fn func(key []byte, child int32)) {
	if parent < 0 || int(parent) >= len(rw.nodes) || rw.nodes[parent].typ != TypeObject {
		return
	}
	for j := parent + 1; j < rw.nodes[parent].subEnd; j = rw.nodes[j].subEnd {
		n := &rw.nodes[j]
		key := rw.raw[n.keyStart+1 : n.keyEnd-1]
		if n.keyEsc {
			rw.keyBuf, _ = AppendUnquote(rw.keyBuf[:0], rw.raw[n.keyStart:n.keyEnd])
			key = rw.keyBuf
		}
		fn(key, j)
	}
}

func (rw *Rewriter) keyIs(n *node, key string) bool {
	if n.keyEnd-n.keyStart-2 != int32(len(key)) && !n.keyEsc {
		return false
	}
	k := rw.raw[n.keyStart+1 : n.keyEnd-1]
	if !n.keyEsc {
		return string(k) == key
	}
	rw.keyBuf, _ = AppendUnquote(rw.keyBuf[:0], rw.raw[n.keyStart:n.keyEnd])
	return string(rw.keyBuf) == key
}

// Type is the JSON type of node n.
func (rw *Rewriter) Type(n int32) ValueType {
	if n < 0 || int(n) >= len(rw.nodes) {
		return TypeNull
	}
	return rw.nodes[n].typ
}

// Value returns the value of a string node (decoded; a view into the
// document when it has no escapes) or the text of a number node, or nil.
// The result is valid until the next Parse.
func (rw *Rewriter) Value(n int32) []byte {
	if n < 0 || int(n) >= len(rw.nodes) {
		return nil
	}
	nd := &rw.nodes[n]
	v := rw.raw[nd.valStart:nd.valEnd]
	switch nd.typ {
	case TypeNumber:
		return v
	case TypeString:
		if !hasByte(v, '\\') {
			return v[1 : len(v)-1]
		}
		out, _ := AppendUnquote(nil, v)
		return out
	}
	return nil
}

// Raw returns the raw JSON of node n.
func (rw *Rewriter) Raw(n int32) []byte {
	if n < 0 || int(n) >= len(rw.nodes) {
		return nil
	}
	return rw.raw[rw.nodes[n].valStart:rw.nodes[n].valEnd]
}

// walk records the container at raw[i] ('{' or '[') and everything in it
// as nodes. parent is its parent node (-1 for the record), ks/ke its key
// token span (or -1), h its path hash, depth its depth and plen the byte
// length of its path (the budgets of its members add to it). Scalar
// members are recorded in the loop: one call per container, not per value.
func (rw *Rewriter) walk(i int, parent int32, ks, ke int, kesc bool, h uint64, depth, plen int) (int, error) {
	raw := rw.raw
	if depth >= MaxDepth {
		return 0, synErr(i, "nesting too deep")
	}
	t, closer := TypeObject, byte('}')
	if raw[i] == '[' {
		t, closer = TypeArray, ']'
	}
	idx := int32(len(rw.nodes))
	rw.nodes = append(rw.nodes, node{parent: parent, keyStart: int32(ks), keyEnd: int32(ke), valStart: int32(i), typ: t, keyEsc: kesc, slot: -1})
	j := SkipSpace(raw, i+1)
	if j < len(raw) && raw[j] == closer {
		j++
		rw.nodes[idx].valEnd = int32(j)
		rw.nodes[idx].subEnd = int32(len(rw.nodes))
		return j, nil
	}
	depth++ // of the members
	ord, prevEnd := int32(0), int32(-1)
	for {
		cks, cke, esc := -1, -1, false
		vs := j
		if t == TypeObject {
			if j >= len(raw) || raw[j] != '"' {
				return 0, synErr(j, "expected object key")
			}
			cks = j
			var err error
			if cke, esc, err = scanString(raw, j); err != nil {
				return 0, err
			}
			// Compact JSON ("k":v) decided by one compare each.
			if j = cke; j >= len(raw) || raw[j] != ':' {
				if j = SkipSpace(raw, j); j >= len(raw) || raw[j] != ':' {
					return 0, synErr(j, "expected ':' after object key")
				}
			}
			vs = SkipSpace(raw, j+1)
		}
		if len(rw.nodes) >= maxNodes {
			return 0, ErrTooManyFields
		}
		// The key and path budgets, measured as sent.
		over, cplen := int32(0), plen
		if cks >= 0 {
			klen := cke - cks - 2
			if klen > rw.maxKey {
				over = overSlot(budget.KeyBytes)
			}
			if cplen > 0 {
				cplen++
			}
			cplen += klen
		} else {
			cplen += 2
		}
		if over == 0 {
			if depth > rw.maxDepth {
				over = overSlot(budget.PathDepth)
			} else if cplen > rw.maxPath {
				over = overSlot(budget.PathBytes)
			}
		}
		ch := h
		if over == 0 {
			if cks >= 0 {
				// Escaped keys hash as their decoded name.
				key := raw[cks+1 : cke-1]
				if esc {
					var err error
					if rw.keyBuf, err = AppendUnquote(rw.keyBuf[:0], raw[cks:cke]); err != nil {
						return 0, err
					}
					key = rw.keyBuf
				}
				kh := maphash.Bytes(pathSeed, key)
				if e := &rw.cleanKeys[kh%uint64(len(rw.cleanKeys))]; *e != kh || kh == 0 { // 0: an empty entry
					if mayHoldFinding(key) && len(Detect(rw.finds[:0], key)) > 0 {
						// Personal data in the key: the member will be
						// dropped whole (slot -1, below).
						over = -1
					} else {
						*e = kh
					}
				}
				ch = mix64(h ^ kh)
			} else {
				ch = mix64(h ^ arrayMark)
			}
		}
		n := int32(len(rw.nodes))
		switch {
		case over != 0:
			// Over a budget or a key holding personal data: validate the
			// value, but keep the member out of the shape (no slot, no
			// path, no key read) and drop it whole.
			e, vt, err := skipValue(raw, vs, depth)
			if err != nil {
				return 0, err
			}
			rw.numMax = math.MaxInt
			rw.piiKeys = true
			rw.nodes = append(rw.nodes, node{parent: idx, keyStart: int32(cks), keyEnd: int32(cke), valStart: int32(vs), valEnd: int32(e), subEnd: n + 1, typ: vt, keyEsc: esc, piiKey: true, slot: over, ord: ord, prevEnd: prevEnd})
			j = e
		case vs >= len(raw):
			return 0, synErr(vs, "unexpected end of input")
		case raw[vs] == '{' || raw[vs] == '[':
			var err error
			if j, err = rw.walk(vs, idx, cks, cke, esc, ch, depth, cplen); err != nil {
				return 0, err
			}
			rw.nodes[n].ord, rw.nodes[n].prevEnd = ord, prevEnd
		default:
			var e int
			var vt ValueType
			var err error
			switch c := raw[vs]; {
			case c == '"':
				e, _, err = scanString(raw, vs)
				vt = TypeString
			case c == '-' || c-'0' <= 9:
				// Numbers are noted for PlainNumbers.
				var exp bool
				e, exp, err = scanNumber(raw, vs)
				vt = TypeNumber
				if l := e - vs; exp {
					rw.numMax = math.MaxInt
				} else if l > rw.numMax {
					rw.numMax = l
				}
			default:
				e, vt, _, err = scanScalar(raw, vs)
			}
			if err != nil {
				return 0, err
			}
			slot := rw.slotFor(ch, vt, n)
			// Written in place: no node value built and copied.
			if int(n) == cap(rw.nodes) {
				rw.nodes = slices.Grow(rw.nodes, 1)
			}
			rw.nodes = rw.nodes[:n+1]
			nd := &rw.nodes[n]
			nd.parent, nd.keyStart, nd.keyEnd, nd.valStart, nd.valEnd = idx, int32(cks), int32(cke), int32(vs), int32(e)
			nd.slot, nd.subEnd, nd.ord, nd.prevEnd, nd.drops = slot, n+1, ord, prevEnd, 0
			nd.typ, nd.keyEsc, nd.piiKey = vt, esc, false
			j = e
		}
		ord, prevEnd = ord+1, int32(j)
		if j >= len(raw) || raw[j] != ',' {
			if j = SkipSpace(raw, j); j >= len(raw) {
				return 0, synErr(j, "unterminated object or array")
			}
		}
		if raw[j] == ',' {
			j = SkipSpace(raw, j+1)
			continue
		}
		if raw[j] != closer {
			return 0, synErr(j, "expected ',' or closing bracket")
		}
		j++
		break
	}
	rw.nodes[idx].valEnd = int32(j)
	rw.nodes[idx].subEnd = int32(len(rw.nodes))
	return j, nil
}

// mix64 is a bijective, non-linear finaliser (SplitMix64). Chaining path
// steps through it means no arrangement of keys and arrays can cancel out to
// another path's hash: a linear combination (rotate and xor) let a crafted
// nesting reproduce a kept field's hash and borrow its decision.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// slotFor returns the index of (h, t) in rw.distinct, adding it if new
// with leaf node n as its first.
func (rw *Rewriter) slotFor(h uint64, t ValueType, n int32) int32 {
	if 2*(len(rw.distinct)+1) > len(rw.table) {
		rw.growTable()
	}
	mask := uint64(len(rw.table) - 1)
	key := h ^ uint64(t)*0xc4ceb9fe1a85ec53
	for p := key & mask; ; p = (p + 1) & mask {
		v := rw.table[p]
		if v == 0 {
			rw.distinct = append(rw.distinct, FieldShape{Hash: h, Type: t})
			rw.slotNode = append(rw.slotNode, n)
			rw.table[p] = int32(len(rw.distinct))
			return int32(len(rw.distinct) - 1)
		}
		if f := rw.distinct[v-1]; f.Hash == h && f.Type == t {
			rw.dups = true
			return v - 1
		}
	}
}

func (rw *Rewriter) growTable() {
	rw.table = make([]int32, 2*len(rw.table))
	mask := uint64(len(rw.table) - 1)
	for i, f := range rw.distinct {
		key := f.Hash ^ uint64(f.Type)*0xc4ceb9fe1a85ec53
		p := key & mask
		for rw.table[p] != 0 {
			p = (p + 1) & mask
		}
		rw.table[p] = int32(i + 1)
	}
}

// clearTable zeroes the used entries so the table is empty for the next record.
func (rw *Rewriter) clearTable() {
	if len(rw.distinct) > len(rw.table)/8 {
		clear(rw.table)
		return
	}
	mask := uint64(len(rw.table) - 1)
	for _, f := range rw.distinct {
		key := f.Hash ^ uint64(f.Type)*0xc4ceb9fe1a85ec53
		for p := key & mask; rw.table[p] != 0; p = (p + 1) & mask {
			rw.table[p] = 0
		}
	}
}

// describe builds the path and key of distinct field i (plan misses only).
func (rw *Rewriter) describe(i int) (path, key string) {
	if len(rw.slotNode) != len(rw.distinct) {
		// Index the first leaf of each shape once per record, so that
		// describing every field of a wide record stays linear.
		rw.slotNode = rw.slotNode[:0]
		for range rw.distinct {
			rw.slotNode = append(rw.slotNode, -1)
		}
		for li := range rw.nodes {
			if s := rw.nodes[li].slot; s >= 0 && rw.slotNode[s] < 0 {
				rw.slotNode[s] = int32(li)
			}
		}
	}
	if i < 0 || i >= len(rw.slotNode) || rw.slotNode[i] < 0 {
		return "", ""
	}
	return rw.pathOf(rw.slotNode[i])
}

func (rw *Rewriter) pathOf(idx int32) (path, key string) {
	var segs []string
	for n := idx; n >= 0 && rw.nodes[n].parent >= 0; n = rw.nodes[n].parent {
		nd := &rw.nodes[n]
		if nd.keyStart < 0 {
			segs = append(segs, "[]")
			continue
		}
		k, err := AppendUnquote(nil, rw.raw[nd.keyStart:nd.keyEnd])
		if err != nil {
			k = nil
		}
		if key == "" {
			key = string(k)
		}
		segs = append(segs, string(k))
	}
	var b strings.Builder
	for j := len(segs) - 1; j >= 0; j-- {
		if segs[j] != "[]" && b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(segs[j])
	}
	return b.String(), key
}

// emit writes the record with every decision applied, splicing unchanged
// bytes through as they are.
func (rw *Rewriter) emit(dst []byte, plan *Plan, perr error, rec *Record, st *Stats) []byte {
	nodes := rw.nodes
	if rw.emitted {
		// Parse leaves them clear; a second Emit of the same parse resets.
		for i := range nodes {
			nodes[i].drops = 0
		}
	}
	rw.emitted = true
	// Leaves per shape, counted only when a shape has several (arrays,
	// duplicate keys); otherwise each has one and the plan's tallies count.
	var hits []int32
	if rw.dups {
		hits = rw.slotHits[:0]
		for range rw.distinct {
			hits = append(hits, 0)
		}
		rw.slotHits = hits
	}
	// rec stays out of e: e's contents escape (to the Applier), rec need not.
	e := emitter{rw: rw, dst: dst, cursor: int32(rw.start), plan: plan, perr: perr, st: st, tr: rec.Transformer, kind: rec.Kind, name: rec.Name}
	e.fa, _ = rec.Transformer.(FieldApplier)
	if qs, ok := rec.Transformer.(QuickScanner); ok {
		e.quick = qs.QuickScan()
	}
	rw.field.Stats = st
	if perr == nil {
		plan.ids() // and the plan's other per-field tables
	}
	if perr == nil && !rw.dups && !rw.piiKeys {
		// Each shape has one leaf, slotNode[s] (slots in node order), and
		// no key is dropped: only the leaves the plan does not keep need a
		// visit.
		st.Fields += len(rw.distinct)
		st.Actions[ActionKeep] += plan.keeps
		for _, s := range plan.active {
			e.leaf(rw.slotNode[s], &plan.Decisions[s])
		}
	} else {
		for li := int32(1); li < int32(len(nodes)); li++ {
			n := &nodes[li]
			if n.piiKey {
				// Personal data in a key ("jane@example.com": true): the
				// whole member goes, whatever its value's decision.
				st.Fields++
				st.Actions[ActionDrop]++
				if n.slot < -1 {
					st.Budget.Add(budget.Kind(-2-n.slot), 1)
					st.Rules.Add(budgetRuleID, 1)
				}
				e.drop(li)
				li = n.subEnd - 1
				continue
			}
			if n.slot < 0 { // containers are kept; their leaves decide
				continue
			}
			st.Fields++
			if hits != nil {
				hits[n.slot]++
			}
			d := &failClosed
			if perr == nil {
				d = &plan.Decisions[n.slot]
			}
			if d.Action == ActionKeep {
				st.Actions[ActionKeep]++
				continue
			}
			e.leaf(li, d)
		}
	}
	dst = e.dst
	if perr == nil {
		classIDs, ruleIDs := plan.ids()
		if hits == nil {
			for _, t := range plan.classTally {
				st.Classes.Add(t.id, int(t.n))
			}
			for _, t := range plan.ruleTally {
				st.Rules.Add(t.id, int(t.n))
			}
		}
		for slot, n := range hits {
			if n > 0 {
				st.Classes.Add(classIDs[slot], int(n))
				st.Rules.Add(ruleIDs[slot], int(n))
			}
		}
	} else if len(rw.distinct) > 0 {
		if k, ok := budget.KindOf(perr); ok {
			leaves := len(rw.distinct)
			if hits != nil {
				leaves = 0
				for _, n := range hits {
					leaves += int(n)
				}
			}
			st.Budget.Add(k, leaves)
			st.Rules.Add(budgetRuleID, leaves)
		} else {
			st.Rules.Add(failClosedID, len(rw.nodes)-1)
		}
	}
	return append(dst, rw.raw[e.cursor:rw.end]...)
}

// scanned is an entry of Rewriter.scanned.
type scanned struct {
	h, keeps uint64
	o        *detect.Options
	n        int32 // the value's length: a hash collision must match it too
}

// detectOptions are the detector options a scan under p uses (nil is
// detect.Default).
func detectOptions(p *Params) *detect.Options {
	if p == nil || p.Detect == nil {
		return detect.Default
	}
	return p.Detect
}

// emitter is the state of one emit pass.
type emitter struct {
	rw     *Rewriter
	dst    []byte
	cursor int32 // raw[cursor:] is not written yet
	plan   *Plan
	perr   error
	st     *Stats
	tr     Applier
	kind   string // the record's, for Stats.OnFinding
	name   string
	fa     FieldApplier
	quick  bool
}

// leaf applies decision d (not keep) to leaf li.
func (e *emitter) leaf(li int32, d *Decision) {
	rw, st, raw := e.rw, e.st, e.rw.raw
	n := &rw.nodes[li]
	looked := false
	var vh, keeps uint64
	var o *detect.Options
	var memo *scanned
	if e.quick && e.perr == nil && d.Action == ActionScan && (d.Params == nil || !d.Params.URL) && (n.typ == TypeString || n.typ == TypeNumber) {
		if n.typ == TypeString && scanKeeps(d.Params, raw[n.valStart+1:n.valEnd-1]) {
			// A word no detector could start on: scan would give it back
			// unchanged; it stays in the bytes copied through.
			st.Actions[ActionScan]++
			return
		}
		looked = n.typ == TypeString
		// Records of a batch repeat values (versions, device data): one
		// the detectors found nothing in under the same options is kept
		// as it is without them.
		vh, o, keeps = maphash.Bytes(pathSeed, raw[n.valStart:n.valEnd]), detectOptions(d.Params), e.plan.scanKeeps[n.slot]
		memo = &rw.scanned[vh%uint64(len(rw.scanned))]
		if memo.h == vh && vh != 0 && memo.n == n.valEnd-n.valStart && memo.o == o && memo.keeps == keeps {
			st.Actions[ActionScan]++
			return
		}
	}
	if d.Action != ActionDrop {
		mark := len(e.dst)
		dst := append(e.dst, raw[e.cursor:n.valStart]...)
		vstart := len(dst)
		var drop bool
		var found int
		var err error
		if e.fa != nil {
			fd := &rw.field
			fd.Path, fd.Found, fd.Looked = "", fd.Found[:0], looked
			if e.perr == nil && int(n.slot) < len(e.plan.Paths) {
				fd.Path = e.plan.Paths[n.slot]
			}
			dst, drop, err = e.fa.ApplyField(dst, d, raw[n.valStart:n.valEnd], n.typ, fd)
			if err == nil {
				found = len(fd.Found)
				countFindings(st, e.kind, e.name, d, fd)
			}
		} else {
			dst, drop, found, err = e.tr.Apply(dst, d, raw[n.valStart:n.valEnd], n.typ)
		}
		if err == nil && !drop {
			st.Actions[d.Action]++
			st.Findings += found
			e.dst, e.cursor = dst, n.valEnd
			if memo != nil && found == 0 && string(dst[vstart:]) == string(raw[n.valStart:n.valEnd]) {
				*memo = scanned{h: vh, o: o, keeps: keeps, n: n.valEnd - n.valStart}
			}
			return
		}
		if err == nil {
			st.Findings += found // dropped for what it held
		}
		if err != nil {
			st.Errors++
		}
		e.dst = dst[:mark] // fail closed: drop the member instead
	}
	st.Actions[ActionDrop]++
	e.drop(li)
}

// drop removes member or element li.
func (e *emitter) drop(li int32) {
	from, to := e.rw.dropRange(li)
	e.dst = append(e.dst, e.rw.raw[e.cursor:from]...)
	e.cursor = to
}

// QuickScanner is an Applier whose scan of a string (without Params.URL)
// is the Transformer's: text that detect.Clean passes comes back
// unchanged, with no findings. The rewriter then keeps such strings
// without calling the Applier. Its scan of a string or number (without
// Params.URL) gives a value back unchanged exactly when the detectors
// find nothing in it under Params.Detect or keep all they find, so the
// rewriter also keeps, without calling it, a value it saw come back
// unchanged with nothing replaced before, under the same detector options
// and the same classes of findings kept.
type QuickScanner interface {
	QuickScan() bool
}

// QuickScan implements QuickScanner.
func (t *Transformer) QuickScan() bool { return true }

// scanKeeps reports whether scan under p returns the string with contents
// s unchanged at once: no JSON escape, no URL cleaning, and nothing any
// detector could start on.
func scanKeeps(p *Params, s []byte) bool {
	o := (*detect.Options)(nil)
	if p != nil {
		if p.URL {
			return false
		}
		o = p.Detect
	}
	return bytes.IndexByte(s, '\\') < 0 && detect.Clean(s, o)
}

// countFindings counts the findings a FieldApplier reported for one field.
func countFindings(st *Stats, kind, name string, d *Decision, fd *Field) {
	for i := range fd.Found {
		f := &fd.Found[i]
		st.FindingClasses.Add(Intern(f.Class), 1)
		st.FindingRules.Add(Intern(f.Rule), 1)
		if st.OnFinding != nil {
			a := ActionDrop
			if d.Action == ActionScan && d.Params != nil {
				a = findingAction(d.Params, f.Class)
			} else if d.Action == ActionScan {
				a = ActionRedact
			}
			st.OnFinding(kind, name, fd.Path, *f, a)
		}
	}
}

var failClosedID = Intern(failClosed.Rule)

// budgetRuleID counts fields dropped because a budget ran out.
var budgetRuleID = Intern(budget.Rule)

var failClosed = Decision{Action: ActionDrop, Rule: FailClosedRule}

// FailClosedRule is the rule id of fields dropped because no valid decision
// was available.
const FailClosedRule = "consentry.error"

// dropRange is the byte range that removes leaf li together with one comma,
// keeping the container valid. Ranges of consecutive drops are contiguous and
// never overlap, so the emit pass can splice them in order.
func (rw *Rewriter) dropRange(li int32) (from, to int32) {
	n := &rw.nodes[li]
	p := &rw.nodes[n.parent]
	kept := n.ord > p.drops
	p.drops++
	if kept {
		// Something before is kept: remove ", member" from its end.
		return n.prevEnd, n.valEnd
	}
	// Nothing kept before: remove "member," up to the next sibling.
	if next := n.subEnd; int(next) < len(rw.nodes) && rw.nodes[next].parent == n.parent {
		return n.start(), rw.nodes[next].start()
	}
	return n.start(), n.valEnd
}
