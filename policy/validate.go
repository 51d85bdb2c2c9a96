package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/consentry/consentry/masking"
)

// Validation bounds: the matrix of inputs evaluated at load, and the
// problems reported.
const (
	maxValidationInputs   = 20_000
	maxValidationProblems = 20
	maxRuleCombinations   = 256
)

// valueTypes are the field types the policy is asked about.
var valueTypes = []string{"string", "number", "boolean", "null"}

// defaultKinds are record kinds every format produces in some form.
var defaultKinds = []string{"event", "profile", "meta"}

// Problem is one decision the policy can produce but the proxy cannot apply.
type Problem struct {
	Location string // file:line of the decision or its rule id, when known
	Input    string // the input that produced it, for problems found by evaluation
	Msg      string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Location != "" {
		b.WriteString(p.Location)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Input != "" {
		b.WriteString(" (for ")
		b.WriteString(p.Input)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError lists the decisions of a policy that cannot be applied.
// New, Reload and bundle activations refuse such a policy: in production
// each would drop its fields under rule consentry.error.
type ValidationError struct {
	Problems  []Problem
	Truncated bool // more problems than listed
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d decision(s) the proxy cannot apply (each would drop its field under %s):", len(e.Problems), RuleError)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.Truncated {
		b.WriteString("\n  ... (more not shown)")
	}
	return b.String()
}

// validator checks every decision a compiled policy can produce: decision
// literals statically (action, param names and types, keys; with file:line),
// then both queries over a matrix of inputs built from the tenants' data and
// the constants the rules compare input attributes with.
type validator struct {
	st       *state
	c        *ast.Compiler
	data     map[string]any
	strings  map[string]*ast.Location // string constant → its location, nil when it occurs twice
	reported map[string]bool          // locations the static check reported
	ruleless map[string][]string      // action → locations of literals without a rule
	problems []Problem
	seen     map[string]bool
	trunc    bool
}

func validatePolicy(ctx context.Context, st *state, c *ast.Compiler, data map[string]any) error {
	v := &validator{st: st, c: c, data: data, strings: map[string]*ast.Location{}, ruleless: map[string][]string{}, reported: map[string]bool{}, seen: map[string]bool{}}
	v.static()
	v.dynamic(ctx)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems, Truncated: v.trunc}
}

func (v *validator) add(p Problem) {
	if p.Input == "" {
		v.reported[p.Location] = true
	} else if p.Location != "" && v.reported[p.Location] {
		return // already reported with its line by the static check
	}
	key := p.Location + "\x00" + p.Msg
	if v.seen[key] {
		return
	}
	v.seen[key] = true
	if len(v.problems) >= maxValidationProblems {
		v.trunc = true
		return
	}
	v.problems = append(v.problems, p)
}

func locString(l *ast.Location) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", l.File, l.Row)
}

// modules returns the compiled modules in a stable order.
func (v *validator) modules() []*ast.Module {
	names := make([]string, 0, len(v.c.Modules))
	for n := range v.c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*ast.Module, 0, len(names))
	for _, n := range names {
		out = append(out, v.c.Modules[n])
	}
	return out
}

// static checks every object literal with a constant "action" key.
func (v *validator) static() {
	for _, m := range v.modules() {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			switch x := t.Value.(type) {
			case ast.String:
				if _, dup := v.strings[string(x)]; dup {
					v.strings[string(x)] = nil
				} else if t.Location != nil {
					v.strings[string(x)] = t.Location
				}
			case ast.Object:
				v.checkLiteral(t, x)
			}
			return false
		})
	}
}

func (v *validator) checkLiteral(t *ast.Term, obj ast.Object) {
	at := obj.Get(ast.InternedTerm("action"))
	if at == nil {
		return
	}
	name, ok := at.Value.(ast.String)
	if !ok {
		return
	}
	loc := locString(t.Location)
	a, err := masking.ParseAction(string(name))
	if err != nil {
		v.add(Problem{Location: loc, Msg: err.Error()})
		return
	}
	hasRule := false
	obj.Foreach(func(k, _ *ast.Term) {
		ks, ok := k.Value.(ast.String)
		if !ok {
			return
		}
		switch ks {
		case "action", "params":
		case "rule":
			hasRule = true
		default:
			v.add(Problem{Location: loc, Msg: fmt.Sprintf("decision has unknown key %q (want action, params, rule)", string(ks))})
		}
	})
	if !hasRule {
		v.ruleless[string(name)] = append(v.ruleless[string(name)], loc)
	}
	if rt := obj.Get(ast.InternedTerm("rule")); rt != nil {
		if rs, ok := rt.Value.(ast.String); ok {
			if _, err := parseDecision(map[string]any{"action": "keep", "rule": string(rs)}, false, ""); err != nil {
				v.add(Problem{Location: loc, Msg: err.Error()})
			}
		}
	}
	pt := obj.Get(ast.InternedTerm("params"))
	if pt == nil {
		return
	}
	po, ok := pt.Value.(ast.Object)
	if !ok {
		if pt.IsGround() {
			v.add(Problem{Location: loc, Msg: "decision params must be an object"})
		}
		return
	}
	params := map[string]any{}
	complete := true
	po.Foreach(func(k, val *ast.Term) {
		ks, ok := k.Value.(ast.String)
		if !ok || !val.IsGround() {
			complete = false
			if ok {
				// Only the name can be checked.
				params[string(ks)] = nil
			}
			return
		}
		j, err := ast.JSON(val.Value)
		if err != nil {
			complete = false
			return
		}
		params[string(ks)] = j
	})
	if len(params) == 0 {
		return
	}
	_, err = masking.ParseParams(a, params)
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		msg := e.Error()
		if !complete {
			// Values computed at evaluation time are checked there; here
			// only errors about a named, constant param count.
			k, ok := paramOf(msg)
			if !ok || (params[k] == nil && !strings.Contains(msg, "unknown for action") && !strings.Contains(msg, "takes no params")) {
				continue
			}
		}
		v.add(Problem{Location: loc, Msg: fmt.Sprintf("invalid params for action %s: %s", a, msg)})
	}
}

func unjoin(err error) []error {
	if w := errors.Unwrap(err); w != nil {
		err = w
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// paramOf returns k of a `param "k": ...` error of masking.ParseParams.
func paramOf(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, `param "`)
	if !ok {
		return "", false
	}
	k, _, ok := strings.Cut(rest, `"`)
	return k, ok
}

// input attributes the matrix varies.
const (
	attrTenant = "tenant"
	attrFormat = "format"
	attrKind   = "record.kind"
	attrName   = "record.name"
	attrPath   = "field.path"
	attrKey    = "field.key"
	attrClass  = "field.class"
	attrType   = "field.type"
)

// constants collects, per input attribute, the string constants an
// expression compares it with (==, !=, in, startswith, ...).
func constants(node any, into map[string][]string) {
	ast.WalkExprs(node, func(e *ast.Expr) bool {
		if !e.IsCall() {
			return false
		}
		ops := e.Operands()
		for i, op := range ops {
			attr, ok := inputAttr(op)
			if !ok {
				continue
			}
			for j, other := range ops {
				if j == i {
					continue
				}
				ast.WalkTerms(other, func(t *ast.Term) bool {
					if s, ok := t.Value.(ast.String); ok && !slices.Contains(into[attr], string(s)) {
						into[attr] = append(into[attr], string(s))
					}
					return false
				})
			}
		}
		return false
	})
}

// inputAttr returns "field.class" for the term input.field.class.
func inputAttr(t *ast.Term) (string, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || len(ref) < 2 || !ref.HasPrefix(ast.InputRootRef) {
		return "", false
	}
	parts := make([]string, 0, len(ref)-1)
	for _, p := range ref[1:] {
		s, ok := p.Value.(ast.String)
		if !ok {
			return "", false
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, "."), true
}

type matrixInput struct {
	tenant, format, kind, name, path, key, class, typ string
}

func (in matrixInput) String() string {
	s := fmt.Sprintf("tenant %q, format %q, kind %q", in.tenant, in.format, in.kind)
	if in.name != "" {
		s += fmt.Sprintf(", name %q", in.name)
	}
	if in.path != "" {
		s += fmt.Sprintf(", path %q", in.path)
	}
	if in.key != "" && in.key != keyOf(in.path) {
		s += fmt.Sprintf(", key %q", in.key)
	}
	if in.typ != "" {
		s += fmt.Sprintf(", class %q, type %s", in.class, in.typ)
	}
	return s
}

// keyOf is the last key of a dotted path ("evtData.Items[].Email" → "Email").
func keyOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, "[]")
}

func uniq(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// tenantData returns the tenant ids and, over all tenants, the keys of
// fields and classes and the drop_events names.
func tenantData(data map[string]any) (ids, paths, classes, events []string) {
	tenants, _ := data["tenants"].(map[string]any)
	for _, id := range sortedKeys(tenants) {
		ids = append(ids, id)
		t, _ := tenants[id].(map[string]any)
		f, _ := t["fields"].(map[string]any)
		paths = append(paths, sortedKeys(f)...)
		c, _ := t["classes"].(map[string]any)
		classes = append(classes, sortedKeys(c)...)
		de, _ := t["drop_events"].([]any)
		for _, e := range de {
			if s, ok := e.(string); ok {
				events = append(events, s)
			}
		}
	}
	return ids, paths, classes, events
}

// dynamic evaluates both queries over the matrix.
func (v *validator) dynamic(ctx context.Context) {
	all := map[string][]string{}
	perRule := []map[string][]string{}
	for _, m := range v.modules() {
		for _, r := range m.Rules {
			one := map[string][]string{}
			constants(r, one)
			for k, vals := range one {
				all[k] = uniq(all[k], vals)
			}
			if len(one) > 0 {
				perRule = append(perRule, one)
			}
		}
	}
	ids, paths, classes, events := tenantData(v.data)
	tenants := uniq([]string{""}, ids, all[attrTenant])
	formats := uniq([]string{""}, all[attrFormat])
	kinds := uniq(defaultKinds, all[attrKind])
	names := uniq([]string{""}, events, all[attrName])

	var inputs []matrixInput
	seen := map[matrixInput]bool{}
	push := func(in matrixInput) {
		if len(inputs) < maxValidationInputs && !seen[in] {
			seen[in] = true
			inputs = append(inputs, in)
		}
	}
	// Every class against every tenant and format.
	for _, t := range tenants {
		for _, f := range formats {
			for _, c := range uniq([]string{""}, classes, all[attrClass]) {
				for _, ty := range valueTypes {
					push(matrixInput{tenant: t, format: f, kind: "event", class: c, typ: ty})
				}
			}
			for _, p := range uniq(paths, all[attrPath]) {
				for _, ty := range valueTypes {
					push(matrixInput{tenant: t, format: f, kind: "event", path: p, key: keyOf(p), typ: ty})
				}
			}
		}
	}
	// The combinations each rule tests for, with every tenant and type.
	for _, one := range perRule {
		for _, combo := range combinations(one) {
			for _, t := range tenants {
				for _, ty := range valueTypes {
					in := matrixInput{tenant: t, kind: "event", typ: ty}
					apply(&in, combo)
					if in.key == "" {
						in.key = keyOf(in.path)
					}
					push(in)
				}
			}
		}
	}
	for _, in := range inputs {
		if ctx.Err() != nil {
			return
		}
		raw, err := evalOne(ctx, v.st.decisionQ, fieldInput(in.tenant, in.format, in.kind, in.name, in.path, in.key, in.class, in.typ))
		if err == nil {
			_, err = parseDecision(raw, false, "")
		}
		if err != nil {
			v.add(v.dynamicProblem(raw, err, "decision", in))
		}
	}
	for _, t := range tenants {
		for _, f := range formats {
			for _, k := range kinds {
				for _, n := range names {
					in := matrixInput{tenant: t, format: f, kind: k, name: n}
					raw, err := evalOne(ctx, v.st.recordQ, recordInput(t, f, k, n))
					if err == nil {
						_, err = parseDecision(raw, true, "")
					}
					if err != nil {
						v.add(v.dynamicProblem(raw, err, "record_decision", in))
					}
				}
			}
		}
	}
}

func apply(in *matrixInput, combo map[string]string) {
	for k, val := range combo {
		switch k {
		case attrTenant:
			in.tenant = val
		case attrFormat:
			in.format = val
		case attrKind:
			in.kind = val
		case attrName:
			in.name = val
		case attrPath:
			in.path = val
		case attrKey:
			in.key = val
		case attrClass:
			in.class = val
		}
	}
}

// combinations is the product of one rule's constants, at most
// maxRuleCombinations.
func combinations(one map[string][]string) []map[string]string {
	attrs := make([]string, 0, len(one))
	for k := range one {
		if k != attrType {
			attrs = append(attrs, k)
		}
	}
	slices.Sort(attrs)
	out := []map[string]string{{}}
	for _, a := range attrs {
		var next []map[string]string
		for _, c := range out {
			for _, val := range one[a] {
				if len(next) >= maxRuleCombinations {
					break
				}
				m := make(map[string]string, len(c)+1)
				for k, x := range c {
					m[k] = x
				}
				m[a] = val
				next = append(next, m)
			}
		}
		out = next
	}
	return out
}

// dynamicProblem describes a failed evaluation, locating the decision by
// its rule id when it has one.
func (v *validator) dynamicProblem(raw any, err error, query string, in matrixInput) Problem {
	p := Problem{Input: in.String(), Msg: query + ": " + err.Error()}
	if obj, ok := raw.(map[string]any); ok {
		if id, ok := obj["rule"].(string); ok && id != "" {
			p.Msg = fmt.Sprintf("%s (rule %q)", p.Msg, id)
			if l := v.strings[id]; l != nil {
				p.Location = locString(l)
			}
		} else if _, has := obj["rule"]; has {
			// an empty or non-string rule id: the static check names it
		} else if a, ok := obj["action"].(string); ok {
			if locs := v.ruleless[a]; len(locs) > 0 {
				p.Location = strings.Join(locs, ", ")
			}
		}
	}
	if errors.Is(err, errUndefined) {
		p.Msg = query + " is undefined: add a default or an else branch"
	}
	return p
}
