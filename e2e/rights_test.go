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

// A retried opt-out reaches the vendor: when the first copy met an
// upstream failure, the SDK's retry is forwarded (the subject is suppressed
// by nothing but that opt-out, which the vendor has not accepted yet); once
// the vendor answered 2xx, later copies are answered locally. Records after
// the opt-out never flow.
func TestRetriedOptOutReachesTheVendor(t *testing.T) {
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
	post(t, cs.url+"/a1?z="+account, sdkBatch("__r1", evt), nil)
	if len(up.requests()) != 1 {
		t.Fatal("a record after the opt-out was forwarded")
	}
	up.mu.Lock()
	fail = false
	up.mu.Unlock()
	if resp, body := post(t, cs.url+"/a1?z="+account, optout, nil); resp.StatusCode != 200 || len(up.requests()) != 2 {
		t.Fatalf("the retried opt-out did not reach the vendor: %d %s, %d upstream requests", resp.StatusCode, body, len(up.requests()))
	}
	if resp, body := post(t, cs.url+"/a1?z="+account, optout, nil); resp.StatusCode != 200 || string(body) != "{}" || len(up.requests()) != 2 {
		t.Fatalf("a copy after the vendor's acknowledgement was forwarded: %d %s", resp.StatusCode, body)
	}
	post(t, cs.url+"/a1?z="+account, sdkBatch("__r1", evt), nil)
	if len(up.requests()) != 2 {
		t.Fatal("records after the opt-out were forwarded")
	}
}

// An opt-out record of a subject suppressed for another reason (here an
// admin suppression) is not forwarded: it may carry the person's data.
func TestOptOutOfAnAdminSuppressedSubjectIsNotForwarded(t *testing.T) {
	up := newUpstream(t)
	cfg, _ := rightsConfig(t, up.url)
	cs := start(t, "--config", cfg)
	if status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/suppress", opsToken, `{"tenant":"acme","identity":"S"}`); status != 200 {
		t.Fatalf("suppress: %d %s", status, body)
	}
	optout := sdkBatch("__s9", `{"type":"profile","profile":{"Identity":"S","Company":"SecretCo","ct_optout":true}}`)
	if resp, body := post(t, cs.url+"/a1?z="+account, optout, nil); resp.StatusCode != 200 || string(body) != "{}" || len(up.requests()) != 0 {
		t.Fatalf("an admin-suppressed subject's opt-out record was forwarded: %d %s", resp.StatusCode, body)
	}
}
