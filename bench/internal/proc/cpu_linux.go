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

// SystemBusy returns the CPU time all processes on the machine have used
// (user, nice, system, irq, softirq, steal over every CPU) since boot, so
// that a run can tell how much of the machine others took.
func SystemBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("cannot read /proc/stat: %w", err)
	}
	return parseSystemStat(raw)
}

// PerCPUBusy returns the CPU time all processes have used on each CPU
// since boot, indexed by CPU number.
func PerCPUBusy() ([]time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, fmt.Errorf("cannot read /proc/stat: %w", err)
	}
	return parsePerCPU(raw)
}
