package policy

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/masking"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// vocabulary is every class the adapters assign, with the value types it
// usually has, plus unknown fields.
var vocabulary = []struct {
	class string
	types []masking.ValueType
}{
	{"id.user", []masking.ValueType{masking.TypeString, masking.TypeNumber}},
	{"id.device", []masking.ValueType{masking.TypeString}},
	{"contact.email", []masking.ValueType{masking.TypeString}},
	{"contact.phone", []masking.ValueType{masking.TypeString, masking.TypeNumber}},
	{"person.name", []masking.ValueType{masking.TypeString}},
	{"person.birthdate", []masking.ValueType{masking.TypeString}},
	{"person.gender", []masking.ValueType{masking.TypeString}},
	{"person.photo", []masking.ValueType{masking.TypeString}},
	{"person.age", []masking.ValueType{masking.TypeNumber}},
	{"person.attribute", []masking.ValueType{masking.TypeString, masking.TypeBool}},
	{"device.ad_id", []masking.ValueType{masking.TypeString}},
	{"device.vendor_id", []masking.ValueType{masking.TypeString}},
	{"device.ad_tracking", []masking.ValueType{masking.TypeBool, masking.TypeNumber}},
	{"device.info", []masking.ValueType{masking.TypeString, masking.TypeNumber}},
	{"network.wifi", []masking.ValueType{masking.TypeBool}},
	{"network.bluetooth", []masking.ValueType{masking.TypeString}},
	{"network.radio", []masking.ValueType{masking.TypeString}},
	{"network.type", []masking.ValueType{masking.TypeString}},
	{"network.carrier", []masking.ValueType{masking.TypeString}},
	{"network.country", []masking.ValueType{masking.TypeString}},
	{"net.ip", []masking.ValueType{masking.TypeString}},
	{"net.use_ip", []masking.ValueType{masking.TypeBool}},
	{"geo.lat", []masking.ValueType{masking.TypeNumber}},
	{"geo.lng", []masking.ValueType{masking.TypeNumber}},
	{"geo.location", []masking.ValueType{masking.TypeString}},
	{"consent.optout", []masking.ValueType{masking.TypeBool}},
	{"consent.marketing", []masking.ValueType{masking.TypeBool}},
	{"auth.account", []masking.ValueType{masking.TypeString}},
	{"record.meta", []masking.ValueType{masking.TypeString, masking.TypeNumber}},
	{"app.info", []masking.ValueType{masking.TypeString}},
	{"free_text", []masking.ValueType{masking.TypeString}},
	{"", []masking.ValueType{masking.TypeString, masking.TypeNumber, masking.TypeBool, masking.TypeNull}},
}

// TestDefaultPolicyGolden writes the shipped policy's decision for every
// class as one reviewable table; run with -update after a deliberate change.
func TestDefaultPolicyGolden(t *testing.T) {
	e := newEngine(t)
	cl := pathClassifier{}
	var fields []field
	for i, v := range vocabulary {
		for _, typ := range v.types {
			p := fmt.Sprintf("f%02d.%s", i, typ)
			cl[p] = v.class
			fields = append(fields, field{p, typ})
		}
	}
	plan, err := e.Plan(newQuery("acme-eu", "clevertap.sdk", "event", "Charged", cl, fields...))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# class\ttype\taction\trule\tparams (after masking.ParseParams)\n")
	for i, d := range plan.Decisions {
		class := plan.Classes[i]
		if class == "" {
			class = `""`
		}
		params := "-"
		if d.Params != nil {
			params = fmt.Sprintf("%+v", *d.Params)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", class, plan.Fields[i].Type, d.Action, d.Rule, params)
	}
	golden := filepath.Join("testdata", "default_policy.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./policy -run Golden -update)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("default policy decisions changed; review and run with -update:\n--- got\n%s--- want\n%s", got, want)
	}
}
