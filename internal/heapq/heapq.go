// Package heapq is Roster's one binary min-heap, generic in its elements:
// container/heap's algorithm without its interface boxing, with an
// optional callback that tells each element its index so that it can be
// removed or re-ordered in O(log n) (timers, waiters, leases).
package heapq

// Heap is a min-heap by less. The zero value is not usable: build one with
// New. It is not safe for concurrent use.
type Heap[T any] struct {
	items []T
	less  func(a, b T) bool
	moved func(x T, i int)
}

// New is an empty heap ordered by less. moved, when not nil, is called with
// an element's index each time it lands at one, and with -1 when it leaves
// the heap (Pop, Remove).
func New[T any](less func(a, b T) bool, moved func(x T, i int)) Heap[T] {
	return Heap[T]{less: less, moved: moved}
}

// Init replaces the heap's elements by items (which the heap then owns) and
// orders them in O(n).
func (h *Heap[T]) Init(items []T) {
	h.items = items
	for i := range h.items {
		h.place(i)
	}
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// Len is the number of elements.
func (h *Heap[T]) Len() int { return len(h.items) }

// At is the element at index i (0 is the least; the children of i are at
// 2i+1 and 2i+2), for walks that stop at a key.
func (h *Heap[T]) At(i int) T { return h.items[i] }

// Clear empties the heap, telling each element it left, and keeps the
// memory for reuse.
func (h *Heap[T]) Clear() {
	if h.moved != nil {
		for _, x := range h.items {
			h.moved(x, -1)
		}
	}
	clear(h.items)
	h.items = h.items[:0]
}

// Peek is the least element; it panics on an empty heap.
func (h *Heap[T]) Peek() T { return h.items[0] }

// Push adds x in O(log n).
func (h *Heap[T]) Push(x T) {
	h.items = append(h.items, x)
	h.place(len(h.items) - 1)
	h.up(len(h.items) - 1)
}

// Pop removes and returns the least element; it panics on an empty heap.
func (h *Heap[T]) Pop() T { return h.Remove(0) }

// Remove removes and returns the element at index i.
func (h *Heap[T]) Remove(i int) T {
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	x := h.items[last]
	var zero T
	h.items[last] = zero // no reference kept past the end
	h.items = h.items[:last]
	if i != last && !h.down(i) {
		h.up(i)
	}
	if h.moved != nil {
		h.moved(x, -1)
	}
	return x
}

// Fix restores the order after the element at index i changed its key.
func (h *Heap[T]) Fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *Heap[T]) place(i int) {
	if h.moved != nil {
		h.moved(h.items[i], i)
	}
}

func (h *Heap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.place(i)
	h.place(j)
}

func (h *Heap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sinks the element at i and reports whether it moved.
func (h *Heap[T]) down(i int) bool {
	start, n := i, len(h.items)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(h.items[r], h.items[c]) {
			c = r
		}
		if !h.less(h.items[c], h.items[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
