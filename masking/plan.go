package masking

import (
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/consentry/consentry/budget"
)

// FieldShape is one distinct leaf of a record as the policy sees it: its path
// and type, never its value. Hash identifies (path, type) within the process.
type FieldShape struct {
	Hash uint64
	Type ValueType
}

// Classifier maps a format's keys to the vendor-neutral classes of
// DESIGN.md (contact.email, device.ad_id, ...). Format adapters implement it.
// path is dotted from the record root with "[]" for array elements, e.g.
// "evtData.Items[].Email"; key is the last object key on that path ("Email").
// It returns "" for a key it does not know.
type Classifier interface {
	Classify(kind, path, key string) string
}

// PlanQuery asks for the decisions of one record shape. Kind and Name may be
// views into the request body: a Planner that keeps them must clone them.
type PlanQuery struct {
	Tenant     string
	Format     string
	Kind       string // "event", "profile", "meta", ...
	Name       string // event name, "" for other kinds
	Sig        uint64 // hash of Fields in order; equal shapes have equal Sig
	Fields     []FieldShape
	Classifier Classifier
	// Usage is the request's budget account: a Planner charges the plans
	// it builds and the evaluations it runs, and refuses (a
	// *budget.Exceeded error, or decisions with rule budget.Rule) what is
	// over. nil: not charged (the rewriter passes the Stats' Usage when it
	// is Active).
	Usage *budget.Usage

	// describe returns the path and key of Fields[i]. It allocates, so
	// Planners call it only on a cache miss.
	describe func(i int) (path, key string)
}

// Describe returns the dotted path and the last key of field i.
func (q *PlanQuery) Describe(i int) (path, key string) { return q.describe(i) }

// SetDescriber installs the function behind Describe; for tests and for
// callers that build queries themselves.
func (q *PlanQuery) SetDescriber(f func(i int) (path, key string)) { q.describe = f }

// Plan holds the decisions for one record shape, Decisions[i] for Fields[i].
// A Plan is immutable once returned and is shared between goroutines.
type Plan struct {
	Fields    []FieldShape
	Decisions []Decision
	Classes   []string // the class of each field, for audit
	Paths     []string // the path of each field, for explain

	once     sync.Once
	classIDs []uint32
	ruleIDs  []uint32
	// classTally and ruleTally count Classes and rules by interned id, in
	// first-appearance order: what a record with one leaf per field adds
	// to the request's counters (most records: no arrays, no duplicate
	// keys).
	classTally, ruleTally []tally
	// active are the fields not decided keep, in order; keeps counts the
	// others.
	active []int32
	keeps  int
	// scanKeeps fingerprints, per field, the classes of findings its
	// scan keeps in place (0: none); see QuickScanner.
	scanKeeps []uint64
}

// keptClasses fingerprints the classes of findings a scan under p keeps
// in place (0: none).
func keptClasses(p *Params) uint64 {
	if p == nil {
		return 0
	}
	var kept []string
	for c, a := range p.Findings {
		if a == ActionKeep {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return 0
	}
	sort.Strings(kept)
	return maphash.String(pathSeed, strings.Join(kept, "\x00")) | 1
}

// tally is a count of one interned name.
type tally struct {
	id uint32
	n  int32
}

// tallyOf counts ids by value, in first-appearance order.
func tallyOf(ids []uint32) []tally {
	var t []tally
next:
	for _, id := range ids {
		for i := range t {
			if t[i].id == id {
				t[i].n++
				continue next
			}
		}
		t = append(t, tally{id: id, n: 1})
	}
	return t
}

// ids returns the interned ids of Classes and of the Decisions' rules.
func (p *Plan) ids() (classIDs, ruleIDs []uint32) {
	p.once.Do(func() {
		p.classIDs = make([]uint32, len(p.Decisions))
		p.ruleIDs = make([]uint32, len(p.Decisions))
		for i := range p.Decisions {
			c := ""
			if i < len(p.Classes) {
				c = p.Classes[i]
			}
			p.classIDs[i] = Intern(c)
			p.ruleIDs[i] = Intern(p.Decisions[i].Rule)
		}
		p.classTally, p.ruleTally = tallyOf(p.classIDs), tallyOf(p.ruleIDs)
		p.scanKeeps = make([]uint64, len(p.Decisions))
		for i := range p.Decisions {
			p.scanKeeps[i] = keptClasses(p.Decisions[i].Params)
			if p.Decisions[i].Action == ActionKeep {
				p.keeps++
			} else {
				p.active = append(p.active, int32(i))
			}
		}
	})
	return p.classIDs, p.ruleIDs
}

// Size is the memory p holds, in bytes: what a cache charges for it.
// Decision params and rule ids are shared between plans and not counted.
func (p *Plan) Size() int64 {
	n := int64(unsafe.Sizeof(Plan{}))
	n += int64(cap(p.Fields)) * int64(unsafe.Sizeof(FieldShape{}))
	n += int64(cap(p.Decisions)) * int64(unsafe.Sizeof(Decision{}))
	n += int64(cap(p.Classes)+cap(p.Paths)) * int64(unsafe.Sizeof(""))
	for _, s := range p.Classes {
		n += int64(len(s))
	}
	for _, s := range p.Paths {
		n += int64(len(s))
	}
	n += 36 * int64(len(p.Decisions)) // classIDs, ruleIDs, their tallies (at most one entry per field), active and scanKeeps, once computed
	return n
}

// Matches reports whether p was built for exactly these fields (guards
// against a hash collision handing back another shape's plan).
func (p *Plan) Matches(fields []FieldShape) bool {
	if len(p.Fields) != len(fields) {
		return false
	}
	for i := range fields {
		if p.Fields[i] != fields[i] {
			return false
		}
	}
	return true
}

// Planner turns a record shape into a Plan. policy.Engine implements it
// with cached plans, so steady traffic evaluates no Rego. Implementations
// must return a plan (maybe all-drop) or an error; the rewriter drops every
// field of a record whose plan errs.
type Planner interface {
	Plan(q *PlanQuery) (*Plan, error)
}
