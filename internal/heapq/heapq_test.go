package heapq

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	key int
	pos int
}

func byKey(a, b *item) bool { return a.key < b.key }
func track(x *item, i int)  { x.pos = i }

// check fails unless every parent is at most its children and every
// element knows its index.
func check(t *testing.T, h *Heap[*item]) {
	t.Helper()
	for i, x := range h.items {
		if x.pos != i {
			t.Fatalf("element %d thinks it is at %d", i, x.pos)
		}
		if i > 0 && h.items[(i-1)/2].key > x.key {
			t.Fatalf("parent of %d (key %d) has key %d", i, x.key, h.items[(i-1)/2].key)
		}
	}
}

// TestPopsInOrderThroughPushesRemovesAndFixes: random pushes, removals at
// random indexes and key changes keep the order and the indexes, and the
// heap then hands everything out least first, what a sorted slice says.
func TestPopsInOrderThroughPushesRemovesAndFixes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New(byKey, track)
	var live []*item
	for range 5000 {
		switch op := r.IntN(10); {
		case op < 6 || h.Len() == 0:
			x := &item{key: r.IntN(1000)}
			h.Push(x)
			live = append(live, x)
		case op < 8:
			x := live[r.IntN(len(live))]
			if got := h.Remove(x.pos); got != x || x.pos != -1 {
				t.Fatalf("Remove gave %v (pos %d), want %v", got, x.pos, x)
			}
			live = slices.DeleteFunc(live, func(y *item) bool { return y == x })
		default:
			x := live[r.IntN(len(live))]
			x.key = r.IntN(1000)
			h.Fix(x.pos)
		}
		check(t, &h)
	}
	want := make([]int, 0, len(live))
	for _, x := range live {
		want = append(want, x.key)
	}
	slices.Sort(want)
	for i, k := range want {
		if h.Peek().key != k {
			t.Fatalf("peek %d: key %d, want %d", i, h.Peek().key, k)
		}
		if got := h.Pop(); got.key != k || got.pos != -1 {
			t.Fatalf("pop %d: key %d pos %d, want key %d pos -1", i, got.key, got.pos, k)
		}
	}
	if h.Len() != 0 {
		t.Fatalf("%d left", h.Len())
	}
}

// TestInitOrdersWhatItIsGiven: Init heapifies a slice and tells each
// element its index; values work without an index callback.
func TestInitOrdersWhatItIsGiven(t *testing.T) {
	items := []*item{{key: 5}, {key: 3}, {key: 9}, {key: 1}, {key: 7}, {key: 1}}
	h := New(byKey, track)
	h.Init(items)
	check(t, &h)
	var got []int
	for h.Len() > 0 {
		got = append(got, h.Pop().key)
	}
	if !slices.Equal(got, []int{1, 1, 3, 5, 7, 9}) {
		t.Fatalf("popped %v", got)
	}

	h.Init([]*item{{key: 2}, {key: 1}})
	if h.At(0).key != 1 {
		t.Fatalf("At(0) is key %d, want the least, 1", h.At(0).key)
	}
	left := []*item{h.At(0), h.At(1)}
	h.Clear()
	if h.Len() != 0 || left[0].pos != -1 || left[1].pos != -1 {
		t.Fatalf("after Clear: %d left, positions %d %d", h.Len(), left[0].pos, left[1].pos)
	}

	v := New(func(a, b int) bool { return a < b }, nil)
	v.Init([]int{4, 2, 8})
	v.Push(1)
	if a, b := v.Pop(), v.Pop(); a != 1 || b != 2 {
		t.Fatalf("popped %d, %d; want 1, 2", a, b)
	}
}

func BenchmarkPushPop(b *testing.B) {
	h := New(func(a, b int64) bool { return a < b }, nil)
	r := rand.New(rand.NewPCG(1, 2))
	for range 1024 {
		h.Push(r.Int64())
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Push(r.Int64())
		h.Pop()
	}
}
