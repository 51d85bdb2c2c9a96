//go:build !race

package audit

import (
	"io"
	"runtime"
	"testing"
)

// TestWriteAllocs pins the request path: encoding and queueing a line
// allocate nothing once the line pool is warm and the writer keeps up
// (lines queued faster than written take fresh buffers).
func TestWriteAllocs(t *testing.T) {
	l := New(io.Discard)
	defer l.Close()
	r := &Record{Tenant: "acme", Format: "clevertap.sdk", Route: "/a1", Status: 200}
	for range 100 {
		l.Write(r)
	}
	if n := testing.AllocsPerRun(1000, func() {
		l.Write(r)
		for len(l.queue) > 0 {
			runtime.Gosched()
		}
	}); n != 0 {
		t.Errorf("%v allocations per Write, want 0", n)
	}
}
