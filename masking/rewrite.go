package masking

import (
	"errors"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
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
	typ      ValueType
	keyEsc   bool
	// emit-pass state for containers: a child before the current one was
	// kept, and where the previous child ended.
	keptAny bool
	lastEnd int32
}

func (n *node) start() int32 {
	if n.keyStart >= 0 {
		return n.keyStart
	}
	return n.valStart
}

// Counter counts occurrences of a small set of names (classes, rules)
// without allocating in steady state.
type Counter struct {
	Names  []string
	Counts []int
}

// Add counts one occurrence of name.
func (c *Counter) Add(name string) {
	for i, n := range c.Names {
		if n == name {
			c.Counts[i]++
			return
		}
	}
	c.Names = append(c.Names, name)
	c.Counts = append(c.Counts, 1)
}

// Reset empties c, keeping its storage.
func (c *Counter) Reset() { c.Names, c.Counts = c.Names[:0], c.Counts[:0] }

// Stats accumulates what the rewriter did; it never holds a value.
type Stats struct {
	Fields   int
	Actions  [NumActions]int
	Findings int
	Errors   int // fields dropped because a transform failed
	Classes  Counter
	Rules    Counter
}

// Reset clears s for reuse.
func (s *Stats) Reset() {
	s.Fields, s.Findings, s.Errors = 0, 0, 0
	s.Actions = [NumActions]int{}
	s.Classes.Reset()
	s.Rules.Reset()
}

// Applier turns a leaf's raw JSON token into its replacement under a
// decision (*Transformer implements it with the tenant's keys).
type Applier interface {
	Apply(dst []byte, d *Decision, raw []byte, typ ValueType) (out []byte, drop bool, findings int, err error)
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
	raw      []byte
	nodes    []node
	leaves   []int32 // node index of every leaf, in order
	distinct []FieldShape
	table    []int32 // open addressing over distinct, value = slot+1
	keyBuf   []byte
	query    PlanQuery
}

var rewriterPool = sync.Pool{New: func() any { return NewRewriter() }}

// AcquireRewriter returns a pooled Rewriter; release it with ReleaseRewriter.
func AcquireRewriter() *Rewriter { return rewriterPool.Get().(*Rewriter) }

// ReleaseRewriter returns rw to the pool.
func ReleaseRewriter(rw *Rewriter) {
	rw.raw = nil
	rw.query.Classifier, rw.query.Kind, rw.query.Name, rw.query.Tenant = nil, "", "", ""
	rewriterPool.Put(rw)
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
	rw.raw = raw
	rw.nodes = rw.nodes[:0]
	rw.leaves = rw.leaves[:0]
	rw.distinct = rw.distinct[:0]
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return dst, synErr(i, "record is not a JSON object")
	}
	end, err := rw.walk(i, -1, -1, -1, 0, 0)
	if err != nil {
		rw.clearTable()
		return dst, err
	}
	if j := SkipSpace(raw, end); j != len(raw) {
		rw.clearTable()
		return dst, synErr(j, "trailing data after record")
	}
	rw.clearTable()

	var sig uint64
	for _, f := range rw.distinct {
		sig = bits.RotateLeft64(sig, 11) ^ f.Hash ^ uint64(f.Type)*0xff51afd7ed558ccd
	}
	q := &rw.query
	q.Tenant, q.Format, q.Kind, q.Name = rec.Tenant, rec.Format, rec.Kind, rec.Name
	q.Sig, q.Fields, q.Classifier = sig, rw.distinct, rec.Classifier
	plan, perr := rec.Planner.Plan(q)
	if perr == nil && (plan == nil || !plan.Matches(rw.distinct)) {
		perr = errors.New("planner returned a plan for another shape")
	}
	if perr == nil && rec.OnPlan != nil {
		rec.OnPlan(plan)
	}
	return rw.emit(dst, plan, perr, rec, st), nil
}

// walk records the value at raw[i] as node(s). parent is the parent node,
// ks/ke the key token span (or -1), h the parent's path hash.
func (rw *Rewriter) walk(i int, parent int32, ks, ke int, h uint64, depth int) (int, error) {
	raw := rw.raw
	if len(rw.nodes) >= maxNodes {
		return 0, ErrTooManyFields
	}
	end, t, container, err := scanScalar(raw, i)
	if err != nil {
		return 0, err
	}
	idx := int32(len(rw.nodes))
	rw.nodes = append(rw.nodes, node{parent: parent, keyStart: int32(ks), keyEnd: int32(ke), valStart: int32(i), typ: t, slot: -1})
	if ks >= 0 {
		// Escaped keys hash as their decoded name.
		key := raw[ks+1 : ke-1]
		if hasByte(key, '\\') {
			rw.nodes[idx].keyEsc = true
			rw.keyBuf, err = AppendUnquote(rw.keyBuf[:0], raw[ks:ke])
			if err != nil {
				return 0, err
			}
			key = rw.keyBuf
		}
		h = bits.RotateLeft64(h, 5) ^ maphash.Bytes(pathSeed, key)
	} else if parent >= 0 {
		h = bits.RotateLeft64(h, 7) ^ arrayMark
	}
	if !container {
		rw.nodes[idx].valEnd = int32(end)
		if parent >= 0 { // the root is an object, never a leaf
			rw.nodes[idx].slot = rw.slotFor(h, t)
			rw.leaves = append(rw.leaves, idx)
		}
		return end, nil
	}
	if depth >= MaxDepth {
		return 0, synErr(i, "nesting too deep")
	}
	if t == TypeObject {
		end, err = eachMember(raw, i, func(ks, ke, vs int) (int, error) {
			return rw.walk(vs, idx, ks, ke, h, depth+1)
		})
	} else {
		end, err = eachElement(raw, i, func(vs int) (int, error) {
			return rw.walk(vs, idx, -1, -1, h, depth+1)
		})
	}
	if err != nil {
		return 0, err
	}
	rw.nodes[idx].valEnd = int32(end)
	return end, nil
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// slotFor returns the index of (h, t) in rw.distinct, adding it if new.
func (rw *Rewriter) slotFor(h uint64, t ValueType) int32 {
	if 2*(len(rw.distinct)+1) > len(rw.table) {
		rw.growTable()
	}
	mask := uint64(len(rw.table) - 1)
	key := h ^ uint64(t)*0xc4ceb9fe1a85ec53
	for p := key & mask; ; p = (p + 1) & mask {
		v := rw.table[p]
		if v == 0 {
			rw.distinct = append(rw.distinct, FieldShape{Hash: h, Type: t})
			rw.table[p] = int32(len(rw.distinct))
			return int32(len(rw.distinct) - 1)
		}
		if f := rw.distinct[v-1]; f.Hash == h && f.Type == t {
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
	for _, li := range rw.leaves {
		if rw.nodes[li].slot == int32(i) {
			return rw.pathOf(li)
		}
	}
	return "", ""
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
	raw := rw.raw
	nodes := rw.nodes
	cursor := int32(0)
	for i := range nodes {
		nodes[i].keptAny = false
	}
	for li := int32(1); li < int32(len(nodes)); li++ {
		n := &nodes[li]
		p := &nodes[n.parent]
		if n.slot < 0 { // containers are kept; their leaves decide
			p.keptAny = true
			p.lastEnd = n.valEnd
			continue
		}
		st.Fields++
		var d *Decision
		if perr == nil {
			d = &plan.Decisions[n.slot]
			st.Classes.Add(plan.Classes[n.slot])
			st.Rules.Add(d.Rule)
		} else {
			d = &failClosed
			st.Rules.Add(failClosed.Rule)
		}
		if d.Action == ActionKeep {
			st.Actions[ActionKeep]++
			p.keptAny = true
			p.lastEnd = n.valEnd
			continue
		}
		if d.Action != ActionDrop {
			mark := len(dst)
			dst = append(dst, raw[cursor:n.valStart]...)
			var drop bool
			var found int
			var err error
			dst, drop, found, err = rec.Transformer.Apply(dst, d, raw[n.valStart:n.valEnd], n.typ)
			if err == nil && !drop {
				st.Actions[d.Action]++
				st.Findings += found
				cursor = n.valEnd
				p.keptAny = true
				p.lastEnd = n.valEnd
				continue
			}
			if err != nil {
				st.Errors++
			}
			dst = dst[:mark] // fail closed: drop the member instead
		}
		st.Actions[ActionDrop]++
		from, to := rw.dropRange(li)
		dst = append(dst, raw[cursor:from]...)
		cursor = to
		p.lastEnd = n.valEnd
	}
	return append(dst, raw[cursor:]...)
}

var failClosed = Decision{Action: ActionDrop, Rule: "consentry.error"}

// dropRange is the byte range that removes leaf li together with one comma,
// keeping the container valid. Ranges of consecutive drops are contiguous and
// never overlap, so the emit pass can splice them in order.
func (rw *Rewriter) dropRange(li int32) (from, to int32) {
	n := &rw.nodes[li]
	p := &rw.nodes[n.parent]
	if p.keptAny {
		// Something before is kept: remove ", member" from its end.
		return p.lastEnd, n.valEnd
	}
	// Nothing kept before: remove "member," up to the next sibling.
	if next := li + 1; int(next) < len(rw.nodes) && rw.nodes[next].parent == n.parent {
		return n.start(), rw.nodes[next].start()
	}
	return n.start(), n.valEnd
}
