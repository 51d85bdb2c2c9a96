package proxy

import (
	"testing"
	"time"

	"github.com/consentry/consentry/rights"
)

// Erasures of different subjects never wait for each other, even when
// their keys share the first byte (the old stripes were key[0] % 64, so
// these two shared a mutex); one subject's erasures are serialised; unused
// locks are dropped.
func TestSubjectLocks(t *testing.T) {
	var l subjectLocks
	k1, k2 := rights.Key{7, 1}, rights.Key{7, 2}
	unlock1 := l.lock(k1)
	other := make(chan func())
	go func() { other <- l.lock(k2) }()
	select {
	case unlock2 := <-other:
		unlock2()
	case <-time.After(5 * time.Second):
		t.Fatal("a subject waited for another subject's erasure")
	}
	same := make(chan func())
	go func() { same <- l.lock(k1) }()
	select {
	case <-same:
		t.Fatal("two erasures of one subject ran at once")
	case <-time.After(50 * time.Millisecond):
	}
	unlock1()
	(<-same)()
	if n := len(l.m); n != 0 {
		t.Errorf("%d locks left", n)
	}
}
