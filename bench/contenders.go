package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/bench/internal/proc"
	"github.com/consentry/consentry/bench/internal/report"
)

// Contender names.
const (
	cDirect      = "direct"
	cPassthrough = "passthrough"
	cConsentry   = "consentry"
	cNaive       = "naive"
	cNginx       = "nginx"
)

var allContenders = []string{cDirect, cPassthrough, cConsentry, cNaive, cNginx}

// parseContenders validates a comma-separated list; "sink" is an alias of
// direct.
func parseContenders(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "sink" {
			n = cDirect
		}
		if n == "" || seen[n] {
			continue
		}
		ok := false
		for _, a := range allContenders {
			ok = ok || a == n
		}
		if !ok {
			return nil, fmt.Errorf("cannot parse -contenders: unknown contender %q (want any of %s)", n, strings.Join(allContenders, ","))
		}
		seen[n] = true
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("cannot parse -contenders: empty list")
	}
	return out, nil
}

// startError carries the status a contender gets when it cannot start.
type startError struct {
	status string // report.StatusSkipped, StatusNotBuilt or StatusFailed
	err    error
}

func (e *startError) Error() string { return e.err.Error() }

// startRole runs the harness binary itself in a helper role.
func (h *harness) startRole(ctx context.Context, name, role string, cpu int, args ...string) (*proc.Proc, string, error) {
	p, addr, err := proc.Start(ctx, proc.Spec{
		Name:         name,
		Path:         h.self,
		Args:         append([]string{"-listen", "127.0.0.1:0"}, args...),
		Env:          h.childEnv(role),
		CPU:          cpu,
		WaitReady:    true,
		ReadyTimeout: 30 * time.Second,
		LogFile:      filepath.Join(h.tmp, name+".log"),
	})
	if err != nil {
		return nil, "", err
	}
	h.procs = append(h.procs, p)
	return p, addr, nil
}

func (h *harness) childEnv(role string) []string {
	env := []string{}
	if role != "" {
		env = append(env, roleEnv+"="+role)
	}
	if h.pinned {
		env = append(env, "GOMAXPROCS=1")
	}
	return env
}

// startContender starts one contender and returns its process and the
// address to load.
func (h *harness) startContender(ctx context.Context, name string) (*proc.Proc, string, error) {
	switch name {
	case cDirect:
		return h.startRole(ctx, name, roleSink, h.contCPU)
	case cPassthrough:
		return h.startRole(ctx, name, rolePassthrough, h.contCPU, "-upstream", h.sinkAddr)
	case cNaive:
		return h.startRole(ctx, name, roleNaive, h.contCPU, "-upstream", h.sinkAddr, "-tenant", h.cfg.tenant)
	case cConsentry:
		return h.startConsentry(ctx)
	case cNginx:
		return h.startNginx(ctx)
	}
	return nil, "", fmt.Errorf("unknown contender %q", name)
}

// freePort asks the kernel for an unused 127.0.0.1 port for a child that
// cannot announce its own.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buildConsentry compiles ./cmd/consentry once per run.
func (h *harness) buildConsentry(ctx context.Context) (string, error) {
	if h.cfg.consentryBin != "" {
		if _, err := os.Stat(h.cfg.consentryBin); err != nil {
			return "", fmt.Errorf("cannot use -consentry-bin: %w", err)
		}
		return h.cfg.consentryBin, nil
	}
	if h.repo == "" {
		return "", errors.New("repository root not found (run inside the repo, or pass -repo or -consentry-bin)")
	}
	if _, err := os.Stat(filepath.Join(h.repo, "cmd", "consentry")); err != nil {
		return "", errors.New("cmd/consentry does not exist")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go toolchain not on PATH: %w", err)
	}
	out := filepath.Join(h.tmp, "consentry")
	bctx, cancel := context.WithTimeout(ctx, h.cfg.buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, goBin, "build", "-o", out, "./cmd/consentry")
	cmd.Dir = h.repo
	cmd.WaitDelay = 5 * time.Second
	msg, err := cmd.CombinedOutput()
	if bctx.Err() != nil {
		return "", fmt.Errorf("go build timed out after %s (raise -build-timeout)", h.cfg.buildTimeout)
	}
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/consentry: %v: %s", err, lastLines(msg, 3))
	}
	return out, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

func (h *harness) startConsentry(ctx context.Context) (*proc.Proc, string, error) {
	bin, err := h.consentryBin, h.buildErr
	if err == nil && bin == "" {
		err = errors.New("not built before the run")
	}
	if err != nil {
		return nil, "", &startError{status: report.StatusNotBuilt, err: err}
	}
	port, err1 := freePort()
	admin, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, "", err
	}
	data := h.dataDir
	addr := "127.0.0.1:" + strconv.Itoa(port)
	adminAddr := "127.0.0.1:" + strconv.Itoa(admin)
	p, _, err := proc.Start(ctx, proc.Spec{
		Name: cConsentry,
		Path: bin,
		Args: []string{"serve", "--listen", addr, "--admin", adminAddr, "--upstream", "http://" + h.sinkAddr, "--data", data},
		Env:  h.childEnv(""),
		CPU:  h.contCPU,
		// The default audit stream goes to stdout: Consentry pays for
		// writing it, the harness does not read it.
		DiscardStdout: true,
		LogFile:       filepath.Join(h.tmp, "consentry.log"),
	})
	if err != nil {
		return nil, "", err
	}
	h.procs = append(h.procs, p)
	if err := waitHTTP(ctx, p, "http://"+adminAddr+"/readyz", 30*time.Second); err != nil {
		p.Stop(2 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

// waitHTTP polls url until it answers 200, the child exits or timeout.
func waitHTTP(ctx context.Context, p *proc.Proc, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready: %s", p.Name, lastLines([]byte(p.Stderr()), 3))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = "status " + strconv.Itoa(resp.StatusCode)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (%s): %s", p.Name, timeout, last, lastLines([]byte(p.Stderr()), 3))
}

// waitTCP polls addr until it accepts connections.
func waitTCP(ctx context.Context, p *proc.Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready: %s", p.Name, lastLines([]byte(p.Stderr()), 3))
		}
		if c, err := net.DialTimeout("tcp4", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not accepting on %s after %s", p.Name, addr, timeout)
}

// nginxConf is a minimal reverse proxy with a keep-alive upstream. Bodies
// stay in memory (client_body_buffer_size = max body), access logging is
// off, keep-alive limits are lifted so the load generator's connections
// live as long as Consentry's do.
const nginxConf = `daemon off;
master_process on;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    client_max_body_size 4m;
    client_body_buffer_size 4m;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    upstream sink {
        server {{sink}};
        keepalive 128;
        keepalive_requests 10000000;
        keepalive_timeout 120s;
    }
    server {
        listen {{listen}};
        location / {
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

func (h *harness) startNginx(ctx context.Context) (*proc.Proc, string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, "", &startError{status: report.StatusSkipped, err: errors.New("nginx not on PATH")}
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(h.tmp, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conf := strings.NewReplacer("{{dir}}", dir, "{{sink}}", h.sinkAddr, "{{listen}}", addr).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, _, err := proc.Start(ctx, proc.Spec{
		Name:    cNginx,
		Path:    bin,
		Args:    []string{"-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", confPath},
		CPU:     h.contCPU,
		LogFile: filepath.Join(dir, "stderr.log"),
	})
	if err != nil {
		return nil, "", err
	}
	h.procs = append(h.procs, p)
	if err := waitTCP(ctx, p, addr, 10*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		p.Stop(2 * time.Second)
		return nil, "", fmt.Errorf("%w: %s", err, lastLines(bytes.TrimSpace(log), 2))
	}
	return p, addr, nil
}
