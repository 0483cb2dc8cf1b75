package httpapi

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The pool reuses idle workers (so their grown stacks), runs everything it
// is given even when all are busy, and close ends them all and waits for
// the busy ones.
func TestWorkerPoolReusesAndCloses(t *testing.T) {
	p := newWorkerPool()
	var ran atomic.Int32
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 8 { // all busy at once: eight workers
		wg.Add(1)
		p.run(func() { defer wg.Done(); <-release; ran.Add(1) })
	}
	close(release)
	wg.Wait()
	// The eight are idle now: new work reuses them, starting none.
	deadline := time.Now().Add(5 * time.Second)
	for {
		started := false
		done := make(chan struct{})
		select {
		case p.jobs <- func() { ran.Add(1); close(done) }:
		default:
			started = true
		}
		if !started {
			<-done
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no idle worker took work after the first eight finished")
		}
		time.Sleep(time.Millisecond) // a worker between f and its select
	}
	p.close()
	if got := ran.Load(); got != 9 {
		t.Fatalf("ran %d functions, want 9", got)
	}
	// After close, work still runs.
	done := make(chan struct{})
	p.run(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("work given after close did not run")
	}
}
