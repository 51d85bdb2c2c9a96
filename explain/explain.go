// Package explain runs one payload through the same cleaning path as the
// proxy and reports, per field, which class and rule decided which action.
// It backs `consentry explain` and the payload fixtures of `consentry rules
// test`, so compliance authors see exactly what the proxy would forward.
package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Policy is the policy engine as explain needs it.
type Policy interface {
	masking.Planner
	formats.RecordPolicy
}

// Reasoner says why a decision failed closed (rule consentry.error): the
// policy engine evaluates the shape again. Explain uses it when the Policy
// implements it.
type Reasoner interface {
	DecisionError(tenant, format, kind, name, path, key, class, typ string) error
	RecordDecisionError(tenant, format, kind, name string) error
}

// FieldDecision is one distinct field of one record.
type FieldDecision struct {
	Record int    `json:"record"`
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	Path   string `json:"path"`
	Class  string `json:"class"`
	Action string `json:"action"`
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"` // why a consentry.error decision failed closed
}

// RecordDecision is what happened to one record as a whole. Records are
// numbered in payload order from 0, batch headers included, whether they
// were forwarded or dropped.
type RecordDecision struct {
	Record int    `json:"record"`
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	Action string `json:"action"`         // keep or drop
	Rule   string `json:"rule,omitempty"` // of record_decision; "" for batch headers, which are always kept
	Reason string `json:"reason,omitempty"`
}

// Replacement is one finding of the content detectors that a scan
// replaced inside a field's value: which detector rule found it and the
// context word (cue) that decided, if any. It never holds the value.
type Replacement struct {
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"` // for kind "url": the field that held the URL
	Path   string `json:"path"`
	Class  string `json:"class"`         // the detector class
	Rule   string `json:"detector_rule"` // the detector rule ("phone.intl")
	Cue    string `json:"cue,omitempty"`
	Action string `json:"action"`
}

// Result is the cleaned payload and the decisions behind it.
type Result struct {
	Payload      json.RawMessage  `json:"payload"`
	Records      []RecordDecision `json:"records"`
	Decisions    []FieldDecision  `json:"decisions"`
	Replacements []Replacement    `json:"replacements"`
	RecordsIn    int              `json:"records_in"`  // data records, without batch headers
	RecordsOut   int              `json:"records_out"` // data records forwarded
	AllDropped   bool             `json:"all_dropped"`
}

// recordTap numbers records as the adapter meets them: a record decision
// comes first for data records, a plan follows for the kept ones; headers
// only have a plan.
type recordTap struct {
	pol     formats.RecordPolicy
	res     *Result
	why     Reasoner
	n       int
	pending int // number of the kept record whose plan is next, or -1
}

func (t *recordTap) RecordDecision(tenant, format, kind, name string) masking.Decision {
	d := t.pol.RecordDecision(tenant, format, kind, name)
	rd := RecordDecision{Record: t.n, Kind: kind, Name: name, Action: d.Action.String(), Rule: d.Rule}
	if d.Rule == masking.FailClosedRule && t.why != nil {
		if err := t.why.RecordDecisionError(tenant, format, kind, name); err != nil {
			rd.Reason = err.Error()
		}
	}
	t.res.Records = append(t.res.Records, rd)
	t.pending = -1
	if d.Action == masking.ActionKeep {
		t.pending = t.n
	}
	t.n++
	return d
}

// next returns the number of the record whose plan the adapter reports.
func (t *recordTap) next(kind, name string) int {
	if t.pending >= 0 {
		n := t.pending
		t.pending = -1
		return n
	}
	n := t.n
	t.n++
	t.res.Records = append(t.res.Records, RecordDecision{Record: n, Kind: kind, Name: name, Action: "keep"})
	return n
}

// Formats lists the formats routes can clean, sorted.
func Formats(routes []formats.Route) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		if (r.Clean != nil || r.CleanQuery != nil) && !seen[r.Format] {
			seen[r.Format] = true
			out = append(out, r.Format)
		}
	}
	sort.Strings(out)
	return out
}

// Run cleans payload as format for tenant.
func Run(routes []formats.Route, format, tenant string, payload []byte, pol Policy, applier masking.Applier) (*Result, error) {
	var clean func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error)
	var cleanQuery func(dst []byte, req formats.Request, env *formats.Env) ([]byte, formats.Result, error)
	var unwrap func([]byte) ([]byte, func([]byte) ([]byte, error), error)
	for _, r := range routes {
		if r.Format == format && (r.Clean != nil || r.CleanQuery != nil) {
			clean, cleanQuery, unwrap = r.Clean, r.CleanQuery, r.Unwrap
			break
		}
	}
	if clean == nil && cleanQuery == nil {
		return nil, fmt.Errorf("unknown format %q (known: %v)", format, Formats(routes))
	}
	if unwrap != nil {
		inner, _, err := unwrap(payload)
		if err != nil {
			return nil, err
		}
		payload = inner
	}
	res := &Result{Decisions: []FieldDecision{}, Records: []RecordDecision{}, Replacements: []Replacement{}}
	why, _ := pol.(Reasoner)
	tap := &recordTap{pol: pol, res: res, why: why, pending: -1}
	var stats masking.Stats
	stats.OnFinding = func(kind, name, path string, f masking.Finding, a masking.Action) {
		res.Replacements = append(res.Replacements, Replacement{
			Kind: kind, Name: name, Path: path, Class: f.Class, Rule: f.Rule, Cue: f.Cue, Action: a.String(),
		})
	}
	env := &formats.Env{
		Tenant:   tenant,
		Planner:  pol,
		Applier:  applier,
		Records:  tap,
		Rewriter: masking.NewRewriter(),
		Stats:    &stats,
		OnRecord: func(kind, name string, p *masking.Plan) {
			record := tap.next(kind, name)
			for i := range p.Decisions {
				d := p.Decisions[i]
				fd := FieldDecision{
					Record: record, Kind: kind, Name: name, Path: p.Paths[i], Class: p.Classes[i],
					Action: d.Action.String(), Rule: d.Rule,
				}
				if d.Rule == masking.FailClosedRule && why != nil {
					if err := why.DecisionError(tenant, format, kind, name, fd.Path, keyOf(fd.Path), fd.Class, p.Fields[i].Type.String()); err != nil {
						fd.Reason = err.Error()
					}
				}
				res.Decisions = append(res.Decisions, fd)
			}
		},
	}
	var out []byte
	var r formats.Result
	var err error
	if clean != nil {
		out, r, err = clean(nil, payload, env)
	} else {
		// Query-string formats: the payload is a URL or its query string.
		q := strings.TrimSpace(string(payload))
		if i := strings.IndexByte(q, '?'); i >= 0 {
			q = q[i+1:]
		}
		out, r, err = cleanQuery(nil, queryRequest(q), env)
		if err == nil {
			out, _ = json.Marshal(string(out))
		}
	}
	if err != nil {
		if n := len(res.Records); n > 0 && res.Records[n-1].Reason != "" {
			r := res.Records[n-1]
			return nil, fmt.Errorf("%w: record %d (%s) fails closed: %s", err, r.Record, r.Kind, r.Reason)
		}
		return nil, err
	}
	res.Payload = out
	res.RecordsIn, res.RecordsOut, res.AllDropped = r.RecordsIn, r.RecordsOut, r.AllDropped
	return res, nil
}

// queryRequest is a request that is only a query string.
type queryRequest string

func (q queryRequest) Header(string) []byte { return nil }
func (q queryRequest) Query(name string) []byte {
	v, _ := url.ParseQuery(string(q))
	if s := v.Get(name); s != "" {
		return []byte(s)
	}
	return nil
}
func (q queryRequest) QueryString() []byte { return []byte(q) }

// keyOf is the last key of a dotted path ("evtData.Items[].Email" → "Email").
func keyOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, "[]")
}

// WriteReplacements prints res.Replacements as a table: one line per
// finding replaced, with its field, detector class and rule, and cue.
func WriteReplacements(w io.Writer, res *Result) {
	if len(res.Replacements) == 0 {
		return
	}
	fmt.Fprintf(w, "\n# replacements inside values\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tPATH\tDETECTOR\tRULE\tCUE\tACTION")
	for _, r := range res.Replacements {
		path := r.Path
		if r.Name != "" && r.Kind == "url" {
			path = r.Name + " → " + r.Path
		}
		cue := r.Cue
		if cue == "" {
			cue = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, path, r.Class, r.Rule, cue, r.Action)
	}
	_ = tw.Flush()
}
