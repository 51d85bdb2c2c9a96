package e2e

import (
	"io"
	"net/http"
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

// An opt-out record of a subject who is already suppressed is not forwarded:
// it may carry the person's data (here after a failed first try, which had
// reached the vendor). Privacy wins over telling the vendor twice.
func TestOptOutOfASuppressedSubjectIsNotForwarded(t *testing.T) {
	up := newUpstream(t)
	fail := true
	up.reply = func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		f := fail
		up.mu.Unlock()
		if f {
			w.WriteHeader(502)
			return
		}
		io.WriteString(w, "{}")
	}
	cs := start(t, "--upstream", up.url)
	optout := sdkBatch("__r1", `{"type":"profile","profile":{"Identity":"R","Company":"SecretCo","ct_optout":true}}`)
	if resp, _ := post(t, cs.url+"/a1?z="+account, optout, nil); resp.StatusCode != 502 || len(up.requests()) != 1 {
		t.Fatalf("first try: %d", resp.StatusCode)
	}
	up.mu.Lock()
	fail = false
	up.mu.Unlock()
	if resp, body := post(t, cs.url+"/a1?z="+account, optout, nil); resp.StatusCode != 200 || string(body) != "{}" || len(up.requests()) != 1 {
		t.Fatalf("a suppressed subject's opt-out record was forwarded: %d %s", resp.StatusCode, body)
	}
	post(t, cs.url+"/a1?z="+account, sdkBatch("__r1", evt), nil)
	if len(up.requests()) != 1 {
		t.Fatal("records after the opt-out were forwarded")
	}
}
