package corpus

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// checkTraffic fills r's slots with two different (member, fresh) pairs and
// checks each result is a valid Android batch naming exactly those ids.
func checkTraffic(t *testing.T, k Kind, r Request, seed int64) {
	t.Helper()
	if r.Method != "POST" || r.Format != FormatSDK || r.Records < 1 || len(r.Slots) == 0 {
		t.Fatalf("bad traffic request: %s records %d slots %d", r.Method, r.Records, len(r.Slots))
	}
	for _, p := range []struct{ m, n uint64 }{{0, 0}, {123456, 987654321}} {
		body := bytes.Clone(r.Body)
		Fill(body, r.Slots, p.m, p.n)
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Fatalf("filled body is not JSON: %v", err)
		}
		if len(batch) != r.Records+1 {
			t.Fatalf("got %d elements, want %d records + meta", len(batch), r.Records)
		}
		g, _ := batch[0]["g"].(string)
		member, fresh := MemberDevice(seed, p.m), FreshDevice(seed, p.n)
		if len(g) != 34 || !strings.HasPrefix(g, "__") || (g != member && g != fresh) {
			t.Fatalf("meta g = %q, want %q or %q", g, member, fresh)
		}
		if k == Churn && g != fresh {
			t.Fatalf("churn request from a returning device %q", g)
		}
		for _, rec := range batch[1:] {
			prof, _ := rec["profile"].(map[string]any)
			if id, ok := prof["Identity"].(string); ok {
				want := MemberIdentity(p.m)
				if g == fresh {
					want = FreshIdentity(p.n)
				}
				if id != want {
					t.Fatalf("Identity %q on device %q, want %q", id, g, want)
				}
			}
		}
	}
}

// The mix of each traffic corpus is what its documentation promises, over
// 1,000 variants.
func TestTrafficMix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind                  Kind
		minMember, maxMember  int // requests from returning members
		minLogin, maxLogin    int // requests with a profile carrying Identity
		minOneOff, maxOneOff  int
		minOptOut, maxOptOut  int
		minRecords, maxRecord float64 // average records per request
	}{
		{Typical, 850, 950, 150, 400, 3, 25, 0, 0, 2.5, 3.6},
		{Churn, 0, 0, 160, 240, 3, 25, 1, 8, 2.1, 2.4},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			reqs, err := Generate(tt.kind, Options{Seed: 1, Variants: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var member, login, oneOff, optOut, records int
			for _, r := range reqs {
				records += r.Records
				kinds := map[SlotKind]bool{}
				for _, s := range r.Slots {
					kinds[s.Kind] = true
				}
				if kinds[SlotMemberDevice] {
					member++
				}
				if bytes.Contains(r.Body, []byte(`"Identity":`)) {
					login++
				}
				if kinds[SlotFreshName] {
					oneOff++
				}
				if bytes.Contains(r.Body, []byte(`"ct_optout":true`)) {
					optOut++
				}
			}
			avg := float64(records) / float64(len(reqs))
			for _, c := range []struct {
				what          string
				got, min, max int
			}{{"member", member, tt.minMember, tt.maxMember}, {"login", login, tt.minLogin, tt.maxLogin},
				{"one-off", oneOff, tt.minOneOff, tt.maxOneOff}, {"opt-out", optOut, tt.minOptOut, tt.maxOptOut}} {
				if c.got < c.min || c.got > c.max {
					t.Errorf("%s requests: %d of 1000, want %d..%d", c.what, c.got, c.min, c.max)
				}
			}
			if avg < tt.minRecords || avg > tt.maxRecord {
				t.Errorf("average records per request %.2f, want %.1f..%.1f", avg, tt.minRecords, tt.maxRecord)
			}
		})
	}
}

func TestFillWritesHexOfTheRightNumber(t *testing.T) {
	t.Parallel()
	body := []byte(`["0000000000000000","0000000000000000"]`)
	Fill(body, []Slot{{2, SlotMemberDevice}, {21, SlotFreshName}}, 0xabc, 0x1f)
	if want := `["0000000000000abc","000000000000001f"]`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
}
