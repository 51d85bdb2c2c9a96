package explain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/masking"
)

// stubPolicy drops events named "Debug", fails closed for fields named
// "Bad" and keeps everything else; it says why it failed.
type stubPolicy struct{}

func (stubPolicy) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	p := &masking.Plan{Fields: append([]masking.FieldShape(nil), q.Fields...)}
	for i := range q.Fields {
		path, key := q.Describe(i)
		d := masking.Decision{Action: masking.ActionKeep, Rule: "t.keep"}
		if key == "Bad" {
			d = masking.Decision{Action: masking.ActionDrop, Rule: masking.FailClosedRule}
		}
		p.Decisions = append(p.Decisions, d)
		p.Paths = append(p.Paths, strings.Clone(path))
		p.Classes = append(p.Classes, "")
	}
	return p, nil
}

func (stubPolicy) RecordDecision(_, _, _, name string) masking.Decision {
	if name == "Debug" {
		return masking.Decision{Action: masking.ActionDrop, Rule: "t.debug"}
	}
	return masking.Decision{Action: masking.ActionKeep, Rule: "t.rec"}
}

func (stubPolicy) DecisionError(_, _, _, _, _, key, _, _ string) error {
	if key == "Bad" {
		return errors.New("invalid params for action hash: param \"hexlen\"")
	}
	return nil
}

func (stubPolicy) RecordDecisionError(_, _, _, _ string) error { return nil }

func TestRunListsEveryRecord(t *testing.T) {
	payload := `[{"type":"meta","id":"A"},{"type":"event","evtName":"Debug","evtData":{"x":1}},{"type":"event","evtName":"Buy","evtData":{"Bad":"v","ok":2}}]`
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: make([]byte, 32), TokenKey: make([]byte, 64), TokenKeyID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := explain.Run(clevertap.Routes(), "clevertap.sdk", "t", []byte(payload), stubPolicy{}, tr)
	if err != nil {
		t.Fatal(err)
	}
	want := []explain.RecordDecision{
		{Record: 0, Kind: "meta", Action: "keep"},
		{Record: 1, Kind: "event", Name: "Debug", Action: "drop", Rule: "t.debug"},
		{Record: 2, Kind: "event", Name: "Buy", Action: "keep", Rule: "t.rec"},
	}
	if len(res.Records) != len(want) {
		t.Fatalf("records %+v, want %+v", res.Records, want)
	}
	for i := range want {
		if res.Records[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, res.Records[i], want[i])
		}
	}
	if res.RecordsIn != 2 || res.RecordsOut != 1 {
		t.Errorf("in %d out %d", res.RecordsIn, res.RecordsOut)
	}
	found := false
	for _, d := range res.Decisions {
		if d.Record == 1 {
			t.Errorf("a dropped record has field decisions: %+v", d)
		}
		if d.Path == "evtData.Bad" {
			found = true
			if d.Record != 2 || d.Rule != masking.FailClosedRule || !strings.Contains(d.Reason, "hexlen") {
				t.Errorf("failed-closed field: %+v", d)
			}
		} else if d.Reason != "" {
			t.Errorf("reason on a decided field: %+v", d)
		}
	}
	if !found {
		t.Fatalf("no decision for evtData.Bad: %+v", res.Decisions)
	}
}
