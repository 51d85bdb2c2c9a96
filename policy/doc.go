// Package policy loads Consentry's Rego policy and turns it into cached plans.
//
// The policy (package consentry, see rules/README.md) answers two queries:
// data.consentry.decision for one field shape and data.consentry.record_decision
// for one record. Its input holds the field's path, key, class and JSON type,
// never its value, so one evaluation serves every record of the same shape.
//
// An Engine evaluates Rego only on a cache miss:
//
//   - Plan looks up the whole record shape (tenant, format, kind, event name,
//     field signature) in a per-revision ristretto cache; a hit allocates
//     nothing and runs no Rego.
//   - On a miss each field's decision comes from a second per-revision cache
//     keyed by (tenant, format, kind, name, path, class, type), else from one
//     Rego evaluation.
//
// Budgets (WithLimits, see package budget) bound the cold path: the caches
// of a revision hold at most PlanCacheBytes, each entry charged at its real
// size; every evaluation has a deadline; and a query that carries a
// masking.PlanQuery.Usage is charged for the plans it builds (per request
// and per tenant and minute) and the evaluations it runs. Fields a budget
// leaves undecided get Decision{Action: drop, Rule: "consentry.budget"},
// and a plan holding such a decision is not cached; a shape over a
// per-request or per-tenant budget gets a *budget.Exceeded error (the
// rewriter drops its fields under the same rule; the tenant budget also
// sets Usage.Refused, which the proxy answers with 503).
//
// Every failure fails closed: an evaluation error, an undefined decision, a
// missing rule id, an unknown action or params that masking.ParseParams
// rejects all become masking.Decision{Action: masking.ActionDrop, Rule:
// "consentry.error"}, are counted in Stats.Errors and logged without values.
//
// Before that, every load validates the decisions the policy can produce
// (ValidationError): decision literals with file:line, then both queries
// over a matrix of inputs made of the tenants' data and the constants the
// rules compare input attributes with. A policy with a decision that could
// not be applied is refused. A directory, FS or bundle that defines neither
// decision nor record_decision is layered over the shipped rules.FS
// (extension points by_field, class_override, record_override).
//
// Reload and Watch re-read the sources, compile (strict), prepare and
// smoke-test them, and only then swap the policy atomically; on any error the
// last good policy stays active. Caches belong to a revision: a swap starts
// with empty caches, and the old ones are closed once no caller uses them.
//
// A BundleSource (WithBundle) feeds the engine from a signed OPA bundle
// instead: it polls a URL with If-None-Match, caps the download, lets OPA's
// v1/bundle reader verify the signature (mandatory unless explicitly
// skipped) and hands the modules (without *_test.rego) and data.json to the
// same validate-then-swap. Until its first bundle the engine is not Ready;
// a refused bundle (download, too_large, verify, parse, validate) leaves
// the last good one active.
//
// Strings in a masking.PlanQuery may be views into a request body: the engine
// clones whatever it keeps. Plans it returns are shared and must not be
// modified.
package policy
