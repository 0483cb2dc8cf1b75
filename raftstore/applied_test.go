package raftstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAppliedIndexWakesExactlyTheWaitersItSatisfies: an advance wakes the
// waiters at or below it and no other; a waiter whose context ends leaves
// the heap; a halt wakes the rest with its error.
func TestAppliedIndexWakesExactlyTheWaitersItSatisfies(t *testing.T) {
	var a appliedIndex // the zero value is ready to use
	done := make(map[uint64]chan error)
	for _, idx := range []uint64{5, 3, 9, 7} {
		ch := make(chan error, 1)
		done[idx] = ch
		go func() { ch <- a.wait(context.Background(), idx) }()
	}
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- a.wait(ctx, 8) }()
	waiting := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			a.mu.Lock()
			got := a.waiting().Len()
			a.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waiting(5)

	a.set(5)
	for _, idx := range []uint64{3, 5} {
		if err := <-done[idx]; err != nil {
			t.Fatalf("wait(%d) after set(5): %v", idx, err)
		}
	}
	waiting(3)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait(8): %v", err)
	}
	waiting(2)
	halt := errors.New("halted")
	a.halt(halt)
	for _, idx := range []uint64{7, 9} {
		if err := <-done[idx]; !errors.Is(err, halt) {
			t.Fatalf("wait(%d) after halt: %v, want the halt error", idx, err)
		}
	}
	if err := a.wait(context.Background(), 100); !errors.Is(err, halt) {
		t.Fatalf("wait after halt: %v", err)
	}
	if err := a.wait(context.Background(), 4); err != nil {
		t.Fatalf("wait(4) with 5 applied: %v", err)
	}
}
