//go:build linux

package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; the
// kernel reports it as 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// Available reports whether per-process CPU accounting works here.
func Available() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// startPinned starts cmd with its CPU affinity set to cpu. The child
// inherits the affinity of the thread that forks it, so the harness pins
// that one thread for the duration of Start and restores it afterwards.
func startPinned(cmd interface{ Start() error }, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cannot read CPU affinity: %w", err)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cannot pin to CPU %d: %w", cpu, err)
	}
	err := cmd.Start()
	if unix.SchedSetaffinity(0, &old) == nil {
		runtime.UnlockOSThread()
	}
	// If restoring failed the goroutine stays locked, so the runtime
	// retires the wrongly pinned thread when this goroutine ends.
	return err
}

// TreeCPUTime returns utime+stime of pid plus that of its live
// descendants.
func TreeCPUTime(pid int) (time.Duration, error) {
	total, err := pidCPUTime(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children(pid) {
		if d, err := TreeCPUTime(c); err == nil {
			total += d
		}
	}
	return total, nil
}

func pidCPUTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cannot read CPU time of pid %d: %w", pid, err)
	}
	return parseStat(raw)
}

// parseStat extracts utime + stime from a /proc/<pid>/stat line. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc stat: no command field")
	}
	f := bytes.Fields(raw[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc stat: %d fields", len(f)+2)
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc stat utime/stime")
	}
	return time.Duration(u+s) * clockTick, nil
}

// children lists the direct children of pid over all its threads.
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range bytes.Fields(raw) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// SelfCPUTime returns the harness's own user + system CPU time (the load
// generator), with microsecond resolution.
func SelfCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PinSelf pins every thread of the harness to cpu (threads created later
// inherit it) and returns a function that restores the previous affinity.
func PinSelf(cpu int) (restore func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("cannot read CPU affinity: %w", err)
	}
	set.Set(cpu)
	if err := setAllThreads(&set); err != nil {
		_ = setAllThreads(&old)
		return nil, fmt.Errorf("cannot pin the harness to CPU %d: %w", cpu, err)
	}
	return func() { _ = setAllThreads(&old) }, nil
}

func setAllThreads(set *unix.CPUSet) error {
	// Twice: a thread started while the first pass ran may have inherited
	// the old mask.
	var last error
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		last = nil
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				last = err
			}
		}
	}
	return last
}
