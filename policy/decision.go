package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/masking"
)

// RuleError is the rule id of every fail-closed decision.
const RuleError = "consentry.error"

// maxRuleLen bounds rule ids, which end up in every audit record.
const maxRuleLen = 128

// errUndefined marks a query without a result.
var errUndefined = errors.New("decision is undefined for this input (add a default or an else branch)")

var failClosed = masking.Decision{Action: masking.ActionDrop, Rule: RuleError}

// fieldInput is input for data.consentry.decision: the shape only, no value.
func fieldInput(tenant, format, kind, name, path, key, class, typ string) ast.Value {
	return ast.NewObject(
		ast.Item(ast.InternedTerm("tenant"), ast.StringTerm(tenant)),
		ast.Item(ast.InternedTerm("format"), ast.StringTerm(format)),
		ast.Item(ast.InternedTerm("record"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("kind"), ast.StringTerm(kind)),
			ast.Item(ast.InternedTerm("name"), ast.StringTerm(name)),
		)),
		ast.Item(ast.InternedTerm("field"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("path"), ast.StringTerm(path)),
			ast.Item(ast.InternedTerm("key"), ast.StringTerm(key)),
			ast.Item(ast.InternedTerm("class"), ast.StringTerm(class)),
			ast.Item(ast.InternedTerm("type"), ast.StringTerm(typ)),
		)),
	)
}

// recordInput is input for data.consentry.record_decision.
func recordInput(tenant, format, kind, name string) ast.Value {
	return ast.NewObject(
		ast.Item(ast.InternedTerm("tenant"), ast.StringTerm(tenant)),
		ast.Item(ast.InternedTerm("format"), ast.StringTerm(format)),
		ast.Item(ast.InternedTerm("record"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("kind"), ast.StringTerm(kind)),
			ast.Item(ast.InternedTerm("name"), ast.StringTerm(name)),
		)),
	)
}

func (st *state) evalDecision(ctx context.Context, tenant, format, kind, name, path, key, class, typ string) (masking.Decision, error) {
	v, err := evalOne(ctx, st.decisionQ, fieldInput(tenant, format, kind, name, path, key, class, typ))
	if err != nil {
		return failClosed, err
	}
	return parseDecision(v, false, "")
}

func (st *state) evalRecord(ctx context.Context, tenant, format, kind, name string) (masking.Decision, error) {
	v, err := evalOne(ctx, st.recordQ, recordInput(tenant, format, kind, name))
	if err != nil {
		return failClosed, err
	}
	return parseDecision(v, true, "")
}

func evalOne(ctx context.Context, pq rego.PreparedEvalQuery, input ast.Value) (any, error) {
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, errUndefined
	}
	return rs[0].Expressions[0].Value, nil
}

// parseDecision validates a decision object {"action", "params", "rule"}.
// Record decisions allow only keep and drop, without params. defaultRule,
// when set, stands in for a missing rule id (tenant overrides).
func parseDecision(v any, record bool, defaultRule string) (masking.Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return failClosed, fmt.Errorf("decision is %s, want an object with action and rule", jsonKind(v))
	}
	for k := range obj {
		if k != "action" && k != "params" && k != "rule" {
			return failClosed, fmt.Errorf("decision has unknown key %q (want action, params, rule)", k)
		}
	}
	name, ok := obj["action"].(string)
	if !ok {
		return failClosed, errors.New("decision has no action string")
	}
	a, err := masking.ParseAction(name)
	if err != nil {
		return failClosed, err
	}
	if record && a != masking.ActionKeep && a != masking.ActionDrop {
		return failClosed, fmt.Errorf("record decision action %q is not keep or drop", name)
	}
	rule, _ := obj["rule"].(string)
	if _, has := obj["rule"]; has && rule == "" {
		return failClosed, errors.New("decision rule must be a non-empty string")
	}
	if rule == "" {
		rule = defaultRule
	}
	if rule == "" {
		return failClosed, errors.New("decision has no rule id (add \"rule\": \"<stable id>\")")
	}
	if len(rule) > maxRuleLen {
		return failClosed, fmt.Errorf("decision rule id is longer than %d bytes", maxRuleLen)
	}
	if rule == masking.FailClosedRule || rule == budget.Rule {
		// Reserved: audit records tell "the policy could not decide" and
		// "a budget ran out" by them.
		return failClosed, fmt.Errorf("decision rule id %q is reserved", rule)
	}
	var params map[string]any
	switch p := obj["params"].(type) {
	case nil:
	case map[string]any:
		params = p
	default:
		return failClosed, fmt.Errorf("decision params is %s, want an object", jsonKind(p))
	}
	if record {
		if params != nil {
			return failClosed, errors.New("record decisions take no params")
		}
		return masking.Decision{Action: a, Rule: strings.Clone(rule)}, nil
	}
	pp, err := masking.ParseParams(a, params)
	if err != nil {
		return failClosed, fmt.Errorf("invalid params for action %s: %w", a, err)
	}
	return masking.Decision{Action: a, Params: pp, Rule: strings.Clone(rule)}, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
