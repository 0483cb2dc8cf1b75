package httpapi

import (
	"sync"
	"time"
)

// workerPool runs functions on goroutines that outlive them. The leader
// runs every write of a forwarded batch on its own goroutine (each waits
// for its Raft round); a fresh goroutine per write started on a small
// stack and grew it, copying, down the router's call chain, about a tenth
// of the leader's CPU per forwarded write under load (issue #18). A
// pooled goroutine keeps its grown stack. Workers left idle for
// workerIdle end, so a burst's goroutines do not stay, and all idle ones
// end at close.
type workerPool struct {
	jobs chan func()
	quit chan struct{}

	mu     sync.RWMutex // closed and wg.Add against close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// workerIdle is how long an idle worker waits for work before it ends.
const workerIdle = 10 * time.Second

func newWorkerPool() *workerPool {
	return &workerPool{jobs: make(chan func()), quit: make(chan struct{})}
}

// close ends the idle workers and waits for the busy ones to finish their
// function (the writes' context ends with the handler's).
func (p *workerPool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// run runs f on an idle worker, or on a new one when none is idle (after
// close, on a goroutine of its own).
func (p *workerPool) run(f func()) {
	select {
	case p.jobs <- f:
		return
	default:
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		go f()
		return
	}
	p.wg.Add(1)
	go p.work(f)
}

func (p *workerPool) work(f func()) {
	defer p.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil // not kept alive while idle
		idle.Reset(workerIdle)
		select {
		case f = <-p.jobs:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}
