package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/rights/pgtest"
	"github.com/tidwall/gjson"
)

// Keys every instance of a test fleet shares.
const (
	fleetRightsKey = "fleet-rights-key-0123456789abcdef"
	fleetHMACKey   = "fleet-hmac-key-0123456789abcdef-0123456789"
)

var fleetTokenKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("fleet-token-key!"), 4)) // 64 bytes

// fleetOpts is what differs between the configs of a test fleet.
type fleetOpts struct {
	dsn, schema  string
	rightsKey    string // default fleetRightsKey
	hmacKey      string // default fleetHMACKey
	tokenKey     string // default fleetTokenKey
	maxStaleness string // default: the product's default
}

// fleetConfig writes the config of one fleet instance: the shared rights
// registry in PostgreSQL, tenant acme with keys from the config, an admin
// token.
func fleetConfig(t *testing.T, up string, o fleetOpts) string {
	t.Helper()
	if o.rightsKey == "" {
		o.rightsKey = fleetRightsKey
	}
	if o.hmacKey == "" {
		o.hmacKey = fleetHMACKey
	}
	if o.tokenKey == "" {
		o.tokenKey = fleetTokenKey
	}
	staleness := ""
	if o.maxStaleness != "" {
		staleness = "\n    max_staleness: " + o.maxStaleness
	}
	return writeFile(t, t.TempDir(), "consentry.yaml", `
admin_tokens:
  - name: ops
    value: `+opsToken+`
rights:
  key: {value: "`+o.rightsKey+`"}
  postgres:
    dsn: {value: "`+o.dsn+`"}
    schema: `+o.schema+staleness+`
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up+`
    keys:
      hmac: {value: "`+o.hmacKey+`"}
      token: {value: "`+o.tokenKey+`"}
`)
}

// startFleet starts n instances on one fresh schema with the same config.
func startFleet(t *testing.T, up *upstream, n int, o fleetOpts) ([]*instance, string) {
	t.Helper()
	cfg := fleetConfig(t, up.url, o)
	fleet := make([]*instance, n)
	for i := range fleet {
		fleet[i] = start(t, "--config", cfg)
	}
	return fleet, cfg
}

// fleetClient bounds every request of the fleet tests.
var fleetClient = &http.Client{Timeout: 5 * time.Second}

// sdkSend posts an SDK batch for acme to in and reports the status and
// whether the capture upstream answered it (its reply names
// "__upstream-ack"; a record dropped by Consentry is answered locally).
// Safe for concurrent use; err is a transport error.
func sdkSend(in *instance, body []byte) (status int, forwarded bool, reply []byte, err error) {
	resp, err := fleetClient.Post(in.url+"/a1?z="+account, "application/json; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		return 0, false, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.StatusCode == 200 && bytes.Contains(b, []byte("__upstream-ack")), b, nil
}

// mustForward sends body through in and fails unless it reached the
// upstream.
func mustForward(t *testing.T, in *instance, body []byte, what string) {
	t.Helper()
	status, fwd, reply, err := sdkSend(in, body)
	if err != nil || status != 200 || !fwd {
		t.Fatalf("%s: %d forwarded=%v %s %v", what, status, fwd, reply, err)
	}
}

// mustDrop sends body through in and fails unless Consentry answered 200
// without forwarding it.
func mustDrop(t *testing.T, in *instance, body []byte, what string) {
	t.Helper()
	status, fwd, reply, err := sdkSend(in, body)
	if err != nil || status != 200 || fwd {
		t.Errorf("%s: %d forwarded=%v %s %v", what, status, fwd, reply, err)
	}
}

// 1. Every instance pseudonymises alike: the same batch sent through each
// instance reaches the vendor with the same hashed identity and the same
// tokens.
func TestFleetIdenticalPseudonyms(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	up := newUpstream(t)
	fleet, _ := startFleet(t, up, 3, fleetOpts{dsn: dsn, schema: pgtest.Schema(t, dsn)})
	const (
		identity = "user-pseudo-4471"
		email    = "jane.fleet@example.com"
		phone    = "+14155550199"
	)
	batch := sdkBatch("__fleet-dev-1", profile(`"Identity":"`+identity+`","Email":"`+email+`","Phone":"`+phone+`","Name":"Jane Fleet"`), evt)
	var bodies [][]byte
	for i, in := range fleet {
		mustForward(t, in, batch, fmt.Sprintf("instance %d", i+1))
		bodies = append(bodies, up.last(t).Body)
	}
	for _, field := range []string{"Identity", "Email", "Phone"} {
		path := `#(type=="profile").profile.` + field
		first := gjson.GetBytes(bodies[0], path).Str
		if first == "" {
			t.Fatalf("%s not forwarded: %s", field, bodies[0])
		}
		for i, b := range bodies[1:] {
			if got := gjson.GetBytes(b, path).Str; got != first {
				t.Errorf("%s: instance %d sent %q, instance 1 sent %q", field, i+2, got, first)
			}
		}
	}
	assertNoLeak(t, bodies[0], []string{identity, email, phone})
	for i, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Errorf("instance %d forwarded another body:\n%s\ninstance 1:\n%s", i+2, b, bodies[0])
		}
	}
}

// latencies summarises propagation times.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

func (l latencies) String() string {
	if len(l) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(l), l.pct(0.50).Round(10*time.Microsecond), l.pct(0.99).Round(10*time.Microsecond), l.pct(1).Round(10*time.Microsecond))
}

// Propagation bound and probe cadence.
const (
	propagationBound = time.Second
	probeEvery       = 5 * time.Millisecond
	probeGiveUp      = 2 * propagationBound
)

// untilDropped probes in with probe (a record of the suppressed subject
// that makes Consentry read nothing but its memory) from acked on, once per
// probeEvery, until Consentry drops it; it returns how long after acked
// the first dropped probe was answered, and how many probes were forwarded
// before.
func untilDropped(in *instance, probe []byte, acked time.Time) (time.Duration, int, error) {
	leaked := 0
	for {
		sent := time.Now()
		status, fwd, reply, err := sdkSend(in, probe)
		if err != nil {
			return 0, leaked, err
		}
		if status != 200 {
			return 0, leaked, fmt.Errorf("probe answered %d %s", status, reply)
		}
		if !fwd {
			return time.Since(acked), leaked, nil
		}
		leaked++
		if time.Since(acked) > probeGiveUp {
			return time.Since(acked), leaked, fmt.Errorf("still forwarded %v after the acknowledgement", time.Since(acked).Round(time.Millisecond))
		}
		time.Sleep(probeEvery - time.Since(sent))
	}
}

// 2. A right exercised on one instance is in force on the others within a
// second: opt-outs in traffic through instance 1 (probed on 2 and 3),
// admin suppressions on instance 1 (probed on 2 and 3), admin erasures on
// instance 3 (probed on 1 and 2). The probe is the subject's next record
// from its device, sent as soon as the right was acknowledged and then
// every 5 ms until it is dropped.
func TestFleetPropagation(t *testing.T) {
	dsn := pgtest.DSN(t)
	up := newUpstream(t)
	fleet, _ := startFleet(t, up, 3, fleetOpts{dsn: dsn, schema: pgtest.Schema(t, dsn)})

	all := map[string]latencies{}
	var total latencies
	// measure runs act (which must return when the right is acknowledged)
	// and probes device on the instances at probeAt concurrently.
	measure := func(kind, device string, act func(), probeAt ...int) {
		t.Helper()
		probe := sdkBatch(device, evt)
		for _, i := range probeAt { // the probe must be able to see a difference
			mustForward(t, fleet[i], probe, fmt.Sprintf("%s %s: probe on instance %d before", kind, device, i+1))
		}
		act()
		acked := time.Now()
		type result struct {
			at     int
			d      time.Duration
			leaked int
			err    error
		}
		res := make(chan result, len(probeAt))
		for _, i := range probeAt {
			go func() {
				d, leaked, err := untilDropped(fleet[i], probe, acked)
				res <- result{i, d, leaked, err}
			}()
		}
		for range probeAt {
			r := <-res
			if r.err != nil {
				t.Errorf("%s %s on instance %d: %v", kind, device, r.at+1, r.err)
				continue
			}
			if r.d >= propagationBound {
				t.Errorf("%s %s reached instance %d after %v (bound %v)", kind, device, r.at+1, r.d, propagationBound)
			}
			if r.leaked > 0 {
				t.Logf("%s %s: %d probes forwarded by instance %d before it was in force (%v)", kind, device, r.leaked, r.at+1, r.d)
			}
			all[kind] = append(all[kind], r.d)
			total = append(total, r.d)
		}
	}

	// Opt-outs in traffic through instance 1.
	for i := range 20 {
		dev, id := fmt.Sprintf("__fo%d", i), fmt.Sprintf("FO-%d", i)
		measure("traffic opt-out", dev, func() {
			mustForward(t, fleet[0], sdkBatch(dev, profile(`"Identity":"`+id+`","ct_optout":true`)), "opt-out "+id)
		}, 1, 2)
	}
	// Admin suppressions on instance 1 and erasures on instance 3 of
	// identities that logged in before.
	for i := range 5 {
		dev, id := fmt.Sprintf("__fs%d", i), fmt.Sprintf("FS-%d", i)
		mustForward(t, fleet[0], sdkBatch(dev, profile(`"Identity":"`+id+`"`), evt), "login "+id)
		measure("admin suppress", dev, func() {
			if status, body := adminCall(t, "POST", fleet[0].admin+"/v1/subjects/suppress", opsToken, `{"tenant":"acme","identity":"`+id+`"}`); status != 200 {
				t.Fatalf("suppress %s: %d %s", id, status, body)
			}
		}, 1, 2)
	}
	for i := range 5 {
		dev, id := fmt.Sprintf("__fe%d", i), fmt.Sprintf("FE-%d", i)
		mustForward(t, fleet[1], sdkBatch(dev, profile(`"Identity":"`+id+`"`), evt), "login "+id)
		measure("admin erase", dev, func() {
			if status, body := adminCall(t, "POST", fleet[2].admin+"/v1/subjects/erase", opsToken, `{"tenant":"acme","identity":"`+id+`"}`); status != 200 || gjson.GetBytes(body, "report.reason").Str != "admin-erasure" {
				t.Fatalf("erase %s: %d %s", id, status, body)
			}
		}, 0, 1)
	}
	for _, kind := range []string{"traffic opt-out", "admin suppress", "admin erase"} {
		t.Logf("propagation, %s: %v", kind, all[kind])
	}
	t.Logf("propagation, all: %v", total)

	// The subjects themselves (not only their devices) are suppressed
	// everywhere: a login from a new device is dropped.
	mustDrop(t, fleet[2], sdkBatch("__fo-new", profile(`"Identity":"FO-0"`), evt), "opted-out identity on instance 3")
	mustDrop(t, fleet[1], sdkBatch("__fs-new", profile(`"Identity":"FS-0"`), evt), "suppressed identity on instance 2")
	mustDrop(t, fleet[0], sdkBatch("__fe-new", profile(`"Identity":"FE-0"`), evt), "erased identity on instance 1")
}

// 3. An instance whose keys differ from the fleet's refuses to start and
// says which key; it never prints a key or the DSN. A database that cannot
// be reached stops serve too, without echoing the DSN's password.
func TestFleetRefusesOtherKeys(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	up := newUpstream(t)
	schema := pgtest.Schema(t, dsn)
	startFleet(t, up, 1, fleetOpts{dsn: dsn, schema: schema}) // binds the keys

	otherHMAC := "other-hmac-key-0123456789abcdef-0123456789"
	otherToken := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("other-token-key!"), 4))
	for _, tc := range []struct {
		name   string
		o      fleetOpts
		want   string
		secret string
	}{
		{"rights key", fleetOpts{rightsKey: "other-rights-key-0123456789abcdef"}, "rights.key", "other-rights-key-0123456789abcdef"},
		{"tenant hmac key", fleetOpts{hmacKey: otherHMAC}, "tenants.acme.keys.hmac", otherHMAC},
		{"tenant token key", fleetOpts{tokenKey: otherToken}, "tenants.acme.keys.token", otherToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.dsn, tc.o.schema = dsn, schema
			msg, code := runServe(t, "--config", fleetConfig(t, up.url, tc.o), "--data", t.TempDir())
			t.Logf("exit %d: %s", code, errorLine(msg))
			if code == 0 || !strings.Contains(msg, tc.want) {
				t.Errorf("exit %d, want an error naming %s:\n%s", code, tc.want, msg)
			}
			for _, s := range []string{tc.secret, fleetRightsKey, fleetHMACKey, fleetTokenKey, dsn} {
				if strings.Contains(msg, s) {
					t.Errorf("the output quotes a secret (%.12s…):\n%s", s, msg)
				}
			}
		})
	}

	t.Run("unreachable database", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		const password = "Pg-Secret-Passw0rd-8812"
		bad := "postgres://consentry:" + password + "@" + closed + "/test?sslmode=disable&connect_timeout=2"
		msg, code := runServe(t, "--config", fleetConfig(t, up.url, fleetOpts{dsn: bad, schema: schema}), "--data", t.TempDir())
		t.Logf("exit %d: %s", code, errorLine(msg))
		if code == 0 || !strings.Contains(msg, "rights.postgres") {
			t.Errorf("exit %d, want an error naming rights.postgres:\n%s", code, msg)
		}
		if strings.Contains(msg, password) || strings.Contains(msg, bad) {
			t.Errorf("the output quotes the DSN or its password:\n%s", msg)
		}
	})
}

// errorLine is serve's closing error line in its output.
func errorLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// waitUntil polls cond every 20 ms for at most d and reports whether it
// held, and after how long.
func waitUntil(d time.Duration, cond func() bool) (bool, time.Duration) {
	start := time.Now()
	for {
		if cond() {
			return true, time.Since(start)
		}
		if time.Since(start) > d {
			return false, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// 4. Outage: two instances reach the database through a relay that the
// test cuts, a third directly. With max_staleness 1s the cut instances turn
// unready and answer traffic 503 rights_unavailable (nothing forwarded);
// an opt-out made meanwhile on the third instance is in force on them once
// the relay is restored and they have recovered by themselves.
func TestFleetOutageFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	up := newUpstream(t)
	schema := pgtest.Schema(t, dsn)
	relay, relayed := pgtest.NewRelay(t, dsn)
	cut, _ := startFleet(t, up, 2, fleetOpts{dsn: relayed, schema: schema, maxStaleness: "1s"})
	direct, _ := startFleet(t, up, 1, fleetOpts{dsn: dsn, schema: schema, maxStaleness: "1s"})
	other := direct[0]
	for i, in := range cut {
		mustForward(t, in, sdkBatch(fmt.Sprintf("__out-pre%d", i), evt), fmt.Sprintf("instance %d before the outage", i+1))
	}

	relay.Cut()
	cutAt := time.Now()
	for i, in := range cut {
		ok, after := waitUntil(5*time.Second, func() bool { code, _ := readyz(t, in.admin); return code == 503 })
		if !ok {
			t.Fatalf("instance %d still ready %v after the database was cut off", i+1, after)
		}
		_, r := readyz(t, in.admin)
		t.Logf("instance %d unready %v after the cut: %v", i+1, time.Since(cutAt).Round(time.Millisecond), r["reasons"])
		if !strings.Contains(fmt.Sprint(r["reasons"]), "rights registry") {
			t.Errorf("instance %d: readyz does not name the rights registry: %v", i+1, r)
		}
		before := len(up.requests())
		for _, b := range [][]byte{sdkBatch("__out-during", evt), sdkBatch("__out-during", profile(`"Identity":"OUT-D","ct_optout":true`))} {
			status, fwd, reply, err := sdkSend(in, b)
			if err != nil || status != 503 || fwd || !strings.Contains(string(reply), "rights_unavailable") || len(up.requests()) != before {
				t.Errorf("instance %d during the outage: %d forwarded=%v %s %v", i+1, status, fwd, reply, err)
			}
		}
		if status, body := adminCall(t, "POST", in.admin+"/v1/subjects/suppress", opsToken, `{"tenant":"acme","identity":"OUT-A"}`); status != 503 {
			t.Errorf("instance %d: admin suppress during the outage: %d %s", i+1, status, body)
		}
	}
	// The directly connected instance keeps serving and takes an opt-out.
	if code, r := readyz(t, other.admin); code != 200 {
		t.Fatalf("directly connected instance unready: %d %v", code, r)
	}
	mustForward(t, other, sdkBatch("__out-o", profile(`"Identity":"OUT-O","ct_optout":true`)), "opt-out during the outage")
	mustDrop(t, other, sdkBatch("__out-o", evt), "opted-out device on the directly connected instance")

	relay.Restore()
	restoredAt := time.Now()
	for i, in := range cut {
		ok, _ := waitUntil(15*time.Second, func() bool { code, _ := readyz(t, in.admin); return code == 200 })
		if !ok {
			code, r := readyz(t, in.admin)
			t.Fatalf("instance %d did not recover within 15s of the restore: %d %v", i+1, code, r)
		}
		t.Logf("instance %d ready %v after the restore", i+1, time.Since(restoredAt).Round(time.Millisecond))
		mustDrop(t, in, sdkBatch("__out-o", evt), fmt.Sprintf("instance %d: the device of the opt-out made during the outage", i+1))
		mustDrop(t, in, sdkBatch("__out-o2", profile(`"Identity":"OUT-O"`), evt), fmt.Sprintf("instance %d: the identity opted out during the outage", i+1))
		mustForward(t, in, sdkBatch(fmt.Sprintf("__out-post%d", i), evt), fmt.Sprintf("instance %d after recovery", i+1))
	}
}

// 5. SIGKILL in the middle of a burst of opt-outs through instance 1:
// every acknowledged opt-out is in force on instance 2 and on a restarted
// instance 1.
func TestFleetOptOutsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	up := newUpstream(t)
	fleet, cfg := startFleet(t, up, 2, fleetOpts{dsn: dsn, schema: pgtest.Schema(t, dsn)})
	victim := fleet[0]

	var (
		mu        sync.Mutex
		acked     []int
		lastAck   time.Time
		next      atomic.Int64
		transport atomic.Int64
		wg        sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for transport.Load() < 8 && next.Load() < 5000 {
				i := int(next.Add(1))
				status, _, _, err := sdkSend(victim, sdkBatch(fmt.Sprintf("__kill%d", i), profile(fmt.Sprintf(`"Identity":"KILL-%d","ct_optout":true`, i))))
				if err != nil {
					transport.Add(1)
					continue
				}
				if status == 200 {
					mu.Lock()
					acked = append(acked, i)
					lastAck = time.Now()
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 40 })
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	sent := int(next.Load())
	t.Logf("%d opt-outs acknowledged, %d sent before and during the kill", len(acked), sent)
	if sent <= len(acked) {
		t.Fatal("the kill did not interrupt the burst")
	}

	check := func(in *instance, name string) {
		t.Helper()
		// Each acknowledged opt-out covers its device (memory only) ...
		for _, i := range acked {
			mustDrop(t, in, sdkBatch(fmt.Sprintf("__kill%d", i), evt), fmt.Sprintf("%s: device of acknowledged opt-out %d", name, i))
		}
		// ... and its identity: one batch naming every acknowledged
		// identity from a fresh device forwards nothing.
		recs := make([]string, 0, 2*len(acked))
		for _, i := range acked {
			recs = append(recs, profile(fmt.Sprintf(`"Identity":"KILL-%d"`, i)), evt)
		}
		before := len(up.requests())
		status, fwd, reply, err := sdkSend(in, sdkBatch("__kill-fresh-"+name, recs...))
		if err != nil || status != 200 || fwd || len(up.requests()) != before {
			t.Errorf("%s: acknowledged opt-outs lost: %d forwarded=%v %s %v", name, status, fwd, reply, err)
		}
	}
	// Acknowledged changes are committed; give the survivor the fleet's
	// propagation bound since the last acknowledgement to apply them.
	time.Sleep(time.Until(lastAck.Add(propagationBound)))
	check(fleet[1], "instance 2")
	check(start(t, "--config", cfg), "restarted instance 1")
}
