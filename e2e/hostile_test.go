package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Bounds of the hostile test, with the default limits.
const (
	hostileMaxRSS        = 256 << 20             // VmRSS of the serve process
	hostileMaxCPU        = time.Second           // CPU of one hostile request
	normalMaxLatency     = 50 * time.Millisecond // a cached request sent alongside
	normalRetries        = 3                     // tries before a slow normal request fails the test
	floodDuration        = 4 * time.Second
	floodWorkers         = 3
	floodRecordsPerBatch = 20
	userHz               = 100 // clock ticks per second in /proc/<pid>/stat (USER_HZ)
)

// hostileSeed is a value that must never reach the upstream: every hostile
// record carries it under keys the policy has never seen.
const hostileSeed = "hostile.seed@example.com"

// procStats reads VmRSS (bytes) and utime+stime of pid.
func procStats(t *testing.T, pid int) (rss int64, cpu time.Duration) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces), from field 3.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(rest[11], 10, 64)
	stime, _ := strconv.ParseInt(rest[12], 10, 64)
	return rss, time.Duration(utime+stime) * time.Second / userHz
}

// rssWatch samples the process's RSS until stopped and keeps the peak.
type rssWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err == nil {
				for _, l := range strings.Split(string(status), "\n") {
					if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
						kb, _ := strconv.ParseInt(f[1], 10, 64)
						if kb<<10 > w.peak.Load() {
							w.peak.Store(kb << 10)
						}
					}
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *rssWatch) end() int64 {
	close(w.stop)
	<-w.done
	return w.peak.Load()
}

// normalClient sends the Android sample batch (its plans cached) until
// stopped and records how long each took; a slow one is retried up to
// normalRetries times before it counts as a failure.
type normalClient struct {
	mu      sync.Mutex
	worst   time.Duration // the best of the tries of the worst request
	sent    int
	retries int
	failed  []string
}

func runNormal(url string, body []byte, stop <-chan struct{}, c *normalClient, wg *sync.WaitGroup) {
	defer wg.Done()
	client := &http.Client{Timeout: 5 * time.Second}
	send := func() (time.Duration, int, error) {
		req, _ := http.NewRequest("POST", url+"/a1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-CleverTap-Account-ID", account)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0), resp.StatusCode, nil
	}
	for {
		select {
		case <-stop:
			return
		case <-time.After(25 * time.Millisecond):
		}
		best := time.Hour
		for try := range normalRetries {
			d, status, err := send()
			if err != nil || status != 200 {
				c.mu.Lock()
				c.failed = append(c.failed, fmt.Sprintf("status %d, error %v", status, err))
				c.mu.Unlock()
				break
			}
			best = min(best, d)
			if d < normalMaxLatency {
				break
			}
			c.mu.Lock()
			c.retries += min(try+1, 1)
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.sent++
		if best != time.Hour {
			c.worst = max(c.worst, best)
			if best >= normalMaxLatency {
				c.failed = append(c.failed, fmt.Sprintf("answered in %v after %d tries", best, normalRetries))
			}
		}
		c.mu.Unlock()
	}
}

// eventBatch is a CleverTap SDK batch of n event records, each with keys
// no other record has.
func eventBatch(tag string, n, keys int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `[{"type":"meta","id":%q,"g":"__g0123","af":{"Make":"Google"}}`, account)
	for r := range n {
		fmt.Fprintf(&b, `,{"type":"event","evtName":"Flood","ep":1700000000,"evtData":{`)
		for k := range keys {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"p_%s_%d_%d":%q`, tag, r, k, hostileSeed)
		}
		b.WriteString("}}")
	}
	b.WriteByte(']')
	return b.Bytes()
}

// wideRecord is one event with keys distinct keys.
func wideRecord(tag string, keys int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `[{"type":"meta","id":%q},{"type":"event","evtName":"Wide","evtData":{`, account)
	for k := range keys {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s%d":%q`, tag, k, hostileSeed)
	}
	b.WriteString("}}]")
	return b.Bytes()
}

// longKeyRecord puts leaves under one key of keyBytes bytes.
func longKeyRecord(keyBytes, leaves int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `[{"type":"meta","id":%q},{"type":"event","evtName":"LongKey","evtData":{"ok":1,"`, account)
	b.WriteString(strings.Repeat("K", keyBytes))
	b.WriteString(`":{`)
	for k := range leaves {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"a%d":%q`, k, hostileSeed)
	}
	b.WriteString("}}}]")
	return b.Bytes()
}

func postCT(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, out := post(t, url+"/a1", body, map[string]string{"X-CleverTap-Account-ID": account})
	return resp.StatusCode, out
}

// TestHostile floods the real binary with new shapes, a record with 60,000
// never-seen keys and a 100 KB key over 5,000 leaves, with the default
// limits, and checks that the process stays under hostileMaxRSS, each
// hostile request under hostileMaxCPU, a normal client sent alongside
// under normalMaxLatency, and nothing seeded reaches the upstream.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile load test")
	}
	up := newUpstream(t)
	cs := start(t, "--upstream", up.url)
	pid := cs.cmd.Process.Pid
	normal := readTestdata(t, "android_batch.json")
	for range 3 { // warm the normal client's plans
		if status, out := postCT(t, cs.url, normal); status != 200 {
			t.Fatalf("warm-up: %d %s", status, out)
		}
	}
	rss0, _ := procStats(t, pid)
	watch := watchRSS(t, pid)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var nc normalClient
	wg.Add(1)
	go runNormal(cs.url, normal, stop, &nc, &wg)

	// 1. Single huge records, one at a time, CPU measured per request.
	single := []struct {
		name string
		body []byte
	}{
		{"60000 distinct keys", wideRecord("w", 60_000)},
		{"60000 other distinct keys", wideRecord("v", 60_000)},
		{"100 KB key over 5000 leaves", longKeyRecord(100<<10, 5_000)},
		{"5000 keys of 300 bytes", wideRecord(strings.Repeat("L", 300), 5_000)},
	}
	for _, tc := range single {
		_, cpu0 := procStats(t, pid)
		t0 := time.Now()
		status, out := postCT(t, cs.url, tc.body)
		wall := time.Since(t0)
		_, cpu1 := procStats(t, pid)
		t.Logf("%s (%d KB): status %d, %v wall, %v CPU", tc.name, len(tc.body)>>10, status, wall.Round(time.Millisecond), cpu1-cpu0)
		if status != 200 {
			t.Errorf("%s: status %d %s", tc.name, status, out)
		}
		if cpu1-cpu0 > hostileMaxCPU {
			t.Errorf("%s: %v of CPU, budget %v", tc.name, cpu1-cpu0, hostileMaxCPU)
		}
	}

	// 2. Shape flood: every record of every request has new keys.
	var floodReqs, flood503 atomic.Int64
	_, cpu0 := procStats(t, pid)
	deadline := time.Now().Add(floodDuration)
	var fwg sync.WaitGroup
	for w := range floodWorkers {
		fwg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; time.Now().Before(deadline); i++ {
				body := eventBatch(fmt.Sprintf("%d_%d", w, i), floodRecordsPerBatch, 8)
				req, _ := http.NewRequest("POST", cs.url+"/a1", bytes.NewReader(body))
				req.Header.Set("X-CleverTap-Account-ID", account)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("flood: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				floodReqs.Add(1)
				switch resp.StatusCode {
				case 200:
				case 503:
					flood503.Add(1)
				default:
					t.Errorf("flood: status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	fwg.Wait()
	_, cpu1 := procStats(t, pid)
	close(stop)
	wg.Wait()
	peak := watch.end()

	n := max(floodReqs.Load(), 1)
	t.Logf("flood: %d requests (%d refused 503), %v CPU in all, %v per request",
		floodReqs.Load(), flood503.Load(), cpu1-cpu0, (cpu1-cpu0)/time.Duration(n))
	t.Logf("RSS: %d MB before, peak %d MB (bound %d MB)", rss0>>20, peak>>20, hostileMaxRSS>>20)
	t.Logf("normal client: %d requests, worst %v, %d retried", nc.sent, nc.worst, nc.retries)
	if peak > hostileMaxRSS {
		t.Errorf("peak RSS %d MB over %d MB", peak>>20, hostileMaxRSS>>20)
	}
	if (cpu1-cpu0)/time.Duration(n) > hostileMaxCPU {
		t.Errorf("flood: %v of CPU per request", (cpu1-cpu0)/time.Duration(n))
	}
	if nc.sent == 0 {
		t.Error("the normal client sent nothing")
	}
	for _, f := range nc.failed {
		t.Errorf("normal client: %s", f)
	}

	resp, err := http.Get(cs.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte(`consentry_budget_exceeded_total{budget="key_bytes"}`)) {
		t.Error("consentry_budget_exceeded_total{budget=\"key_bytes\"} is not exported")
	}
	// Stop (flushing the audit log) before reading what it wrote.
	// A healthy stop takes shutdown.drain_delay (5s) and a few
	// milliseconds; past drain_delay+10s the stop is stuck somewhere.
	termAt := time.Now()
	_ = cs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-cs.done:
		t.Logf("stopped %v after SIGTERM", time.Since(termAt).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		_ = cs.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
		<-cs.done
		dump := fmt.Sprintf("%s/consentry-hostile-%d.stderr", os.TempDir(), pid)
		_ = os.WriteFile(dump, []byte(cs.stderr.String()), 0o600)
		t.Fatalf("consentry did not stop on SIGTERM (stderr with a goroutine dump in %s):\n%s", dump, stuckReport(cs.stderr.String(), 6000))
	}

	// Nothing seeded reached the upstream.
	for _, r := range up.requests() {
		if bytes.Contains(r.Body, []byte(hostileSeed)) || bytes.Contains(r.Body, []byte(strings.Repeat("K", 256))) {
			t.Fatalf("a hostile value or key reached the upstream (%d bytes to %s)", len(r.Body), r.Path)
		}
	}
	// The budgets were counted in audit lines and metrics.
	hit := map[string]bool{}
	for _, l := range cs.auditLines(t) {
		if b, ok := l["budget_exceeded"].(map[string]any); ok {
			for k := range b {
				hit[k] = true
			}
		}
	}
	for _, k := range []string{"key_bytes", "evaluations"} {
		if !hit[k] {
			t.Errorf("no audit line counts budget %s (saw %v)", k, hit)
		}
	}
}

// stuckReport picks from a stderr with a goroutine dump what says where a
// stop hangs: the log lines about stopping and every goroutine running
// Consentry's own code or serving a connection, at most n bytes.
func stuckReport(stderr string, n int) string {
	var b strings.Builder
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "{") && (strings.Contains(l, "shut") || strings.Contains(l, "stop") || strings.Contains(l, "close") || strings.Contains(l, `"ERROR"`)) {
			b.WriteString(l + "\n")
		}
	}
	for _, g := range strings.Split(stderr, "\n\n") {
		ours := strings.Contains(g, "consentry/") && !strings.Contains(g, "main.serve.func1")
		if strings.HasPrefix(g, "goroutine ") && (ours || strings.Contains(g, "serveConn")) {
			b.WriteString(g + "\n\n")
		}
	}
	if b.Len() > n {
		return b.String()[:n]
	}
	return b.String()
}
