package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// resetUpstream reads each request in full, counts it, then resets the
// connection (SO_LINGER 0) without answering: the request has arrived, the
// answer never does.
type resetUpstream struct {
	url  string
	seen atomic.Int32
}

func newResetUpstream(t *testing.T) *resetUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &resetUpstream{url: "http://" + ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					u.seen.Add(1)
				}
				_ = c.(*net.TCPConn).SetLinger(0)
			}(c)
		}
	}()
	return u
}

// TestNoDuplicateDelivery: an upstream that reads the request and resets
// the connection receives exactly one copy, whatever the method; the
// client gets 502 and its SDK decides whether to send again.
func TestNoDuplicateDelivery(t *testing.T) {
	up := newResetUpstream(t)
	cs := start(t, "--upstream", up.url)
	d := `{"type":"profile","profile":{"Plan":"gold"},"id":"` + account + `","g":"5f1c0a2b3c4d5e6f7a8b9c0d1e2f3a4b","s":1700000000,"pg":1}`
	batch := []byte(`[{"type":"meta","id":"` + account + `"},{"type":"event","evtName":"x","evtData":{"a":1}}]`)
	for _, tc := range []struct {
		name, method, url string
		body              []byte
	}{
		{"GET web /a", "GET", webRequest(t, cs.url, "push", d, ""), nil},
		{"GET /hello", "GET", cs.url + "/hello?z=" + account, nil},
		{"POST /a1", "POST", cs.url + "/a1?z=" + account, batch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.seen.Load()
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, tc.url, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 502 || gjson.GetBytes(b, "error.code").Str != "upstream_unavailable" {
				t.Errorf("got %d %s, want 502 upstream_unavailable", resp.StatusCode, b)
			}
			time.Sleep(100 * time.Millisecond) // a retry would arrive now
			if n := up.seen.Load() - before; n != 1 {
				t.Errorf("the upstream received %d copies, want 1", n)
			}
		})
	}
}
