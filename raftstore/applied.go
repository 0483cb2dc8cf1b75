package raftstore

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
)

// appliedIndex tracks the last log index the FSM applied and wakes waiters
// whose index has been reached. Waiters sit in a min-heap by index, so an
// advance wakes exactly the waiters it satisfies and costs O(log n) each:
// thousands of blocked writers or readers do not turn every apply into a
// thundering herd.
type appliedIndex struct {
	index atomic.Uint64

	mu      sync.Mutex
	waiters waiterHeap
	halted  error
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
	for len(a.waiters) > 0 && a.waiters[0].index <= idx {
		w := heap.Pop(&a.waiters).(*waiter)
		close(w.ch)
	}
	a.mu.Unlock()
}

// halt wakes every waiter with err: nothing beyond the current index will be
// applied by this process.
func (a *appliedIndex) halt(err error) {
	a.mu.Lock()
	a.halted = err
	for len(a.waiters) > 0 {
		w := heap.Pop(&a.waiters).(*waiter)
		close(w.ch)
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
	heap.Push(&a.waiters, w)
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
			heap.Remove(&a.waiters, w.pos)
		}
		a.mu.Unlock()
		if a.index.Load() >= idx {
			return nil
		}
		return ctx.Err()
	}
}

type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].index < h[j].index }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}

func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.pos = len(*h)
	*h = append(*h, w)
}

func (h *waiterHeap) Pop() any {
	old := *h
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	w.pos = -1
	*h = old[:n-1]
	return w
}
