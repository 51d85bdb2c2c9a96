package proxy

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// silentConns tracks the client connections that have not sent a byte
// of a request yet. fasthttp counts such a connection as busy from its
// accept (it waits for the first request with the request's read
// timeout), so a client that opens a connection and never uses it, as
// HTTP clients do when they dial ahead of need, would hold a graceful stop
// until read_timeout or shutdown.grace. At shutdown they are closed:
// nothing was received on them, so no request is lost. With TLS the
// listener is wrapped above the TLS layer: a completed handshake is not a
// request.
type silentConns struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// Connection states: a silent connection either speaks (its first read
// returns bytes) or is closed by shutdown, whichever comes first, so that
// shutdown never closes a connection whose request was read.
const (
	connSilent int32 = iota
	connSpoke
	connClosedSilent
)

// listener wraps ln so that its connections are tracked until their first
// read returns bytes.
func (s *silentConns) listener(ln net.Listener) net.Listener {
	return &trackingListener{Listener: ln, silent: s}
}

// closeAll closes the connections that have not sent a byte; it reports
// how many it closed.
func (s *silentConns) closeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.state.CompareAndSwap(connSilent, connClosedSilent) {
			_ = c.Conn.Close()
			n++
		}
		delete(s.conns, c)
	}
	return n
}

func (s *silentConns) add(c *trackedConn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*trackedConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *silentConns) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

type trackingListener struct {
	net.Listener
	silent *silentConns
}

// tlsConn is what fasthttp asks of a TLS connection (IsTLS, ALPN).
type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, silent: l.silent}
	l.silent.add(tc)
	if t, ok := c.(tlsConn); ok {
		return &trackedTLSConn{trackedConn: tc, tls: t}, nil
	}
	return tc, nil
}

// trackedConn leaves the tracked set at its first bytes read or its close.
type trackedConn struct {
	net.Conn
	silent *silentConns
	state  atomic.Int32
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.state.Load() != connSpoke {
		if !c.state.CompareAndSwap(connSilent, connSpoke) {
			// Shutdown closed it first: drop the bytes rather than
			// start a request whose answer cannot be written.
			return 0, net.ErrClosed
		}
		c.silent.remove(c)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	if c.state.Load() == connSilent {
		c.silent.remove(c)
	}
	return c.Conn.Close()
}

// trackedTLSConn keeps the TLS methods of the connection it tracks.
type trackedTLSConn struct {
	*trackedConn
	tls tlsConn
}

func (c *trackedTLSConn) Handshake() error                     { return c.tls.Handshake() }
func (c *trackedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }
