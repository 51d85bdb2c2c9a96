package e2e

import (
	"testing"
)

// sdkBatch is a batch from device g with records.
func sdkBatch(g string, records ...string) []byte {
	b := `[{"type":"meta","id":"` + account + `","g":"` + g + `"}`
	for _, r := range records {
		b += "," + r
	}
	return []byte(b + "]")
}

const evt = `{"type":"event","evtName":"Viewed","evtData":{"n":1}}`

// Scenario 1: user A with devices a1 and a2 opts out on a1; records from a1
// and a2 are dropped.
func TestOptOutCoversAllDevices(t *testing.T) {
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	send := func(body []byte) (forwarded bool) {
		t.Helper()
		before := len(up.requests())
		resp, b := post(t, cs.url+"/a1?z="+account, body, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
		return len(up.requests()) > before
	}
	if !send(sdkBatch("__a2", `{"type":"profile","profile":{"Identity":"A"}}`, evt)) {
		t.Fatal("login on a2 not forwarded")
	}
	if !send(sdkBatch("__a1", `{"type":"profile","profile":{"Identity":"A","ct_optout":true}}`)) {
		t.Fatal("the opt-out record itself must reach the vendor")
	}
	if send(sdkBatch("__a1", evt)) {
		t.Error("a1 record forwarded after the opt-out")
	}
	if send(sdkBatch("__a2", evt)) {
		t.Error("a2 record forwarded after A opted out on a1")
	}
	if !send(sdkBatch("__b1", `{"type":"profile","profile":{"Identity":"B"}}`, evt)) {
		t.Error("another user's records were dropped")
	}
}
