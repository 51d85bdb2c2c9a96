package erasure

import (
	"slices"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/amplitude"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/formats/mixpanel"
	"github.com/consentry/consentry/formats/posthog"
	"github.com/consentry/consentry/formats/segment"
	"github.com/consentry/consentry/masking"
)

// pathPlanner is ClassPlanner, except that it tokenizes the fields named
// by format and path (policy_data.fields with a path-specific action), or
// every id.* field when path is "*".
type pathPlanner struct{ format, path string }

func (p pathPlanner) Plan(q *masking.PlanQuery) (*masking.Plan, error) {
	plan, _ := formatstest.ClassPlanner{}.Plan(q)
	for i := range plan.Decisions {
		switch {
		case p.path == "*" && plan.Decisions[i].Action == masking.ActionHash,
			q.Format == p.format && plan.Paths[i] == p.path:
			plan.Decisions[i].Action = masking.ActionTokenize
		}
	}
	return plan, nil
}

// restIdentity is a REST upload profile record, as CleverTap's /1/upload
// carries an identity (the shape formats/clevertap translates deletions in).
var restIdentity = formats.IDCarrier{Format: clevertap.FormatREST, Kind: "profile", Prefix: `{"type":"profile","identity":`, Suffix: `}`, Path: "identity", Classifier: clevertap.Classifier{}}

// held returns every value a vendor holds for a person whose identifier its
// traffic carried as one of toks (JSON tokens), through each of carriers:
// what the traffic route's policy run writes, computed record by record.
func held(t *testing.T, env *formats.Env, carriers []formats.IDCarrier, toks ...string) []string {
	t.Helper()
	var out []string
	for i := range carriers {
		for _, tok := range toks {
			v, ok, err := env.TranslateID(nil, &carriers[i], []byte(tok))
			if err != nil || !ok {
				t.Fatalf("%s %s carrying %s: %v %v", carriers[i].Format, carriers[i].Path, tok, ok, err)
			}
			if !slices.Contains(out, string(v)) {
				out = append(out, string(v))
			}
		}
	}
	return out
}

// The erasure names the person by every value the vendor may hold: each
// record shape the vendor's traffic carries the identifier in (CleverTap:
// REST uploads and SDK /a1 batches, which a path-specific policy rewrites
// differently), and a numeric identifier both as a string and as a number
// (tokenize seals each as written). Before, CleverTap was named by the REST
// translation only and numbers only as strings.
func TestSubjectIDsEveryCarrier(t *testing.T) {
	sdkID := clevertap.SDKIDCarriers(false)
	sdkGUID := clevertap.SDKIDCarriers(true)
	restGUID := formats.IDCarrier{Format: clevertap.FormatREST, Kind: "profile", Prefix: `{"type":"profile","objectId":`, Suffix: `}`, Path: "objectId", Classifier: clevertap.Classifier{}}
	cases := []struct {
		name     string
		vendor   string
		planner  pathPlanner
		device   bool
		id       string
		carriers []formats.IDCarrier
		toks     []string
		n        int // distinct values the erasure must send
	}{
		{"clevertap sdk identity tokenized by path", CleverTap, pathPlanner{clevertap.FormatSDK, "profile.Identity"}, false, "user-42",
			[]formats.IDCarrier{restIdentity, sdkID[0]}, []string{`"user-42"`}, 2},
		{"clevertap sdk guid tokenized by path", CleverTap, pathPlanner{clevertap.FormatSDK, "g"}, true, "df2e224d90874887b4d61153ef3a2508",
			[]formats.IDCarrier{restGUID, sdkGUID[0]}, []string{`"df2e224d90874887b4d61153ef3a2508"`}, 2},
		{"clevertap numeric identity", CleverTap, pathPlanner{path: "*"}, false, "42",
			[]formats.IDCarrier{restIdentity, sdkID[0]}, []string{`"42"`, `42`}, 2},
		{"mixpanel numeric distinct_id", Mixpanel, pathPlanner{path: "*"}, false, "42", mixpanel.IDCarriers(), []string{`"42"`, `42`}, 2},
		{"amplitude numeric user_id", Amplitude, pathPlanner{path: "*"}, false, "42", amplitude.IDCarriers(), []string{`"42"`, `42`}, 2},
		{"posthog numeric distinct_id", PostHog, pathPlanner{path: "*"}, false, "-7.5e3", posthog.IDCarriers(), []string{`"-7.5e3"`, `-7.5e3`}, 2},
		{"segment numeric userId", Segment, pathPlanner{path: "*"}, false, "42", segment.IDCarriers(segment.FormatSegment), []string{`"42"`, `42`}, 2},
		{"not a JSON number: string only", Mixpanel, pathPlanner{path: "*"}, false, "042", mixpanel.IDCarriers(), []string{`"042"`}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := formatstest.FuzzEnv(t)
			env.Planner = c.planner
			want := held(t, env, c.carriers, c.toks...)
			v, _ := New(c.vendor, testConfigs[c.vendor])
			ids, err := v.SubjectIDs(nil, env, c.device, []byte(c.id))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, id := range ids {
				got = append(got, string(id))
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("the vendor holds %s; the erasure names %q", w, got)
				}
			}
			if len(got) != c.n {
				t.Errorf("%d values %q, want %d distinct", len(got), got, c.n)
			}
			body := string(v.Request(ids, c.device).Body)
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("the request body does not carry %s: %s", w, body)
				}
			}
		})
	}
}
