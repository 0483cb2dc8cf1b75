package lease

import "github.com/rosterhq/roster/internal/heapq"

// leaseHeap is a min-heap of leases by one deadline, with each lease
// remembering its position so that renewals and removals are O(log n).
// Ties break on id so that Due hands out work in a stable order.
type leaseHeap struct {
	q   heapq.Heap[*lease]
	key func(*lease) tick
	pos func(*lease) *int32 // a million leases: 4 bytes a position, not 8
}

func newLeaseHeap(key func(*lease) tick, pos func(*lease) *int32) leaseHeap {
	less := func(a, b *lease) bool {
		if ka, kb := key(a), key(b); ka != kb {
			return ka < kb
		}
		return a.id < b.id
	}
	return leaseHeap{q: heapq.New(less, func(l *lease, i int) { *pos(l) = int32(i) }), key: key, pos: pos}
}

func (h *leaseHeap) len() int { return h.q.Len() }

func (h *leaseHeap) has(l *lease) bool { return *h.pos(l) >= 0 }

// push adds l, or moves it to its new key if it is already in.
func (h *leaseHeap) push(l *lease) {
	if h.has(l) {
		h.fix(l)
		return
	}
	h.q.Push(l)
}

func (h *leaseHeap) fix(l *lease) { h.q.Fix(int(*h.pos(l))) }

func (h *leaseHeap) remove(l *lease) {
	if i := *h.pos(l); i >= 0 {
		h.q.Remove(int(i))
	}
}

// init replaces the heap's leases by ls (which it then owns) and orders
// them in O(n): arming a whole table at once, instead of O(n log n) pushes.
func (h *leaseHeap) init(ls []*lease) { h.q.Init(ls) }

func (h *leaseHeap) peek() *lease {
	if h.q.Len() == 0 {
		return nil
	}
	return h.q.Peek()
}

// countDue counts the entries whose key is at or before now and that pass
// the optional filter, visiting only those (and their children).
func (h *leaseHeap) countDue(now tick, filter func(*lease) bool) int {
	n := 0
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= h.q.Len() || h.key(h.q.At(i)) > now {
			continue
		}
		if filter == nil || filter(h.q.At(i)) {
			n++
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return n
}

// clear empties the heap and forgets every position.
func (h *leaseHeap) clear() { h.q.Clear() }
