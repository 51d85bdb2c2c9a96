// Package explain runs one payload through the same cleaning path as the
// proxy and reports, per field, which class and rule decided which action.
// It backs `consentry explain` and the payload fixtures of `consentry rules
// test`, so compliance authors see exactly what the proxy would forward.
package explain

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Policy is the policy engine as explain needs it.
type Policy interface {
	masking.Planner
	formats.RecordPolicy
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
}

// Result is the cleaned payload and the decisions behind it.
type Result struct {
	Payload    json.RawMessage `json:"payload"`
	Decisions  []FieldDecision `json:"decisions"`
	RecordsIn  int             `json:"records_in"`
	RecordsOut int             `json:"records_out"`
	AllDropped bool            `json:"all_dropped"`
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
	res := &Result{Decisions: []FieldDecision{}}
	record := -1
	var stats masking.Stats
	env := &formats.Env{
		Tenant:   tenant,
		Planner:  pol,
		Applier:  applier,
		Records:  pol,
		Rewriter: masking.NewRewriter(),
		Stats:    &stats,
		OnRecord: func(kind, name string, p *masking.Plan) {
			record++
			for i := range p.Decisions {
				d := p.Decisions[i]
				res.Decisions = append(res.Decisions, FieldDecision{
					Record: record, Kind: kind, Name: name, Path: p.Paths[i], Class: p.Classes[i],
					Action: d.Action.String(), Rule: d.Rule,
				})
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
