package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Accounts of the tenants in rightsConfig.
const (
	keepAccount  = "KEEP-ACC-001"
	dropAccount  = "DROP-ACC-001"
	optInAccount = "OPTIN-ACC-001"
	opsToken     = "ops-token-0123456789abcdef"
	dpoToken     = "dpo-token-0123456789abcdef"
	vendorPass   = "VENDOR-PASSCODE-1"
)

// rightsConfig writes a config with four tenants on up: acme (default
// policy: identities hashed; vendor credentials for admin erasures), keeper
// (identities kept), dropper (identities dropped), optin (marketing opt-in
// required), and two admin tokens (one inline, one from a file).
func rightsConfig(t *testing.T, up string) (cfg, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	tokenFile = writeFile(t, dir, "dpo.token", dpoToken+"\n")
	cfg = writeFile(t, dir, "consentry.yaml", `
admin_tokens:
  - name: ops
    value: `+opsToken+`
  - name: dpo
    file: `+tokenFile+`
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up+`
    rights:
      clevertap_passcode:
        value: `+vendorPass+`
  keeper:
    accounts: ["`+keepAccount+`"]
    upstream: `+up+`
    policy_data:
      classes:
        id.user: {action: keep}
  dropper:
    accounts: ["`+dropAccount+`"]
    upstream: `+up+`
    rights:
      clevertap_passcode:
        value: client-pass
    policy_data:
      classes:
        id.user: {action: drop}
  optin:
    accounts: ["`+optInAccount+`"]
    upstream: `+up+`
    rights:
      marketing_opt_in_required: true
`)
	return cfg, tokenFile
}

// forwarder sends requests through cs and reports whether each reached up.
type forwarder struct {
	t  *testing.T
	cs *instance
	up *upstream
}

func (f forwarder) send(path string, body []byte, hdr map[string]string) (forwarded bool, status int, reply []byte) {
	f.t.Helper()
	before := len(f.up.requests())
	resp, b := post(f.t, f.cs.url+path, body, hdr)
	return len(f.up.requests()) > before, resp.StatusCode, b
}

// sdk sends an SDK batch for account acme and requires a 200.
func (f forwarder) sdk(body []byte) bool {
	f.t.Helper()
	fwd, status, b := f.send("/a1?z="+account, body, nil)
	if status != 200 {
		f.t.Fatalf("status %d %s", status, b)
	}
	return fwd
}

func profile(fields string) string { return `{"type":"profile","profile":{` + fields + `}}` }

// sentIdentity is the pseudonym the vendor received for the last SDK
// batch's profile.
func sentIdentity(t *testing.T, up *upstream) string {
	t.Helper()
	id := gjson.GetBytes(up.last(t).Body, `#(type=="profile").profile.Identity`).Str
	if id == "" {
		t.Fatalf("no profile identity upstream: %s", up.last(t).Body)
	}
	return id
}

// Scenario 2: A and B share device a1; A opts out on a1 and logs out; B
// logs in on a1: B's records flow, A's stay dropped.
func TestSharedDeviceOptOut(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	f := forwarder{t, start(t, "--upstream", up.url), up}
	if !f.sdk(sdkBatch("__a1", profile(`"Identity":"A"`), evt)) {
		t.Fatal("A's login not forwarded")
	}
	if !f.sdk(sdkBatch("__a1", profile(`"Identity":"A","ct_optout":true`))) {
		t.Fatal("the opt-out itself must reach the vendor")
	}
	if f.sdk(sdkBatch("__a1", evt)) {
		t.Error("A's anonymous record on a1 forwarded after the opt-out")
	}
	if !f.sdk(sdkBatch("__a1", profile(`"Identity":"B"`), evt)) {
		t.Fatal("B's login on the shared device dropped")
	}
	if got := gjson.GetBytes(up.last(t).Body, "#").Int(); got != 3 {
		t.Errorf("B's batch: %d elements upstream, want meta+profile+event", got)
	}
	if !f.sdk(sdkBatch("__a1", evt)) {
		t.Error("B's records on a1 dropped")
	}
	if f.sdk(sdkBatch("__a2", profile(`"Identity":"A"`), evt)) {
		t.Error("A's records forwarded from another device")
	}
	if f.sdk(sdkBatch("__a1", profile(`"Identity":"A"`), evt)) {
		t.Error("A's records forwarded on the shared device")
	}
}

// Scenario 3: A opts back in: A's records flow again, to the same profile
// (the same pseudonym and device id as before the opt-out).
func TestOptBackInSameProfile(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	f := forwarder{t, start(t, "--upstream", up.url), up}
	f.sdk(sdkBatch("__a1", profile(`"Identity":"A"`), evt))
	before, g := sentIdentity(t, up), gjson.GetBytes(up.last(t).Body, "0.g").Str
	f.sdk(sdkBatch("__a1", profile(`"Identity":"A","ct_optout":true`)))
	if f.sdk(sdkBatch("__a1", profile(`"Identity":"A"`), evt)) {
		t.Fatal("records flow while opted out")
	}
	if !f.sdk(sdkBatch("__a1", profile(`"Identity":"A","ct_optout":false`), evt)) {
		t.Fatal("the opt-in was dropped")
	}
	if after := sentIdentity(t, up); after != before || gjson.GetBytes(up.last(t).Body, "0.g").Str != g {
		t.Errorf("opt-in went to another profile: %s/%s, before %s/%s", after, gjson.GetBytes(up.last(t).Body, "0.g").Str, before, g)
	}
	if !f.sdk(sdkBatch("__a1", evt)) || !f.sdk(sdkBatch("__a2", profile(`"Identity":"A"`), evt)) {
		t.Error("A's records still dropped after the opt-in")
	}
}

// Scenario 4: A is erased (through the proxied deletion API, accepted by
// the vendor), then logs in again: A stays suppressed; the subject's own
// opt-in does not lift an erasure, only the admin API does.
func TestErasedStaysSuppressedUntilAdminLiftsIt(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	f := forwarder{t, start(t, "--upstream", up.url), up}
	f.sdk(sdkBatch("__a1", profile(`"Identity":"A"`), evt))
	fwd, status, reply := f.send("/1/delete/profiles.json", []byte(`{"identity":"A"}`), map[string]string{"X-CleverTap-Account-Id": account})
	if !fwd || status != 200 || up.last(t).Path != "/1/delete/profiles.json" {
		t.Fatalf("deletion: forwarded %v, %d %s", fwd, status, reply)
	}
	if f.sdk(sdkBatch("__a3", profile(`"Identity":"A","Name":"A again"`), evt)) {
		t.Error("erased subject re-created by a new login")
	}
	if f.sdk(sdkBatch("__a3", evt)) || f.sdk(sdkBatch("__a1", evt)) {
		t.Error("erased subject's devices not suppressed")
	}
	if f.sdk(sdkBatch("__a3", profile(`"Identity":"A","ct_optout":false`), evt)) || f.sdk(sdkBatch("__a3", evt)) {
		t.Fatal("an opt-in from traffic lifted an erasure")
	}
}

// A deletion through the proxy without the tenant's passcode changes
// nothing locally unless the vendor accepts it: a client cannot erase
// (suppress) someone else by calling the deletion route.
func TestUnauthenticatedDeletionChangesNothing(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.reply = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1/delete/profiles.json" && r.Header.Get("X-Clevertap-Passcode") != "right" {
			w.WriteHeader(401)
			io.WriteString(w, `{"status":"fail","error":"Invalid credentials"}`)
			return
		}
		io.WriteString(w, `{"status":"success"}`)
	}
	f := forwarder{t, start(t, "--upstream", up.url), up}
	f.sdk(sdkBatch("__v1", profile(`"Identity":"V"`), evt))
	hdr := map[string]string{"X-CleverTap-Account-Id": account, "X-CleverTap-Passcode": "forged"}
	fwd, status, _ := f.send("/1/delete/profiles.json", []byte(`{"identity":"V"}`), hdr)
	if !fwd || status != 401 {
		t.Fatalf("forged deletion: forwarded %v, %d; want forwarded and the vendor's 401", fwd, status)
	}
	if !f.sdk(sdkBatch("__v1", evt)) {
		t.Fatal("a forged deletion suppressed the subject")
	}
	hdr["X-CleverTap-Passcode"] = "right"
	if fwd, status, _ := f.send("/1/delete/profiles.json", []byte(`{"identity":"V"}`), hdr); !fwd || status != 200 {
		t.Fatalf("accepted deletion: %v %d", fwd, status)
	}
	if f.sdk(sdkBatch("__v1", evt)) {
		t.Fatal("the vendor accepted the deletion but the subject still flows")
	}
}

// Erasure translation: the vendor's deletion names the identifier exactly
// as the upload carried it: the hash (acme), the raw value (keeper), or
// nothing at all when the policy never forwards it (dropper).
func TestErasureTranslation(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	cfg, _ := rightsConfig(t, up.url)
	f := forwarder{t, start(t, "--config", cfg), up}
	upload := func(acc, id string) (bool, []byte) {
		fwd, status, b := f.send("/1/upload", []byte(`{"d":[{"type":"profile","identity":"`+id+`","profileData":{"Name":"X"}}]}`), map[string]string{"X-CleverTap-Account-Id": acc})
		if status != 200 {
			t.Fatalf("upload %s: %d %s", acc, status, b)
		}
		return fwd, b
	}
	del := func(acc, body string) (bool, int, []byte) {
		return f.send("/1/delete/profiles.json", []byte(body), map[string]string{"X-CleverTap-Account-Id": acc, "X-CleverTap-Passcode": "client-pass"})
	}

	// acme hashes identities: the deletion names the same hash.
	upload(account, "erase-me-7781")
	hashed := gjson.GetBytes(up.last(t).Body, "d.0.identity").Str
	if hashed == "" || hashed == "erase-me-7781" {
		t.Fatalf("test needs a hashing policy: %s", up.last(t).Body)
	}
	fwd, status, reply := del(account, `{"identity":["erase-me-7781"]}`)
	last := up.last(t)
	if !fwd || status != 200 || last.Path != "/1/delete/profiles.json" || gjson.GetBytes(last.Body, "identity.0").Str != hashed {
		t.Fatalf("deletion: %v %d %s; upstream got %s %s, want the upload's %s", fwd, status, reply, last.Path, last.Body, hashed)
	}
	if strings.Contains(string(last.Body), "erase-me-7781") || last.Header.Get("X-Clevertap-Passcode") != "client-pass" {
		t.Errorf("deletion upstream: %s %v", last.Body, last.Header)
	}
	if fwd, b := upload(account, "erase-me-7781"); fwd || !strings.Contains(string(b), `"status":"success"`) {
		t.Errorf("erased subject's upload forwarded (%v) or not answered as the vendor would: %s", fwd, b)
	}

	// keeper keeps identities: forwarded unchanged.
	upload(keepAccount, "kept-4410")
	if got := gjson.GetBytes(up.last(t).Body, "d.0.identity").Str; got != "kept-4410" {
		t.Fatalf("keeper upload: %s", up.last(t).Body)
	}
	if fwd, status, _ := del(keepAccount, `{"identity":"kept-4410"}`); !fwd || status != 200 || string(up.last(t).Body) != `{"identity":"kept-4410"}` {
		t.Errorf("keeper deletion: %v %d %s", fwd, status, up.last(t).Body)
	}

	// dropper never forwards identities: nothing to delete upstream. Only
	// the tenant's passcode authorises the local erasure then.
	if fwd, status, reply := f.send("/1/delete/profiles.json", []byte(`{"identity":"dropped-1"}`), map[string]string{"X-CleverTap-Account-Id": dropAccount}); fwd || status != 403 || !strings.Contains(string(reply), "erasure_not_authorised") {
		t.Errorf("dropper deletion without passcode: forwarded %v, %d %s", fwd, status, reply)
	}
	if fwd, _ := upload(dropAccount, "dropped-1"); !fwd {
		t.Error("dropper: an unauthorised deletion suppressed the subject")
	}
	if fwd, status, reply := del(dropAccount, `{"identity":"dropped-1"}`); fwd || status != 200 || !strings.Contains(string(reply), `"status":"success"`) {
		t.Errorf("dropper deletion: forwarded %v, %d %s", fwd, status, reply)
	}
	if fwd, _ := upload(dropAccount, "dropped-1"); fwd {
		t.Error("dropper: erased subject still flows")
	}

	// Bad deletions are refused and never forwarded.
	for _, body := range []string{`{"identity":"a","guid":"b"}`, `{"identity":[` + strings.Repeat(`"x",`, 100) + `"x"]}`, `{"email":"a@b.c"}`, `{"identity":""}`} {
		if fwd, status, reply := del(account, body); fwd || status != 400 || !strings.Contains(string(reply), `"error"`) {
			t.Errorf("%.40s: forwarded %v, %d %s", body, fwd, status, reply)
		}
	}
	if fwd, status, _ := f.send("/1/delete/profiles.json", []byte(`{"identity":"x"}`), map[string]string{"X-CleverTap-Account-Id": "NOT-CONFIGURED"}); fwd || status != 403 {
		t.Errorf("unknown account: %v %d", fwd, status)
	}
}

// Marketing consent: targets who revoked a channel leave that channel's
// campaigns; a tenant that requires opt-in keeps only those who granted it.
// MSG-push is per device (it is recorded on the device), MSG-push-all and
// the other channels on the person.
func TestCampaignTargetsFiltered(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	cfg, _ := rightsConfig(t, up.url)
	f := forwarder{t, start(t, "--config", cfg), up}
	f.sdk(sdkBatch("__m1", profile(`"Identity":"U1","MSG-push":false,"MSG-email":true`)))
	f.sdk(sdkBatch("__m2", profile(`"Identity":"U2","MSG-push":true`)))
	u2 := sentIdentity(t, up)
	f.sdk(sdkBatch("__m4", profile(`"Identity":"U4","MSG-push-all":false,"MSG-email":false`)))
	campaign := func(acc, path, to string) (bool, int, []byte) {
		return f.send(path, []byte(`{"to":`+to+`,"tag_group":"spring","content":{"title":"Hi","body":"Sale"}}`), map[string]string{"X-CleverTap-Account-Id": acc})
	}
	fwd, status, reply := campaign(account, "/1/send/push.json", `{"Identity":["U2","U3","U4"],"objectId":["__m1","__m2"]}`)
	got := up.last(t).Body
	ids, devs := gjson.GetBytes(got, "to.Identity").Array(), gjson.GetBytes(got, "to.objectId").Array()
	if !fwd || status != 200 || len(ids) != 2 || ids[0].Str != u2 || len(devs) != 1 || devs[0].Str != "__m2" {
		t.Fatalf("push: %v %d %s; upstream %s", fwd, status, reply, got)
	}
	if gjson.GetBytes(got, "content.body").Str != "Sale" || strings.Contains(string(got), `"U2"`) {
		t.Errorf("campaign body not forwarded as is, or targets not translated: %s", got)
	}
	fwd, _, _ = campaign(account, "/1/send/email.json", `{"Identity":["U1","U4"]}`)
	if ids := gjson.GetBytes(up.last(t).Body, "to.Identity").Array(); !fwd || len(ids) != 1 {
		t.Errorf("email: U1 granted email, U4 revoked it: %s", up.last(t).Body)
	}
	fwd, status, reply = campaign(account, "/1/send/push.json", `{"Identity":["U4"],"objectId":["__m1"]}`)
	if fwd || status != 200 || !strings.Contains(string(reply), `"status":"success"`) {
		t.Errorf("all targets opted out: forwarded %v, %d %s", fwd, status, reply)
	}
	t.Run("identity target whose only device revoked MSG-push", func(t *testing.T) {
		if fwd, _, _ := campaign(account, "/1/send/push.json", `{"Identity":["U1"]}`); fwd {
			t.Error("U1 revoked push on its only device")
		}
	})

	// optin tenant: only subjects with recorded consent.
	f.send("/a1?z="+optInAccount, []byte(`[{"type":"meta","id":"`+optInAccount+`","g":"__o1"},`+profile(`"Identity":"C1","MSG-push-all":true`)+`]`), nil)
	f.send("/a1?z="+optInAccount, []byte(`[{"type":"meta","id":"`+optInAccount+`","g":"__o3"},`+profile(`"Identity":"C3","MSG-push":true`)+`]`), nil)
	fwd, _, _ = campaign(optInAccount, "/1/send/push.json", `{"Identity":["C1","C2"],"objectId":["__o3","__o4"]}`)
	got = up.last(t).Body
	if ids, devs := gjson.GetBytes(got, "to.Identity").Array(), gjson.GetBytes(got, "to.objectId").Array(); !fwd || len(ids) != 1 || len(devs) != 1 || devs[0].Str != "__o3" {
		t.Errorf("opt-in tenant: forwarded %v, upstream %s", fwd, got)
	}
	if fwd, status, _ := campaign(optInAccount, "/1/send/push.json", `{"Identity":["C2"]}`); fwd || status != 200 {
		t.Errorf("opt-in tenant, no consent: forwarded %v, %d", fwd, status)
	}
	fwd, status, reply = f.send("/1/targets/create.json", []byte(`{"name":"all","target_mode":"push","where":{"event_name":"App Launched"}}`), map[string]string{"X-CleverTap-Account-Id": optInAccount})
	if fwd || status != 403 || !strings.Contains(string(reply), "segment_campaign_refused") {
		t.Errorf("opt-in tenant, segment campaign: %v %d %s", fwd, status, reply)
	}
	fwd, status, _ = f.send("/1/targets/create.json", []byte(`{"name":"all","target_mode":"email","to":{"Identity":["U1","U4"]}}`), map[string]string{"X-CleverTap-Account-Id": account})
	if ids := gjson.GetBytes(up.last(t).Body, "to.Identity").Array(); !fwd || status != 200 || len(ids) != 1 {
		t.Errorf("targets email: %v %d %s", fwd, status, up.last(t).Body)
	}
}

// subjectsCLI runs `consentry subjects` against cs with extra environment.
func subjectsCLI(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"subjects"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func adminCall(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The admin API and the CLI: suppress drops records, show reports without
// raw identifiers, unsuppress lets them flow, erase deletes at the vendor
// with the translated identifier, the log export names the token.
func TestAdminAPIAndCLI(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	cfg, tokenFile := rightsConfig(t, up.url)
	cs := start(t, "--config", cfg)
	f := forwarder{t, cs, up}
	const subject = "subject-raw-55120"
	cli := func(env []string, stdin string, args ...string) map[string]any {
		t.Helper()
		out, errs, code := subjectsCLI(t, env, stdin, append(args, "--admin", cs.admin)...)
		var m map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("subjects %v: exit %d\n%s\n%s", args, code, out, errs)
		}
		if strings.Contains(out, subject) {
			t.Errorf("subjects %v printed the raw identifier", args)
		}
		return m
	}
	m := cli(nil, "", "suppress", "--tenant", "acme", "--identity", subject, "--token-file", tokenFile)
	if gjson.Get(toJSON(m), "report.suppressed").Bool() != true || gjson.Get(toJSON(m), "report.reason").Str != "admin" {
		t.Fatalf("suppress: %v", m)
	}
	if f.sdk(sdkBatch("__s1", profile(`"Identity":"`+subject+`"`), evt)) {
		t.Error("records of a suppressed subject forwarded")
	}
	// The identity is read from stdin, the token from the environment.
	m = cli([]string{"CONSENTRY_ADMIN_TOKEN=" + opsToken}, subject+"\n", "show", "--tenant", "acme", "--identity", "-")
	if r := gjson.Get(toJSON(m), "report"); !r.Get("suppressed").Bool() || r.Get("linkedDevices").Int() != 1 || !strings.HasPrefix(r.Get("subject").Str, "identity:") {
		t.Errorf("show: %v", m)
	}
	cli(nil, "", "unsuppress", "--tenant", "acme", "--identity", subject, "--token", opsToken)
	if !f.sdk(sdkBatch("__s1", profile(`"Identity":"`+subject+`"`), evt)) {
		t.Error("records still dropped after unsuppress")
	}
	hashed := sentIdentity(t, up)

	// erase: local erasure plus the vendor deletion with the tenant's
	// credentials and the identifier as uploads carried it.
	status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/erase", opsToken, `{"tenant":"acme","identity":"`+subject+`"}`)
	last := up.last(t)
	if status != 200 || gjson.GetBytes(body, `report.vendorErasures.#(vendor=="clevertap").status`).Str != "accepted" || gjson.GetBytes(body, "report.reason").Str != "admin-erasure" {
		t.Fatalf("erase: %d %s", status, body)
	}
	if last.Path != "/1/delete/profiles.json" || string(last.Body) != `{"identity":"`+hashed+`"}` ||
		last.Header.Get("X-Clevertap-Passcode") != vendorPass || last.Header.Get("X-Clevertap-Account-Id") != account {
		t.Errorf("vendor deletion: %s %s %v", last.Path, last.Body, last.Header)
	}
	if f.sdk(sdkBatch("__s1", profile(`"Identity":"`+subject+`"`), evt)) {
		t.Error("erased subject's records forwarded")
	}
	// keeper has no vendor credentials: local erasure only, said so.
	status, body = adminCall(t, "POST", cs.admin+"/v1/subjects/erase", opsToken, `{"tenant":"keeper","device":"df2e224d90874887b4d61153ef3a2508"}`)
	if status != 200 || gjson.GetBytes(body, "report.vendorErasures").Exists() || !strings.Contains(gjson.GetBytes(body, "note").Str, "rights.vendors") {
		t.Errorf("erase without credentials: %d %s", status, body)
	}

	m = cli(nil, "", "log", "--token-file", tokenFile)
	var seen []string
	for _, e := range gjson.Get(toJSON(m), "entries").Array() {
		if e.Get("tenant").Str == "acme" && e.Get("actor").Str != "traffic" {
			seen = append(seen, e.Get("action").Str+":"+e.Get("actor").Str)
		}
	}
	if strings.Join(seen, " ") != "suppress:dpo access:ops unsuppress:ops erase:ops vendor-erase:ops vendor-erase:ops" || !gjson.Get(toJSON(m), "complete").Bool() {
		t.Errorf("log: %v", seen)
	}
	m = cli(nil, "", "log", "--token-file", tokenFile, "--tenant", "keeper", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if n := gjson.Get(toJSON(m), "count").Int(); n != 1 {
		t.Errorf("log for keeper since an hour ago: %d entries", n)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Missing or wrong tokens are refused; with no admin_tokens the API is off.
func TestAdminTokensRequired(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	cfg, _ := rightsConfig(t, up.url)
	cs := start(t, "--config", cfg)
	show := `{"tenant":"acme","identity":"A"}`
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{
		{"", 401, "missing_token"},
		{"wrong-token-0123456789", 401, "invalid_token"},
		{opsToken + "x", 401, "invalid_token"},
		{opsToken, 200, ""},
	} {
		status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/show", tc.token, show)
		if status != tc.status || gjson.GetBytes(body, "error.code").Str != tc.code {
			t.Errorf("token %q: %d %s", tc.token, status, body)
		}
	}
	if status, body := adminCall(t, "POST", cs.admin+"/v1/subjects/show", opsToken, `{"tenant":"nope","identity":"A"}`); status != 404 || !strings.Contains(string(body), "unknown_tenant") {
		t.Errorf("unknown tenant: %d %s", status, body)
	}
	out, errs, code := subjectsCLI(t, nil, "", "show", "--admin", cs.admin, "--token", "wrong-token-0123456789", "--tenant", "acme", "--identity", "A")
	if code != 1 || !strings.Contains(errs, "invalid_token") || !json.Valid([]byte(out)) {
		t.Errorf("CLI with a wrong token: exit %d\n%s\n%s", code, out, errs)
	}
	if _, errs, code := subjectsCLI(t, []string{"CONSENTRY_ADMIN_TOKEN="}, "", "show", "--admin", cs.admin, "--tenant", "acme", "--identity", "A"); code != 2 || !strings.Contains(errs, "no admin token") {
		t.Errorf("CLI without a token: exit %d %s", code, errs)
	}

	open := start(t, "--upstream", up.url) // no admin_tokens
	if status, body := adminCall(t, "POST", open.admin+"/v1/subjects/show", opsToken, `{"tenant":"default","identity":"A"}`); status != 403 || !strings.Contains(string(body), "admin_api_disabled") {
		t.Errorf("no admin_tokens: %d %s", status, body)
	}
}

// Kill test: SIGKILL in the middle of a stream of opt-outs; after a restart
// on the same data directory, every acknowledged opt-out is in force.
func TestOptOutsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	data := t.TempDir()
	cs := start(t, "--upstream", up.url, "--data", data)

	var (
		mu    sync.Mutex
		acked []int
		next  atomic.Int64
		fails atomic.Int64
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fails.Load() < 20 {
				i := int(next.Add(1))
				body := sdkBatch(fmt.Sprintf("__k%d", i), profile(fmt.Sprintf(`"Identity":"K-%d","ct_optout":true`, i)))
				resp, err := client.Post(cs.url+"/a1?z="+account, "application/json", bytes.NewReader(body))
				if err != nil {
					fails.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, i)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 40 })
	if err := cs.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-cs.done
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	sent := int(next.Load())
	t.Logf("%d opt-outs acknowledged, %d sent before and during the kill", len(acked), sent)
	if sent <= len(acked) {
		t.Fatal("the kill did not interrupt the stream")
	}

	cs2 := start(t, "--upstream", up.url, "--data", data)
	before := len(up.requests())
	// One batch naming every acknowledged identity from a fresh device: if
	// any of them were not suppressed any more, its records would go out.
	recs := make([]string, 0, 2*len(acked))
	for _, i := range acked {
		recs = append(recs, profile(fmt.Sprintf(`"Identity":"K-%d"`, i)), evt)
	}
	resp, body := post(t, cs2.url+"/a1?z="+account, sdkBatch("__fresh", recs...), nil)
	if resp.StatusCode != 200 || len(up.requests()) != before {
		t.Fatalf("acknowledged opt-outs lost after SIGKILL: %d %s; forwarded %s", resp.StatusCode, body, up.last(t).Body)
	}
	// And each acknowledged opt-out still covers its own device.
	for _, i := range acked {
		if resp, _ := post(t, cs2.url+"/a1?z="+account, sdkBatch(fmt.Sprintf("__k%d", i), evt), nil); resp.StatusCode != 200 || len(up.requests()) != before {
			t.Fatalf("device of acknowledged opt-out %d not suppressed after restart", i)
		}
	}
}

// runServe runs `consentry serve` expecting it to fail to start.
func runServe(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runServeAs(t, nil, args...)
}

// asNobody returns the credential of user nobody and a data directory it
// owns, under a path it can traverse; the binary's directory is opened too.
func asNobody(t *testing.T) (*syscall.Credential, string) {
	t.Helper()
	const nobody = 65534
	dir, err := os.MkdirTemp("", "consentry-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Dir(binary)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: nobody, Gid: nobody}, data
}

// runServeAs runs serve (as cred, if not nil) and expects it to exit.
func runServeAs(t *testing.T, cred *syscall.Credential, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--audit", "off"}, args...)...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve started although the registry cannot be opened:\n%s", errb.String())
	}
	return errb.String(), cmd.ProcessState.ExitCode()
}

// A registry that cannot be opened stops serve from starting, with a
// message naming the data directory.
func TestRegistryCannotOpen(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	t.Run("locked by another process", func(t *testing.T) {
		data := t.TempDir()
		start(t, "--upstream", up.url, "--data", data)
		msg, code := runServe(t, "--upstream", up.url, "--data", data)
		if code == 0 || !strings.Contains(msg, "cannot open the rights registry in "+data) || !strings.Contains(msg, "another consentry") {
			t.Errorf("exit %d: %s", code, msg)
		}
	})
	t.Run("damaged file", func(t *testing.T) {
		data := t.TempDir()
		writeFile(t, data, "rights.db", strings.Repeat("not a bbolt file ", 512))
		msg, code := runServe(t, "--upstream", up.url, "--data", data)
		if code == 0 || !strings.Contains(msg, "cannot open the rights registry in "+data) {
			t.Errorf("exit %d: %s", code, msg)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		data := t.TempDir()
		var cred *syscall.Credential
		if os.Geteuid() == 0 {
			// Root reads files whatever their mode: run serve as nobody,
			// with a data directory nobody owns and a store it may not read.
			cred, data = asNobody(t)
		}
		writeFile(t, data, "rights.db", "")
		if err := os.Chmod(filepath.Join(data, "rights.db"), 0); err != nil {
			t.Fatal(err)
		}
		msg, code := runServeAs(t, cred, "--upstream", up.url, "--data", data)
		if code == 0 || !strings.Contains(msg, "cannot open the rights registry") {
			t.Errorf("exit %d: %s", code, msg)
		}
	})
	t.Run("other registry key", func(t *testing.T) {
		data := t.TempDir()
		cs := start(t, "--upstream", up.url, "--data", data)
		cs.stop(t)
		writeFile(t, data, "keys/rights.key", "b3RoZXIta2V5LW90aGVyLWtleS0xMjM0NTY3ODkwMTI=")
		msg, code := runServe(t, "--upstream", up.url, "--data", data)
		if code == 0 || !strings.Contains(msg, "key does not match the one the store was created with") {
			t.Errorf("exit %d: %s", code, msg)
		}
	})
}

// A store that fails at run time (here: the file may not grow, RLIMIT_FSIZE,
// as on a full disk) makes /readyz fail and traffic and the admin API fail
// closed with 503: nothing is forwarded. When space returns (the limit is
// lifted on the running process) it recovers without a restart.
func TestStoreFailureAtRuntimeFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		missingTool(t, "prlimit (util-linux) not installed: cannot limit the store file size")
	}
	up := newUpstream(t)
	cs := startWrapped(t, []string{prlimit, "--fsize=49152:unlimited"}, "--upstream", up.url, "--audit", "off")
	client := &http.Client{Timeout: 5 * time.Second}
	failedAt := -1
	for i := 0; i < 3000 && failedAt < 0; i++ {
		body := sdkBatch(fmt.Sprintf("__f%d", i), profile(fmt.Sprintf(`"Identity":"F-%d-%s","ct_optout":true`, i, strings.Repeat("x", 64))))
		resp, err := client.Post(cs.url+"/a1?z="+account, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
		case 503:
			if !strings.Contains(string(b), "rights_unavailable") {
				t.Fatalf("503 without rights_unavailable: %s", b)
			}
			failedAt = i
		default:
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if failedAt < 0 {
		t.Fatal("the store never failed; the file size limit did not apply")
	}
	t.Logf("store write failed at opt-out %d", failedAt)
	if code, r := readyz(t, cs.admin); code != 503 || !strings.Contains(fmt.Sprint(r["reasons"]), "rights registry") {
		t.Errorf("readyz: %d %v", code, r)
	}
	before := len(up.requests())
	resp, body := post(t, cs.url+"/a1?z="+account, sdkBatch("__new-device", evt), nil)
	if resp.StatusCode != 503 || len(up.requests()) != before {
		t.Errorf("traffic of unknown state: %d %s, forwarded %v", resp.StatusCode, body, len(up.requests()) != before)
	}
	// Space returns: the registry recovers by itself.
	if out, err := exec.Command(prlimit, "--pid", fmt.Sprint(cs.cmd.Process.Pid), "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("lift the limit: %v %s", err, out)
	}
	waitFor(t, func() bool { code, _ := readyz(t, cs.admin); return code == 200 })
	resp, body = post(t, cs.url+"/a1?z="+account, sdkBatch("__after-recovery", evt), nil)
	if resp.StatusCode != 200 || len(up.requests()) != before+1 {
		t.Errorf("after recovery: %d %s, forwarded %v", resp.StatusCode, body, len(up.requests()) != before)
	}
	// The opt-outs acknowledged before the failure are still in force.
	resp, _ = post(t, cs.url+"/a1?z="+account, sdkBatch("__f0", evt), nil)
	if resp.StatusCode != 200 || len(up.requests()) != before+1 {
		t.Error("an opt-out acknowledged before the failure was lost by the recovery")
	}
}

// startWrapped is start with the binary run under a wrapper command.
func startWrapped(t *testing.T, wrapper []string, args ...string) *instance {
	t.Helper()
	all := append(append(append([]string{}, wrapper[1:]...), binary, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir()), args...)
	in := launch(t, exec.Command(wrapper[0], all...))
	waitFor(t, func() bool { code, _ := readyz(t, in.admin); return code == 200 })
	return in
}

// Rights configuration errors stop serve with a message naming the key.
func TestRightsConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	i := 0
	for _, tc := range []struct{ yaml, want string }{
		{"admin_tokens: [{name: ops, value: short}]", "at least 16"},
		{"admin_tokens: [{name: ops, env: CONSENTRY_TEST_UNSET_TOKEN}]", "admin_tokens[0] (ops): environment variable CONSENTRY_TEST_UNSET_TOKEN is not set"},
		{"admin_tokens: [{value: " + opsToken + "}]", "admin_tokens[0].name: required"},
		{"tenants: {acme: {upstream: 'http://127.0.0.1:1', rights: {clevertap_passcode: {value: a, env: B}}}}", "tenants.acme.rights.clevertap_passcode: set one of value, env or file"},
		{"tenants: {acme: {upstream: 'http://127.0.0.1:1', rights: {clevertap_account_id: X}}}", "tenants.acme.rights.clevertap_account_id: set only with clevertap_passcode"},
	} {
		i++
		yaml := tc.yaml
		if !strings.HasPrefix(yaml, "tenants:") {
			yaml += "\ntenants: {acme: {upstream: 'http://127.0.0.1:1'}}"
		}
		cfg := writeFile(t, dir, fmt.Sprintf("c%d.yaml", i), yaml+"\n")
		msg, code := runServe(t, "--config", cfg, "--data", t.TempDir())
		if code == 0 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: exit %d: %s", tc.yaml, code, msg)
		}
	}
}
