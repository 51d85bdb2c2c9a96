package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/rights/pgtest"
)

// A single node grows into a fleet: its embedded registry (with a generated
// rights key) is merged into PostgreSQL by `consentry rights migrate`, and
// a fleet instance then enforces the single node's opt-outs.
func TestMigrateSingleNodeToFleet(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	up := newUpstream(t)
	data := t.TempDir()
	single := writeFile(t, t.TempDir(), "single.yaml", `
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
    keys:
      hmac: {value: "`+fleetHMACKey+`"}
      token: {value: "`+fleetTokenKey+`"}
`)
	node := start(t, "--config", single, "--data", data)
	mustForward(t, node, sdkBatch("__m1", profile(`"Identity":"M"`), evt), "login")
	mustForward(t, node, sdkBatch("__m1", profile(`"Identity":"M","ct_optout":true`)), "opt-out")
	mustDrop(t, node, sdkBatch("__m1", evt), "after the opt-out on the single node")
	node.stop(t)

	fleet := writeFile(t, t.TempDir(), "fleet.yaml", `
rights:
  key: {file: "`+filepath.Join(data, "keys", "rights.key")+`", encoding: base64}
  postgres:
    dsn: {value: "`+dsn+`"}
    schema: `+schema+`
tenants:
  acme:
    accounts: ["`+account+`"]
    upstream: `+up.url+`
    keys:
      hmac: {value: "`+fleetHMACKey+`"}
      token: {value: "`+fleetTokenKey+`"}
`)
	out, err := exec.Command(binary, "rights", "migrate", "--config", fleet, "--from-data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if gjson.GetBytes(out, "subjectsMerged").Int() == 0 || gjson.GetBytes(out, "links").Int() != 1 {
		t.Fatalf("migrate reported %s", out)
	}
	inst := start(t, "--config", fleet)
	mustDrop(t, inst, sdkBatch("__m1", evt), "the device of the migrated opt-out")
	mustDrop(t, inst, sdkBatch("__m9", profile(`"Identity":"M"`), evt), "the migrated identity on a new device")
	mustForward(t, inst, sdkBatch("__n1", profile(`"Identity":"N"`), evt), "another person")

	// Again: nothing new to merge.
	out, err = exec.Command(binary, "rights", "migrate", "--config", fleet, "--from-data", data).CombinedOutput()
	if err != nil || gjson.GetBytes(out, "subjectsMerged").Int() != 0 {
		t.Errorf("second migrate: %v %s", err, out)
	}
	// A directory without a registry is refused, not created.
	if out, err := exec.Command(binary, "rights", "migrate", "--config", fleet, "--from-data", t.TempDir()).CombinedOutput(); err == nil {
		t.Errorf("migrate from an empty directory succeeded: %s", out)
	}
}
