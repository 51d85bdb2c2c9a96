package proc

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "123 (sink) S 1 123 123 0 -1 4194560 500 0 0 0 250 40 0 0 20 0 5 0 100 0 0", 2900 * time.Millisecond, false},
		{"spaces and parens in comm", "9 (a) b (c)) R 1 9 9 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond, false},
		{"no comm", "9 a R 1", 0, true},
		{"short", "9 (a) R 1 2 3", 0, true},
		{"not a number", "9 (a) R 1 9 9 0 -1 0 0 0 0 0 x 3 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseStat = %v, %v; want %v, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("123 (sink) S 1 123 123 0 -1 4194560 500 0 0 0 250 40 0 0 20 0 5 0 100 0 0"))
	f.Add([]byte(")))"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStat(b); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

func TestStartReadyStop(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	if !Available() {
		t.Skip("no /proc")
	}
	cpu := -1
	if runtime.NumCPU() > 1 {
		cpu = 1
	}
	p, addr, err := Start(context.Background(), Spec{
		Name: "shell", Path: "sh", Args: []string{"-c", "echo noise; echo READY 127.0.0.1:1; exec sleep 30"},
		CPU: cpu, WaitReady: true, ReadyTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	if addr != "127.0.0.1:1" {
		t.Fatalf("addr = %q", addr)
	}
	if _, err := p.CPUTime(); err != nil {
		t.Fatal(err)
	}
	if cpu >= 0 {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "Cpus_allowed_list:\t1\n") {
			t.Fatalf("child not pinned to CPU 1:\n%s", raw)
		}
	}
	p.Stop(time.Second)
	if !p.Exited() {
		t.Fatal("child still running after Stop")
	}
}

func TestStartFailsWhenChildExits(t *testing.T) {
	t.Parallel()
	_, _, err := Start(context.Background(), Spec{Name: "false", Path: "sh", Args: []string{"-c", "echo boom >&2; exit 3"}, CPU: -1, WaitReady: true})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want exit error with stderr", err)
	}
}

func TestSelfCPUTimeAdvances(t *testing.T) {
	t.Parallel()
	a := SelfCPUTime()
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	if b := SelfCPUTime(); Available() && b <= a {
		t.Fatalf("self CPU did not advance: %v → %v", a, b)
	}
}

func TestLogFileAndDiscardedStdout(t *testing.T) {
	t.Parallel()
	log := t.TempDir() + "/child.log"
	p, _, err := Start(context.Background(), Spec{
		Name: "shell", Path: "sh", Args: []string{"-c", "echo audit-line; echo log-line >&2; exec sleep 30"},
		CPU: -1, LogFile: log, DiscardStdout: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for p.Stderr() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Stderr(); got != "log-line" {
		t.Fatalf("Stderr() = %q, want only the stderr line", got)
	}
}

func TestParseSystemStat(t *testing.T) {
	t.Parallel()
	got, err := parseSystemStat([]byte("cpu  100 5 50 9000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || got != 161*clockTick {
		t.Fatalf("parseSystemStat = %v, %v; want %v", got, err, 161*clockTick)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 x 4 5 6 7 8"} {
		if _, err := parseSystemStat([]byte(bad)); err == nil {
			t.Errorf("parseSystemStat(%q) accepted", bad)
		}
	}
}

func TestParsePerCPU(t *testing.T) {
	t.Parallel()
	raw := "cpu  9 9 9 9 9 9 9 9\ncpu0 1 0 1 100 0 0 0 0 0 0\ncpu1 10 0 10 100 5 1 1 1 0 0\nintr 5\n"
	got, err := parsePerCPU([]byte(raw))
	if err != nil || len(got) != 2 || got[0] != 2*clockTick || got[1] != 23*clockTick {
		t.Fatalf("parsePerCPU = %v, %v", got, err)
	}
	if _, err := parsePerCPU([]byte("cpu 1 2 3 4 5 6 7 8\n")); err == nil {
		t.Fatal("no per-CPU lines accepted")
	}
}

func FuzzParsePerCPU(f *testing.F) {
	f.Add([]byte("cpu  9 9 9 9 9 9 9 9\ncpu0 1 0 1 100 0 0 0 0 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ds, err := parsePerCPU(b); err == nil {
			for _, d := range ds {
				if d < 0 {
					t.Fatalf("negative busy time %v", d)
				}
			}
		}
	})
}
