package lease

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestHeapInitOrdersLikePush: arming a whole table with init hands out
// leases in the same order as pushing them one by one.
func TestHeapInitOrdersLikePush(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 10, 1000} {
		var bulk, single []*lease
		for i := range n {
			// Few distinct deadlines, so ties (broken on id) are common.
			d := tick(rng.IntN(5))
			bulk = append(bulk, &lease{id: fmt.Sprintf("i-%04d", i), heapAt: d, expPos: -1})
			single = append(single, &lease{id: fmt.Sprintf("i-%04d", i), heapAt: d, expPos: -1})
		}
		key := func(l *lease) tick { return l.heapAt }
		pos := func(l *lease) *int32 { return &l.expPos }
		a, b := newLeaseHeap(key, pos), newLeaseHeap(key, pos)
		a.init(bulk)
		for _, l := range single {
			b.push(l)
		}
		for i := range n {
			x, y := a.peek(), b.peek()
			if x.id != y.id || x.heapAt != y.heapAt {
				t.Fatalf("n=%d, #%d: init gives %s@%d, push gives %s@%d", n, i, x.id, x.heapAt, y.id, y.heapAt)
			}
			if got := int(*pos(x)); got != 0 {
				t.Fatalf("n=%d: the head's position is %d", n, got)
			}
			a.remove(x)
			b.remove(y)
		}
		if a.len() != 0 || b.len() != 0 {
			t.Fatalf("n=%d: %d and %d left", n, a.len(), b.len())
		}
	}
}
