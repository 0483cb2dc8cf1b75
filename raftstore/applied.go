package raftstore

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/rosterhq/roster/internal/heapq"
)

// appliedIndex tracks the last log index the FSM applied and wakes waiters
// whose index has been reached. Waiters sit in a min-heap by index, so an
// advance wakes exactly the waiters it satisfies and costs O(log n) each:
// thousands of blocked writers or readers do not turn every apply into a
// thundering herd.
type appliedIndex struct {
	index atomic.Uint64

	mu      sync.Mutex
	waiters *heapq.Heap[*waiter] // by index; see waiting
	halted  error
}

// waiting is the waiters' heap, made on first use so that the zero
// appliedIndex is ready to use. a.mu must be held.
func (a *appliedIndex) waiting() *heapq.Heap[*waiter] {
	if a.waiters == nil {
		h := heapq.New(func(x, y *waiter) bool { return x.index < y.index }, func(w *waiter, i int) { w.pos = i })
		a.waiters = &h
	}
	return a.waiters
}

type waiter struct {
	index uint64
	ch    chan struct{}
	pos   int // position in the heap, -1 once removed
}

func (a *appliedIndex) load() uint64 { return a.index.Load() }

// set records idx as applied (it may move backwards only on a restore of an
// older snapshot at startup) and wakes the waiters it satisfies.
func (a *appliedIndex) set(idx uint64) {
	a.index.Store(idx)
	a.mu.Lock()
	for q := a.waiting(); q.Len() > 0 && q.Peek().index <= idx; {
		close(q.Pop().ch)
	}
	a.mu.Unlock()
}

// halt wakes every waiter with err: nothing beyond the current index will be
// applied by this process.
func (a *appliedIndex) halt(err error) {
	a.mu.Lock()
	a.halted = err
	for q := a.waiting(); q.Len() > 0; {
		close(q.Pop().ch)
	}
	a.mu.Unlock()
}

// wait blocks until idx is applied, ctx ends or applying halted.
func (a *appliedIndex) wait(ctx context.Context, idx uint64) error {
	if a.index.Load() >= idx {
		return nil
	}
	a.mu.Lock()
	if a.index.Load() >= idx {
		a.mu.Unlock()
		return nil
	}
	if a.halted != nil {
		a.mu.Unlock()
		return a.halted
	}
	w := &waiter{index: idx, ch: make(chan struct{})}
	a.waiting().Push(w)
	a.mu.Unlock()

	select {
	case <-w.ch:
		if a.index.Load() >= idx {
			return nil
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.halted
	case <-ctx.Done():
		a.mu.Lock()
		if w.pos >= 0 {
			a.waiting().Remove(w.pos)
		}
		a.mu.Unlock()
		if a.index.Load() >= idx {
			return nil
		}
		return ctx.Err()
	}
}
