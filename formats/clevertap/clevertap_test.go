package clevertap

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/policy"
	"github.com/consentry/consentry/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testEnv is the real default policy with fixed test keys, so outputs are
// deterministic and golden files are meaningful.
func testEnv(t testing.TB) *formats.Env {
	t.Helper()
	return testEnvLimits(t, budget.Limits{})
}

// testEnvLimits is testEnv with the policy engine's budgets set.
func testEnvLimits(t testing.TB, lim budget.Limits) *formats.Env {
	t.Helper()
	env, _ := testEnvMemo(t, lim)
	return env
}

// testEnvMemo is testEnvLimits that also returns the transform cache.
func testEnvMemo(t testing.TB, lim budget.Limits) (*formats.Env, *masking.Memo) {
	t.Helper()
	eng, err := policy.New(policy.WithFS(rules.FS), policy.WithLimits(lim))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	// As serve runs it: keyed results remembered in a transform cache.
	memo, err := masking.NewMemo(budget.DefaultTransformCacheBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(memo.Close)
	tr, err := masking.NewTransformer(masking.Keys{HMACKey: bytes.Repeat([]byte{7}, 32), TokenKey: bytes.Repeat([]byte{9}, 64), TokenKeyID: "t1"}, masking.WithMemo(memo))
	if err != nil {
		t.Fatal(err)
	}
	return &formats.Env{Tenant: "acme", Planner: eng, Applier: tr, Records: eng, Rewriter: masking.NewRewriter(), Stats: &masking.Stats{}}, memo
}

func TestGolden(t *testing.T) {
	env := testEnv(t)
	for _, tc := range []struct {
		sample string
		clean  func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error)
		in     int
	}{
		{"android_batch.json", CleanSDK, 4},
		{"ios_batch.json", CleanSDK, 2},
		{"rest_upload.json", CleanREST, 3},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			in, err := Samples.ReadFile("samples/" + tc.sample)
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := tc.clean(nil, in, env)
			if err != nil {
				t.Fatal(err)
			}
			if res.RecordsIn != tc.in || res.RecordsOut != tc.in || res.AllDropped {
				t.Errorf("result %+v", res)
			}
			if !json.Valid(out) {
				t.Fatalf("invalid output %s", out)
			}
			golden := filepath.Join("testdata", "golden", tc.sample)
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s:\n got %s\nwant %s", golden, out, want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	c := Classifier{}
	for _, tc := range []struct{ kind, path, key, want string }{
		{"meta", "g", "g", "id.device"},
		{"meta", "af.GoogleAdID", "GoogleAdID", "device.ad_id"},
		{"event", "evtData.GoogleAdID", "GoogleAdID", "device.ad_id"},
		{"profile", "profile.Email", "Email", "contact.email"},
		{"profile", "profile.EMAIL", "EMAIL", "contact.email"},
		{"profile", "profile.Phone.$set", "$set", "contact.phone"},
		{"profile", "profile.Interests.$add[]", "$add", ""},
		{"event", "type", "type", "record.meta"},
		{"event", "evtData.type", "type", ""},
		{"ping", "nt", "nt", "network.type"},
		{"data", "data.id", "id", "id.push_token"},
		{"profile", "identity", "identity", "id.user"},
		{"profile", "profileData.MSG-email", "MSG-email", "consent.marketing"},
		{"event", "evtData.Items[].Email", "Email", "contact.email"},
	} {
		if got := c.Classify(tc.kind, tc.path, tc.key); got != tc.want {
			t.Errorf("Classify(%s, %s, %s) = %q, want %q", tc.kind, tc.path, tc.key, got, tc.want)
		}
	}
}

func TestSDKStructureErrors(t *testing.T) {
	env := testEnv(t)
	for _, in := range []string{
		`{"type":"meta"}`,
		`[{"type":"meta"},{"type":"meta"}]`,
		`[{"type":"meta"},{"evtName":"x"}]`,
		`[{"type":"meta"},"x"]`,
		`[{"type":"meta"},{"type":"event",}]`,
		`[{"type":"meta"},{"type":"jane@example.com","evtData":{}}]`,
	} {
		if _, _, err := CleanSDK(nil, []byte(in), env); err == nil {
			t.Errorf("accepted %s", in)
		} else if fe := formats.AsError(err); fe.Status != 400 {
			t.Errorf("%s: status %d", in, fe.Status)
		}
	}
}

func TestRESTStructureErrors(t *testing.T) {
	env := testEnv(t)
	for _, in := range []string{`[]`, `{}`, `{"d":{}}`, `{"d":[],"d":[]}`, `{"d":[],"x":1}`, `{"d":[1]}`, `{"d":[{"identity":"a"}]}`, `{"d":[{"identity":"a","type":"jane@example.com"}]}`} {
		if _, _, err := CleanREST(nil, []byte(in), env); err == nil {
			t.Errorf("accepted %s", in)
		}
	}
	big := `{"d":[` + strings.Repeat(`{"type":"event","evtName":"e","evtData":{}},`, MaxRESTRecords) + `{"type":"event","evtName":"e","evtData":{}}]}`
	if _, _, err := CleanREST(nil, []byte(big), env); err == nil || formats.AsError(err).Code != "too_many_records" {
		t.Errorf("over the record limit: %v", err)
	}
}

func TestProfileSignals(t *testing.T) {
	env := testEnv(t)
	rec := &recordingSubjects{}
	env.Subjects = rec
	in := `[{"type":"meta","g":"__abc","id":"A"},{"type":"profile","profile":{"Identity":"u1","ct_optout":true,"ct_allow_sys_events_and_communication":true,"MSG-email":false,"MSG-dndPhone":true}},{"type":"event","evtName":"E","evtData":{}}]`
	if _, _, err := CleanSDK(nil, []byte(in), env); err != nil {
		t.Fatal(err)
	}
	if len(rec.observed) != 2 {
		t.Fatalf("observed %d records", len(rec.observed))
	}
	o := rec.observed[0]
	if o.identity != "u1" || o.device != "__abc" || o.sig.OptOut != 1 || !o.sig.AllowSystem || o.sig.Marketing[2] != -1 || o.sig.Marketing[5] != -1 {
		t.Errorf("signals %+v", o)
	}
	if rec.observed[1].identity != "u1" {
		t.Errorf("the batch's identity did not carry to the following event: %+v", rec.observed[1])
	}
	if !rec.observed[0].system || rec.observed[1].system {
		t.Errorf("system flags: profile %v, custom event %v", rec.observed[0].system, rec.observed[1].system)
	}
}

type observation struct {
	identity, device string
	sig              formats.Signals
	system           bool
}

type recordingSubjects struct{ observed []observation }

func (r *recordingSubjects) Admit(_ string, s formats.Subject, sig formats.Signals) (bool, error) {
	r.observed = append(r.observed, observation{string(s.Identity), string(s.Device), sig, s.System})
	return true, nil
}

func TestEnvelopeRoundTrip(t *testing.T) {
	plain := []byte(`[{"type":"meta","id":"A"}]`)
	env := &Envelope{key: bytes.Repeat([]byte{1}, 32)}
	sealed, err := env.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !IsEnvelope(sealed) {
		t.Fatal("not recognised as an envelope")
	}
	got, env2, err := OpenEnvelope(sealed)
	if err != nil || !bytes.Equal(got, plain) || !bytes.Equal(env2.key, env.key) {
		t.Fatalf("%v %s", err, got)
	}
	for _, bad := range []string{`{"itp":"x"}`, `{"itp":"AAAA","itk":"AAAA","itv":"AAAA"}`, `{"itp":1,"itk":"","itv":""}`, `{"itp":"AA==","itk":"AA==","itv":"AA==","extra":"pii@example.com"}`} {
		if _, _, err := OpenEnvelope([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	tampered := bytes.Replace(sealed, []byte(`"itp":"`), []byte(`"itp":"AAAA`), 1)
	if _, _, err := OpenEnvelope(tampered); err == nil {
		t.Error("tampered ciphertext accepted")
	}
}

func FuzzCleanSDK(f *testing.F) {
	for _, s := range []string{"android_batch.json", "ios_batch.json"} {
		b, _ := Samples.ReadFile("samples/" + s)
		f.Add(b)
	}
	f.Add([]byte(`[{"type":"meta"},{"type":"profile","profile":{"Email":"a@b.co","\u0045mail":"c@d.co"}}]`))
	env := testEnv(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := CleanSDK(nil, in, env)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
	})
}

func FuzzCleanREST(f *testing.F) {
	b, _ := Samples.ReadFile("samples/rest_upload.json")
	f.Add(b)
	env := testEnv(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := CleanREST(nil, in, env)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
	})
}

func FuzzOpenEnvelope(f *testing.F) {
	env := &Envelope{key: bytes.Repeat([]byte{3}, 32)}
	sealed, _ := env.Seal([]byte(`[{"type":"meta"}]`))
	f.Add(sealed)
	f.Add([]byte(`{"itp":"","itk":"","itv":""}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		plain, e, err := OpenEnvelope(in)
		if err != nil {
			return
		}
		if e == nil || len(e.key) != 32 {
			t.Fatal("opened without a session key")
		}
		again, err := e.Seal(plain)
		if err != nil || !IsEnvelope(again) {
			t.Fatalf("cannot reseal: %v", err)
		}
	})
}

func TestClassifyNameAndAddressVariants(t *testing.T) {
	for _, key := range []string{"First Name", "LastName", "fullName", "Address", "Zip"} {
		if c := (Classifier{}).Classify("profile", "profile."+key, key); c == "" {
			t.Errorf("%q is unclassified", key)
		}
	}
}

func TestMarketingConsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		value bool
		ch    int
		c     int8
		ok    bool
	}{
		{"MSG-push", true, 0, 1, true},
		{"MSG-push-all", false, 1, -1, true},
		{"MSG-email", false, 2, -1, true},
		{"MSG-sms", true, 3, 1, true},
		{"MSG-whatsapp", true, 4, 1, true},
		{"MSG-dndPhone", true, 5, -1, true}, // do not disturb = consent revoked
		{"MSG-dndEmail", false, 6, 1, true},
		{"MSG-Email", true, 0, 0, false},
		{"Email", true, 0, 0, false},
	}
	for _, tt := range tests {
		ch, c, ok := marketingConsent([]byte(tt.key), tt.value)
		if ch != tt.ch || c != tt.c || ok != tt.ok {
			t.Errorf("marketingConsent(%q, %v) = %v, %v, %v; want %v, %v, %v", tt.key, tt.value, ch, c, ok, tt.ch, tt.c, tt.ok)
		}
		if ok && formats.MarketingChannels[ch] == "" {
			t.Errorf("channel %d has no name", ch)
		}
	}
}
