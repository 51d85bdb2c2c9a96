// Package proc starts the harness's child processes (sink, contenders),
// pins them to CPUs, reads their CPU accounting and stops them by PID.
//
// Every child is started by this package and stopped through its own
// *Proc, by PID: SIGTERM, then SIGKILL after a grace period. Children also
// get SIGKILL from the kernel if the harness dies (Pdeathsig), so an
// interrupted run leaves nothing listening.
//
// CPU time comes from /proc/<pid>/stat (utime + stime, all threads), summed
// over the process and its live descendants (nginx workers). Resolution is
// one clock tick (10 ms), so use runs of a few seconds for CPU-µs figures.
// On systems without /proc the figures are reported as unavailable.
package proc
