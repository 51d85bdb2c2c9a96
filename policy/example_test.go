package policy_test

import (
	"fmt"

	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
)

// keyClassifier stands in for a format adapter's classifier.
type keyClassifier map[string]string

func (c keyClassifier) Classify(_, _, key string) string { return c[key] }

func ExampleEngine_Plan() {
	e, err := policy.New() // the shipped rules; policy.WithDir("rules") to edit them live
	if err != nil {
		panic(err)
	}
	defer e.Close()

	paths := []string{"evtData.Email", "af.Lat", "af.GoogleAdID", "evtData.Amount"}
	q := &masking.PlanQuery{
		Tenant: "acme-eu", Format: "clevertap.sdk", Kind: "event", Name: "Charged",
		Sig: 42, // the adapter's hash of Fields
		Fields: []masking.FieldShape{
			{Hash: 1, Type: masking.TypeString}, {Hash: 2, Type: masking.TypeNumber},
			{Hash: 3, Type: masking.TypeString}, {Hash: 4, Type: masking.TypeNumber},
		},
		Classifier: keyClassifier{"Email": "contact.email", "Lat": "geo.lat", "GoogleAdID": "device.ad_id"},
	}
	q.SetDescriber(func(i int) (string, string) {
		keys := []string{"Email", "Lat", "GoogleAdID", "Amount"}
		return paths[i], keys[i]
	})

	plan, err := e.Plan(q) // evaluates Rego once per field shape, then cached
	if err != nil {
		panic(err)
	}
	for i, d := range plan.Decisions {
		fmt.Println(plan.Paths[i], d.Action, d.Rule)
	}
	again, _ := e.Plan(q)
	fmt.Println("cached:", again == plan, "evaluations:", e.Stats().Evaluations)
	// Output:
	// evtData.Email tokenize gdpr.contact.email
	// af.Lat generalize gdpr.geo.lat
	// af.GoogleAdID drop gdpr.device.ad_id
	// evtData.Amount scan gdpr.unclassified.scan
	// cached: true evaluations: 4
}
