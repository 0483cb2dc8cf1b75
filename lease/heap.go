package lease

// leaseHeap is a min-heap of leases by one deadline, with each lease
// remembering its position so that renewals and removals are O(log n).
// Ties break on id so that Due hands out work in a stable order.
type leaseHeap struct {
	items []*lease
	key   func(*lease) tick
	pos   func(*lease) *int
}

func newLeaseHeap(key func(*lease) tick, pos func(*lease) *int) leaseHeap {
	return leaseHeap{key: key, pos: pos}
}

func (h *leaseHeap) len() int { return len(h.items) }

func (h *leaseHeap) has(l *lease) bool { return *h.pos(l) >= 0 }

func (h *leaseHeap) less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	ka, kb := h.key(a), h.key(b)
	if ka != kb {
		return ka < kb
	}
	return a.id < b.id
}

func (h *leaseHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]) = i
	*h.pos(h.items[j]) = j
}

func (h *leaseHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *leaseHeap) down(i int) bool {
	start := i
	n := len(h.items)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}

// push adds l, or moves it to its new key if it is already in.
func (h *leaseHeap) push(l *lease) {
	if h.has(l) {
		h.fix(l)
		return
	}
	*h.pos(l) = len(h.items)
	h.items = append(h.items, l)
	h.up(len(h.items) - 1)
}

func (h *leaseHeap) fix(l *lease) {
	i := *h.pos(l)
	if !h.down(i) {
		h.up(i)
	}
}

func (h *leaseHeap) remove(l *lease) {
	i := *h.pos(l)
	if i < 0 {
		return
	}
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	*h.pos(l) = -1
	if i != last {
		h.fix(h.items[i])
	}
}

func (h *leaseHeap) peek() *lease {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// countDue counts the entries whose key is at or before now and that pass
// the optional filter, visiting only those (and their children).
func (h *leaseHeap) countDue(now tick, filter func(*lease) bool) int {
	n := 0
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(h.items) || h.key(h.items[i]) > now {
			continue
		}
		if filter == nil || filter(h.items[i]) {
			n++
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return n
}

// clear empties the heap and forgets every position.
func (h *leaseHeap) clear() {
	for _, l := range h.items {
		*h.pos(l) = -1
	}
	clear(h.items)
	h.items = h.items[:0]
}
