package rights

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	helperEnv = "CONSENTRY_RIGHTS_HELPER"
	helperDir = "CONSENTRY_RIGHTS_HELPER_DIR"
)

// crashRef is the subject of opt-out i in the crash stream. Odd ones opt
// out through a device whose session identity is user-i, as SDK traffic
// does; even ones name the identity, as REST uploads do.
func crashRef(r *Registry, i int) (optout Ref, login Ref, check Ref) {
	id, dev := []byte(fmt.Sprintf("user-%d", i)), []byte(fmt.Sprintf("__g-device-%d", i))
	if i%2 == 1 {
		return r.Ref(tenant, nil, dev), r.Ref(tenant, id, dev), r.Ref(tenant, id, nil)
	}
	return r.Ref(tenant, id, nil), Ref{}, r.Ref(tenant, id, nil)
}

// TestHelperProcess is the child of TestKillDuringOptOutStream: it opts
// out one subject after another and prints each acknowledged one.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "optout-stream" {
		t.Skip("helper process for TestKillDuringOptOutStream")
	}
	r, err := Open(os.Getenv(helperDir), testKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < 100_000; i++ {
		optout, login, _ := crashRef(r, i)
		if login.HasDevice {
			if err := r.Link(login); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
		if err := r.OptOut(optout, false, time.Time{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		// Acknowledged: only now may the line be written.
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
	os.Exit(0)
}

// TestKillDuringOptOutStream SIGKILLs a process in the middle of a stream
// of opt-outs and checks that every opt-out it acknowledged is in force
// after a restart.
func TestKillDuringOptOutStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=optout-stream", helperDir+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 60
	var acked []int
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("bad helper line %q", sc.Text())
		}
		acked = append(acked, i)
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("helper ended before the kill after %d acks: %v\n%s", len(acked), err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("helper was not killed by a signal: %v\n%s", err, stderr.String())
	}
	r := openTest(t, dir)
	for _, i := range acked {
		optout, _, check := crashRef(r, i)
		if v := r.CheckRef(check); v.Status != StatusSuppressed {
			t.Errorf("acknowledged opt-out %d lost after SIGKILL: identity %+v", i, v)
		}
		if v := r.CheckRef(optout); v.Status != StatusSuppressed {
			t.Errorf("acknowledged opt-out %d lost after SIGKILL: %+v", i, v)
		}
	}
	t.Logf("%d acknowledged opt-outs before SIGKILL, all in force after restart (%d subjects in hot set)", len(acked), r.Len())
}
