package gateway

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testPool builds a pool over backends with the given weights (ids a, b,
// c...), outside any gateway.
func testPool(t *testing.T, balance Balance, weights ...int) (*pool, []*backend) {
	t.Helper()
	g := &Gateway{cfg: Config{Registry: prometheus.NewRegistry()}}
	g.metrics = newMetrics(g)
	svc := &serviceState{name: "svc"}
	var bs []*backend
	for i, w := range weights {
		b := &backend{id: string(rune('a' + i)), service: "svc", svc: svc, ejected: g.metrics.ejections.WithLabelValues("svc", "x")}
		b.weight.Store(int64(w))
		bs = append(bs, b)
	}
	svc.setLive(bs)
	p := newPool("/", "svc", balance)
	p.setMembers(bs, g.metrics)
	return p, bs
}

func picks(p *pool, n int) map[string]int {
	got := map[string]int{}
	for range n {
		if m := p.pick(nil); m != nil {
			got[m.b.id]++
		}
	}
	return got
}

func TestRoundRobinTakesEachInTurnAndSkipsEjected(t *testing.T) {
	p, bs := testPool(t, RoundRobin, 1, 1, 1)
	if got := picks(p, 30); got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("picks %v", got)
	}
	bs[1].ejectedUntil.Store(time.Now().Add(time.Minute).UnixNano())
	if got := picks(p, 30); got["b"] != 0 || got["a"]+got["c"] != 30 {
		t.Errorf("with b ejected: %v", got)
	}
	bs[1].ejectedUntil.Store(time.Now().Add(-time.Second).UnixNano())
	if got := picks(p, 30); got["b"] != 10 {
		t.Errorf("b back after its cool-off: %v", got)
	}
}

func TestWeightedFollowsWeights(t *testing.T) {
	p, _ := testPool(t, Weighted, 1, 2, 5)
	if got := picks(p, 80); got["a"] != 10 || got["b"] != 20 || got["c"] != 50 {
		t.Errorf("picks %v, want 10/20/50", got)
	}
	// Smooth: the heavy one never takes more than its share in a row.
	run, longest, last := 0, 0, ""
	for range 80 {
		id := p.pick(nil).b.id
		if id == last {
			run++
		} else {
			run = 1
		}
		last = id
		longest = max(longest, run)
	}
	if longest > 2 {
		t.Errorf("c picked %d times in a row, want interleaved", longest)
	}
}

func TestLeastRequestsTakesTheLeastLoadedByWeight(t *testing.T) {
	p, bs := testPool(t, LeastRequests, 1, 1, 2)
	bs[0].inflight.Store(3)
	bs[1].inflight.Store(1)
	bs[2].inflight.Store(3) // 1.5 per unit of weight
	if m := p.pick(nil); m.b.id != "b" {
		t.Errorf("picked %s, want b", m.b.id)
	}
	bs[1].inflight.Store(2)
	if m := p.pick(nil); m.b.id != "c" {
		t.Errorf("picked %s, want c (3/2 < 2/1)", m.b.id)
	}
	// Ties go in turn.
	for _, b := range bs {
		b.inflight.Store(0)
		b.weight.Store(1)
	}
	if got := picks(p, 30); got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("ties: %v", got)
	}
}

func TestPickSkipsTriedAndFallsBackToEjected(t *testing.T) {
	p, bs := testPool(t, RoundRobin, 1, 1)
	bs[1].ejectedUntil.Store(time.Now().Add(time.Minute).UnixNano())
	if m := p.pick([]*backend{bs[0]}); m == nil || m.b != bs[1] {
		t.Errorf("with a tried and b ejected: %v, want b (better than nothing)", m)
	}
	if m := p.pick([]*backend{bs[0], bs[1]}); m != nil {
		t.Errorf("everything tried: got %s", m.b.id)
	}
	bs[0].gone.Store(true)
	if m := p.pick([]*backend{bs[1]}); m != nil {
		t.Errorf("a gone: got %s", m.b.id)
	}
}

func TestEjectionCap(t *testing.T) {
	for _, c := range []struct {
		n, pct, already int
		want            bool
	}{
		{n: 1, pct: 50, already: 0, want: false},  // never the last
		{n: 2, pct: 50, already: 0, want: true},   // one of two
		{n: 2, pct: 10, already: 0, want: true},   // at least one of two or more
		{n: 2, pct: 100, already: 1, want: false}, // never the last
		{n: 10, pct: 50, already: 4, want: true},
		{n: 10, pct: 50, already: 5, want: false},
		{n: 10, pct: 0, already: 0, want: true}, // 0 percent still allows one
		{n: 3, pct: 100, already: 2, want: false},
	} {
		p, bs := testPool(t, RoundRobin, make([]int, c.n)...)
		_ = p
		now := time.Now()
		for i := 0; i < c.already; i++ {
			bs[i].ejectedUntil.Store(now.Add(time.Minute).UnixNano())
		}
		if got := bs[c.n-1].svc.mayEject(bs[c.n-1], now.UnixNano(), c.pct); got != c.want {
			t.Errorf("%d instances, %d%%, %d ejected: mayEject %v, want %v", c.n, c.pct, c.already, got, c.want)
		}
	}
}
