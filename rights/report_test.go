package rights

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n got %s\nwant %s", path, got, want)
	}
}

// reportFixture builds a small history with every kind of change.
func reportFixture(t *testing.T) *Registry {
	t.Helper()
	r := openTest(t, t.TempDir())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Link(r.Ref(tenant, b("alice"), b("__g-alice-phone"))))
	must(r.Link(r.Ref(tenant, b("alice"), b("__g-alice-tablet"))))
	s := Signals{}
	s.Marketing[ChannelEmail] = ConsentGranted
	s.Marketing[ChannelPush] = ConsentRevoked
	s.Marketing[ChannelDNDPhone] = ConsentRevoked
	must(r.Learn(r.Ref(tenant, nil, b("__g-alice-phone")), s))
	must(r.OptOut(r.Ref(tenant, nil, b("__g-alice-phone")), true, time.Time{}))
	must(r.Marketing(r.Ref(tenant, b("bob"), nil), ChannelSMS, ConsentGranted, time.Time{}))
	if _, err := r.Erase(r.Ref(tenant, b("bob"), nil), "dpo-token", true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Suppress(r.Ref(tenant, nil, b("__g-kiosk")), "ops-token"); err != nil {
		t.Fatal(err)
	}
	// The subject's own opt-in does not lift an erasure; the admin does.
	must(r.OptIn(r.Ref(tenant, b("bob"), nil), time.Time{}))
	if _, err := r.Unsuppress(r.Ref(tenant, b("bob"), nil), "dpo-token"); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAccessReportsGolden(t *testing.T) {
	t.Parallel()
	r := reportFixture(t)
	cases := []struct {
		name    string
		id, dev string
	}{
		{"report_identity_optout", "alice", ""},
		{"report_device_via_identity", "", "__g-alice-phone"},
		{"report_identity_erased_then_unsuppressed", "bob", ""},
		{"report_device_admin", "", "__g-kiosk"},
		{"report_unknown", "nobody", ""},
	}
	for _, c := range cases {
		rep, err := r.Show(r.Ref(tenant, b(c.id), b(c.dev)), "dpo-token")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, c.name, rep)
	}
	var log []LogEntry
	for e, err := range r.Log(time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, e)
	}
	golden(t, "log_export", log)
}

func TestConsentAndCampaignTargets(t *testing.T) {
	t.Parallel()
	r := reportFixture(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Link(r.Ref(tenant, b("carol"), b("__g-carol"))))
	must(r.Marketing(r.Ref(tenant, nil, b("__g-carol")), ChannelPush, ConsentGranted, time.Time{}))
	must(r.Marketing(r.Ref(tenant, b("carol"), nil), ChannelEmail, ConsentGranted, time.Time{}))
	must(r.Marketing(r.Ref(tenant, b("carol"), nil), ChannelDNDEmail, ConsentRevoked, time.Time{}))
	must(r.Marketing(r.Ref(tenant, b("dave"), nil), ChannelPushAll, ConsentRevoked, time.Time{}))
	must(r.Link(r.Ref(tenant, b("dave"), b("__g-dave"))))
	must(r.Marketing(r.Ref(tenant, nil, b("__g-dave")), ChannelPush, ConsentGranted, time.Time{}))
	tests := []struct {
		id, dev      string
		ch           Channel
		consent      Consent
		allowed      bool // opt-in not required
		allowedOptIn bool // marketing opt-in required
	}{
		{"carol", "", ChannelEmail, ConsentRevoked, false, false},  // dnd-email wins over email granted
		{"", "__g-carol", ChannelPush, ConsentGranted, true, true}, // per-device push
		{"carol", "", ChannelPush, ConsentGranted, true, true},     // push granted on her linked device
		{"carol", "", ChannelSMS, ConsentUnknown, true, false},
		{"", "__g-dave", ChannelPush, ConsentRevoked, false, false}, // push-all revoked on the person
		{"alice", "", ChannelEmail, ConsentGranted, true, true},     // suppressed, but system events and communication allowed
		{"alice", "", ChannelSMS, ConsentRevoked, false, false},     // dnd-phone
		{"", "__g-alice-phone", ChannelPush, ConsentRevoked, false, false},
		{"bob", "", ChannelSMS, ConsentUnknown, true, false},         // erasure forgot the consent
		{"", "__g-kiosk", ChannelPush, ConsentUnknown, false, false}, // admin-suppressed
		{"nobody", "", ChannelEmail, ConsentUnknown, true, false},
	}
	for _, tt := range tests {
		ref := r.Ref(tenant, b(tt.id), b(tt.dev))
		c, err := r.Consent(ref, tt.ch)
		if err != nil || c != tt.consent {
			t.Errorf("Consent(%q, %q, %v) = %v, %v; want %v", tt.id, tt.dev, tt.ch, c, err, tt.consent)
		}
		for _, req := range []bool{false, true} {
			want := tt.allowed
			if req {
				want = tt.allowedOptIn
			}
			if ok, err := r.CampaignAllowed(ref, tt.ch, req); err != nil || ok != want {
				t.Errorf("CampaignAllowed(%q, %q, %v, optIn=%v) = %v, %v; want %v", tt.id, tt.dev, tt.ch, req, ok, err, want)
			}
		}
	}
}
