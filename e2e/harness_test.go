// Package e2e drives the real consentry binary over loopback TCP: payloads
// seeded with personal data go through `consentry serve` to a capture
// upstream, and the tests assert what arrives.
package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "consentry-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "consentry")
	build := exec.Command("go", "build", "-o", binary, "../cmd/consentry")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build consentry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// captured is one request as the upstream saw it, body decompressed.
type captured struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
	RawBody             []byte
}

// upstream is a capture server that answers like CleverTap and adds the
// redirect headers a real backend may send.
type upstream struct {
	t     *testing.T
	srv   *http.Server
	url   string
	mu    sync.Mutex
	reqs  []captured
	delay time.Duration
	reply func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, url: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 5 * time.Second}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, _ = io.ReadAll(zr)
		}
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, captured{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, RawBody: raw})
	delay := u.delay
	reply := u.reply
	u.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if reply != nil {
		reply(w, r)
		return
	}
	w.Header().Set("X-WZRK-RD", "eu1-redirect.clevertap-prod.com")
	w.Header().Set("X-WZRK-SPIKY-RD", "eu1-spiky-redirect.clevertap-prod.com")
	w.Header().Set("X-Upstream", "capture")
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if r.URL.Path == "/1/upload" {
		fmt.Fprint(w, `{ "status" : "success" , "processed" : 3 , "unprocessed" : [ ]}`)
		return
	}
	fmt.Fprint(w, `{"g":"__upstream-ack"}`)
}

func (u *upstream) requests() []captured {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]captured(nil), u.reqs...)
}

func (u *upstream) last(t *testing.T) captured {
	t.Helper()
	r := u.requests()
	if len(r) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return r[len(r)-1]
}

// instance is one running `consentry serve`.
type instance struct {
	cmd    *exec.Cmd
	url    string
	admin  string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs consentry serve with args (listen and admin on free ports) and
// waits until /readyz answers 200.
func start(t *testing.T, args ...string) *instance {
	t.Helper()
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...)
	if !hasFlag(args, "--data") {
		all = append(all, "--data", t.TempDir())
	}
	in := launch(t, exec.Command(binary, all...))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(in.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consentry never became ready:\n%s", in.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch starts cmd (consentry serve, maybe under a wrapper) and waits for
// its "consentry serving" log line, which names the listen and admin URLs.
func launch(t *testing.T, cmd *exec.Cmd) *instance {
	t.Helper()
	in := &instance{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = in.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(in.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(in.done) }()
	t.Cleanup(func() { in.stop(t) })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "consentry serving" {
				in.url, _ = line["listen"].(string)
				in.admin, _ = line["admin"].(string)
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case <-in.done:
		t.Fatalf("consentry exited early:\n%s", in.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("consentry did not start:\n%s", in.stderr.String())
	}
	return in
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f || strings.HasPrefix(a, f+"=") {
			return true
		}
	}
	return false
}

func (in *instance) stop(t *testing.T) {
	select {
	case <-in.done:
		return
	default:
	}
	// SIGINT stops without shutdown.drain_delay (5s by default), which
	// only SIGTERM waits for; TestGracefulShutdownDrainsInFlight covers it.
	_ = in.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-in.done:
	case <-time.After(15 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.done
		t.Errorf("consentry did not stop on SIGINT")
	}
}

// auditLines parses the audit JSON lines written so far.
func (in *instance) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(in.stdout.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func post(t *testing.T, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "formats", "clevertap", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
