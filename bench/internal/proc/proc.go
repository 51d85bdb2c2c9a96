package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ReadyPrefix starts the line a harness role prints on stdout once it
// listens: "READY 127.0.0.1:34567".
const ReadyPrefix = "READY "

// Spec describes one child process.
type Spec struct {
	Name string   // for messages: "sink", "consentry", ...
	Path string   // executable
	Args []string // without argv[0]
	Env  []string // added to the harness's environment
	Dir  string
	// CPU pins the child (and all its threads and children) to one CPU;
	// -1 leaves it unpinned.
	CPU int
	// WaitReady makes Start wait for a ReadyPrefix line on stdout and
	// return the address that follows it.
	WaitReady    bool
	ReadyTimeout time.Duration
	// LogFile, when set, receives the child's stderr (and stdout, unless
	// WaitReady or DiscardStdout), so that a chatty child costs the harness
	// no CPU; Stderr then reads the file's tail.
	LogFile string
	// DiscardStdout sends stdout to /dev/null (an audit stream nobody
	// reads); the child still pays for writing it.
	DiscardStdout bool
}

// Proc is a running child started by Start.
type Proc struct {
	Name string
	PID  int

	cmd     *exec.Cmd
	done    chan struct{}
	err     error // from Wait, valid after done is closed
	stderr  *tail
	logFile string
}

// ErrExited reports a child that ended before it was stopped.
var ErrExited = errors.New("child process exited")

// Start runs the child described by s. With s.WaitReady it returns the
// address the child announced; otherwise addr is "".
func Start(ctx context.Context, s Spec) (p *Proc, addr string, err error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild holding our stderr pipe (nginx workers) must not make
	// Wait hang after the child itself is gone.
	cmd.WaitDelay = 2 * time.Second
	p = &Proc{Name: s.Name, cmd: cmd, done: make(chan struct{}), stderr: &tail{max: 8 << 10}, logFile: s.LogFile}
	var errOut io.Writer = p.stderr
	if s.LogFile != "" {
		f, err := os.Create(s.LogFile)
		if err != nil {
			return nil, "", fmt.Errorf("cannot start %s: %w", s.Name, err)
		}
		defer f.Close() // the child holds its own descriptor
		errOut = f
	}
	cmd.Stderr = errOut
	var stdout io.ReadCloser
	switch {
	case s.WaitReady:
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, "", fmt.Errorf("cannot start %s: %w", s.Name, err)
		}
	case s.DiscardStdout:
		cmd.Stdout = nil // os/exec connects nil to /dev/null
	default:
		cmd.Stdout = errOut
	}
	if err := startPinned(cmd, s.CPU); err != nil {
		return nil, "", fmt.Errorf("cannot start %s: %w", s.Name, err)
	}
	p.PID = cmd.Process.Pid
	ready := make(chan string, 1)
	var readers sync.WaitGroup
	if stdout != nil {
		readers.Go(func() {
			sc := bufio.NewScanner(stdout)
			announced := false
			for sc.Scan() {
				line := sc.Text()
				if !announced && strings.HasPrefix(line, ReadyPrefix) {
					announced = true
					ready <- strings.TrimSpace(strings.TrimPrefix(line, ReadyPrefix))
					continue
				}
				p.stderr.Write([]byte(line + "\n"))
			}
		})
	}
	go func() {
		readers.Wait() // Wait closes the pipe; drain it first
		p.err = cmd.Wait()
		close(p.done)
	}()
	if !s.WaitReady {
		return p, "", nil
	}
	timeout := s.ReadyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case addr = <-ready:
		return p, addr, nil
	case <-p.done:
		return nil, "", fmt.Errorf("cannot start %s: %w before it was ready: %v: %s", s.Name, ErrExited, p.err, p.Stderr())
	case <-t.C:
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("cannot start %s: not ready after %s: %s", s.Name, timeout, p.Stderr())
	case <-ctx.Done():
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("cannot start %s: %w", s.Name, ctx.Err())
	}
}

// Exited reports whether the child has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the child has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stderr returns the last few KB the child wrote to stderr (and stdout
// lines other than the ready line), for error messages.
func (p *Proc) Stderr() string {
	if p.logFile != "" {
		return strings.TrimSpace(fileTail(p.logFile, 8<<10))
	}
	return strings.TrimSpace(p.stderr.String())
}

// fileTail returns the last max bytes of the file at path.
func fileTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, max))
	return string(b)
}

// Stop ends the child by its PID: SIGTERM, then SIGKILL after grace. It
// waits until the child is reaped (bounded: SIGKILL cannot be ignored).
func (p *Proc) Stop(grace time.Duration) {
	if p == nil || p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// CPUTime returns the CPU time (user + system) the child and its live
// descendants have used so far.
func (p *Proc) CPUTime() (time.Duration, error) { return TreeCPUTime(p.PID) }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
