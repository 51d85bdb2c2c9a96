package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/bench/corpus"
	"github.com/consentry/consentry/bench/internal/grow"
	"github.com/consentry/consentry/bench/internal/proc"
)

// TestGrownRegistryMatchesConsentry starts the real consentry binary on a
// grown data directory and sends events from two members' devices, without
// identity: member 0 opted out (grow.OptOutEvery), so Consentry must
// suppress its event through the device's session identity, which it can
// only find if the keyed hashes it computes from traffic are the ones the
// registry was grown with; member 1's event must reach the upstream.
func TestGrownRegistryMatchesConsentry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts consentry")
	}
	wd, _ := os.Getwd()
	repo := findRepo(wd)
	if repo == "" {
		t.Skip("repository root not found")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "consentry")
	build := exec.Command("go", "build", "-o", bin, "./cmd/consentry")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const seed = 5
	data := filepath.Join(tmp, "data")
	if _, err := grow.Cached(filepath.Join(tmp, "cache"), data, 300, seed); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got [][]byte
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}))
	defer up.Close()

	port, err1 := freePort()
	admin, err2 := freePort()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	addr, adminAddr := "127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:"+strconv.Itoa(admin)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	p, _, err := proc.Start(ctx, proc.Spec{
		Name: "consentry", Path: bin, CPU: -1, DiscardStdout: true, LogFile: filepath.Join(tmp, "consentry.log"),
		Args: []string{"serve", "--listen", addr, "--admin", adminAddr, "--upstream", up.URL, "--data", data},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(3 * time.Second)
	if err := waitHTTP(ctx, p, "http://"+adminAddr+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}

	send := func(m uint64, product string) {
		t.Helper()
		body := fmt.Sprintf(`[{"type":"meta","g":%q,"id":%q,"tk":%q},{"type":"event","evtName":"Product Viewed","evtData":{"Product":%q},"ep":1767225000,"s":1767224000,"pg":1}]`,
			corpus.MemberDevice(seed, m), corpus.DefaultAccount, corpus.DefaultToken, product)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
			"http://"+addr+"/a1?os=Android&t=70700&z="+corpus.DefaultAccount+"&ts=1767225600", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-CleverTap-Account-Id", corpus.DefaultAccount)
		req.Header.Set("X-CleverTap-Token", corpus.DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("member %d: status %d: %s", m, resp.StatusCode, b)
		}
	}
	send(0, "Opted Out Lamp")
	send(1, "Returning Lamp")
	mu.Lock()
	defer mu.Unlock()
	all := bytes.Join(got, []byte("\n"))
	if bytes.Contains(all, []byte("Opted Out Lamp")) {
		t.Errorf("the opted-out member's event reached the upstream: the grown keys differ from Consentry's")
	}
	if !bytes.Contains(all, []byte("Returning Lamp")) {
		t.Errorf("the clear member's event did not reach the upstream; upstream saw %q", all)
	}
}
