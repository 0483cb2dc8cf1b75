package lease

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// benchInstance is a registration as the registry benchmarks make them.
func benchInstance(svc string, i int) registry.Instance {
	in := inst(svc, fmt.Sprintf("%s-%06d", svc, i))
	in.Tags = []string{"v1", "http"}
	in.Meta = map[string]string{"zone": "eu-1a"}
	in.TTL = 10 * time.Second
	in.DeregisterAfter = time.Minute
	return in
}

// BenchmarkRenew is a heartbeat that changes nothing, on a table of 100k
// leases.
func BenchmarkRenew(b *testing.B) {
	c := registry.New()
	l := NewLessor(Config{Catalog: c})
	const n = 100_000
	for s := range 100 {
		cmds := make([][]byte, n/100)
		for i := range cmds {
			cmds[i] = registry.EncodeRegister(benchInstance(fmt.Sprint("svc-", s), i), t0)
		}
		l.Observe(c.Apply(uint64(s+1), registry.EncodeBatch(cmds)).Changed)
	}
	l.Promote()
	ids := make([]string, 0, n)
	for s := range 100 {
		for i := range n / 100 {
			ids = append(ids, fmt.Sprintf("svc-%d-%06d", s, i))
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if write, err := l.Renew(ids[i%n], "", ""); err != nil || write {
			b.Fatal(write, err)
		}
		i++
	}
}

// BenchmarkObserve is the cost every Apply adds on every server.
func BenchmarkObserve(b *testing.B) {
	c := registry.New()
	l := NewLessor(Config{Catalog: c})
	var changes [][]registry.Change
	for i := range 4096 {
		res := c.Apply(uint64(i+1), registry.EncodeRegister(benchInstance(fmt.Sprint("svc-", i%100), i), t0))
		changes = append(changes, res.Changed)
	}
	l.Promote()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Observe(changes[i%len(changes)])
		i++
	}
}

// BenchmarkRenewAndDue is steady-state heartbeating: 100k leases of TTL
// 30s, each renewed every 10s, with Due every 100ms; one op is one renewal
// plus its share of Due's work.
func BenchmarkRenewAndDue(b *testing.B) {
	clock := newFakeClock()
	c := registry.New()
	l := NewLessor(Config{Catalog: c, Now: clock.Now})
	const n = 100_000
	for s := range 100 {
		cmds := make([][]byte, n/100)
		for i := range cmds {
			in := benchInstance(fmt.Sprint("svc-", s), i)
			in.TTL = 30 * time.Second
			cmds[i] = registry.EncodeRegister(in, t0)
		}
		l.Observe(c.Apply(uint64(s+1), registry.EncodeBatch(cmds)).Changed)
	}
	l.Promote()
	ids := make([]string, 0, n)
	for s := range 100 {
		for i := range n / 100 {
			ids = append(ids, fmt.Sprintf("svc-%d-%06d", s, i))
		}
	}
	// 100 ticks of 100ms per 10s interval: n/100 renewals per tick.
	perTick := n / 100
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Renew(ids[i%n], "", ""); err != nil {
			b.Fatal(err)
		}
		i++
		if i%perTick == 0 {
			clock.advance(100 * time.Millisecond)
			if x, _ := l.Due(); len(x) != 0 {
				b.Fatalf("expired %d", len(x))
			}
		}
	}
}

// BenchmarkLessorBytesPerLease reports the live heap the lease table adds
// to a catalog of 100,000 leased instances, armed (the leader's case):
// the lease, its map entry and its place in the expiry heap.
func BenchmarkLessorBytesPerLease(b *testing.B) {
	const services, per = 1000, 100
	c := registry.New()
	for s := range services {
		cmds := make([][]byte, per)
		for i := range cmds {
			cmds[i] = registry.EncodeRegister(benchInstance(fmt.Sprint("svc-", s), i), t0)
		}
		c.Apply(uint64(s+1), registry.EncodeBatch(cmds))
	}
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := NewLessor(Config{Catalog: c})
		l.Reset(c)
		l.Promote()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(services*per), "B/lease")
		runtime.KeepAlive(l)
	}
}
