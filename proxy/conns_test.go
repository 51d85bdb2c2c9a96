package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/testtls"
)

// A graceful stop closes connections that never sent a request (HTTP
// clients dial ahead of need; over TLS they complete the handshake too)
// instead of waiting for them until shutdown.grace, while a connection
// that was used gets its answer.
func TestShutdownClosesSilentConnections(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(t *testing.T) {
			p, _ := testProxy(t)
			if useTLS {
				p.cfg.TLS.CertFile, p.cfg.TLS.KeyFile = testtls.SelfSigned(t, t.TempDir())
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- p.Serve(ln) }()
			dial := func() net.Conn {
				var c net.Conn
				var err error
				if useTLS {
					var tc *tls.Conn
					tc, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test certificate
					if err == nil {
						err = tc.Handshake()
					}
					c = tc
				} else {
					c, err = net.Dial("tcp", ln.Addr().String())
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			used := dial()
			if _, err := io.WriteString(used, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 512)
			if n, err := used.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 ") {
				t.Fatalf("a request before the stop: %q %v", buf[:n], err)
			}
			silent := dial()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.Shutdown(ctx, 0); err != nil {
				t.Fatalf("Shutdown = %v: a connection that never sent a request held the stop", err)
			}
			_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := silent.Read(buf); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the silent connection is still open after the stop: %v", err)
			}
			if err := <-served; err != nil {
				t.Fatalf("Serve = %v", err)
			}
		})
	}
}

// lateConn returns bytes from Read even after Close: a request that
// arrived as shutdown closed the connection.
type lateConn struct{ net.Conn }

func (lateConn) Read(b []byte) (int, error) { return copy(b, "POST /a1 HTTP/1.1\r\n"), nil }
func (lateConn) Close() error               { return nil }

// Shutdown and a connection's first bytes race: whichever comes first
// wins, so that a request is never read from a connection shutdown closed
// (its answer could not be written; the client resends it instead).
func TestSilentConnRace(t *testing.T) {
	var s silentConns
	closedFirst := &trackedConn{Conn: lateConn{}, silent: &s}
	s.add(closedFirst)
	if n := s.closeAll(); n != 1 {
		t.Fatalf("closeAll closed %d, want 1", n)
	}
	if n, err := closedFirst.Read(make([]byte, 64)); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after shutdown closed it: %d bytes, %v; want 0, net.ErrClosed", n, err)
	}

	spokeFirst := &trackedConn{Conn: lateConn{}, silent: &s}
	s.add(spokeFirst)
	if n, err := spokeFirst.Read(make([]byte, 64)); n == 0 || err != nil {
		t.Fatalf("first read: %d, %v", n, err)
	}
	s.add(spokeFirst) // even if still listed, a connection that spoke is not closed
	if n := s.closeAll(); n != 0 {
		t.Fatalf("closeAll closed %d connections that spoke", n)
	}
	if n, err := spokeFirst.Read(make([]byte, 64)); n == 0 || err != nil {
		t.Fatalf("read after the stop began: %d, %v", n, err)
	}
}
