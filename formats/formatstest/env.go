package formatstest

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

// Tenant is the tenant of every test environment.
const Tenant = "test"

var (
	engineOnce sync.Once
	engine     *policy.Engine
	engineErr  error
)

// Policy is the shipped default policy, loaded once per test binary.
func Policy(t testing.TB) *policy.Engine {
	t.Helper()
	engineOnce.Do(func() { engine, engineErr = policy.New(policy.WithFS(rules.FS)) })
	if engineErr != nil {
		t.Fatalf("cannot load the default policy: %v", engineErr)
	}
	return engine
}

// Keys are fixed so that hashes and tokens in goldens are stable.
var Keys = masking.Keys{
	HMACKey:    []byte("consentry-test-hmac-key-32-bytes"),
	TokenKey:   bytes.Repeat([]byte("tokenkey"), 8), // 64 bytes
	TokenKeyID: "t1",
}

// Applier is a transformer with Keys.
func Applier(t testing.TB) *masking.Transformer {
	t.Helper()
	tr, err := masking.NewTransformer(Keys)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// NewEnv is the cleaning environment of one request under the default
// policy; subjects may be nil (no rights registry).
func NewEnv(t testing.TB, subjects formats.Subjects) *formats.Env {
	t.Helper()
	pol := Policy(t)
	return &formats.Env{
		Tenant:   Tenant,
		Planner:  pol,
		Applier:  Applier(t),
		Records:  pol,
		Subjects: subjects,
		Rewriter: masking.NewRewriter(),
		Stats:    &masking.Stats{},
	}
}

// DropEnv drops every field of every record: what survives is structure.
func DropEnv(t testing.TB) *formats.Env {
	return &formats.Env{
		Tenant:   Tenant,
		Planner:  DropAll{},
		Applier:  Applier(t),
		Records:  KeepAll{},
		Rewriter: masking.NewRewriter(),
		Stats:    &masking.Stats{},
	}
}

// FuzzEnv cleans with ClassPlanner.
func FuzzEnv(t testing.TB) *formats.Env {
	e := DropEnv(t)
	e.Planner = ClassPlanner{}
	return e
}

// DropAll plans every field as dropped.
type DropAll struct{}

var _ masking.Planner = DropAll{}

// Plan implements masking.Planner.
func (DropAll) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	n := len(q.Fields)
	return &masking.Plan{
		Fields:    append([]masking.FieldShape(nil), q.Fields...),
		Decisions: make([]masking.Decision, n), // zero value: drop
		Classes:   make([]string, n),
		Paths:     make([]string, n),
	}, nil
}

// ClassPlanner decides by class without Rego, so that fuzzing (which
// creates a new record shape on nearly every input) stays fast while still
// running the classifier and every kind of action.
type ClassPlanner struct{}

var _ masking.Planner = ClassPlanner{}

// Plan implements masking.Planner.
func (ClassPlanner) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p, _ := DropAll{}.Plan(q)
	for i := range p.Decisions {
		path, key := q.Describe(i)
		c := q.Classifier.Classify(q.Kind, path, key)
		p.Classes[i], p.Paths[i] = c, path
		a := masking.ActionDrop
		switch {
		case c == "record.meta" || c == "app.info" || c == "auth.account" || c == "device.info" || strings.HasPrefix(c, "consent."):
			a = masking.ActionKeep
		case strings.HasPrefix(c, "id.") || strings.HasPrefix(c, "contact."):
			a = masking.ActionHash
		case c == "":
			a = masking.ActionScan
		}
		p.Decisions[i] = masking.Decision{Action: a}
	}
	return p, nil
}

// KeepAll keeps every record.
type KeepAll struct{}

var _ formats.RecordPolicy = KeepAll{}

// RecordDecision implements formats.RecordPolicy.
func (KeepAll) RecordDecision(_, _, _, _ string) masking.Decision {
	return masking.Decision{Action: masking.ActionKeep}
}
