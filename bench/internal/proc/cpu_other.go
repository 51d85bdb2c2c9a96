//go:build !linux

package proc

import (
	"errors"
	"syscall"
	"time"
)

var errNoProc = errors.New("per-process CPU accounting needs Linux /proc")

// Available reports whether per-process CPU accounting works here.
func Available() bool { return false }

func sysProcAttr() *syscall.SysProcAttr { return nil }

func startPinned(cmd interface{ Start() error }, cpu int) error { return cmd.Start() }

// TreeCPUTime is unavailable without /proc.
func TreeCPUTime(pid int) (time.Duration, error) { return 0, errNoProc }

// SelfCPUTime is unavailable without /proc.
func SelfCPUTime() time.Duration { return 0 }

// PinSelf is unavailable; callers run unpinned.
func PinSelf(cpu int) (func(), error) { return nil, errNoProc }

// SystemBusy is unavailable without /proc.
func SystemBusy() (time.Duration, error) { return 0, errNoProc }

// PerCPUBusy is unavailable without /proc.
func PerCPUBusy() ([]time.Duration, error) { return nil, errNoProc }
