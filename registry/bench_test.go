package registry

import (
	"fmt"
	"testing"
	"time"
)

func benchInstance(svc string, i int) Instance {
	in := inst(svc, fmt.Sprintf("%s-%06d", svc, i))
	in.Tags = []string{"v1", "http"}
	in.Meta = map[string]string{"zone": "eu-1a"}
	in.TTL = 10 * time.Second
	in.DeregisterAfter = time.Minute
	return in
}

func BenchmarkEncodeRegister(b *testing.B) {
	in := benchInstance("web", 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = EncodeRegister(in, t0)
	}
}

// BenchmarkApplyRegister applies one registration per log entry into a
// catalog of 100k instances, in services of 10 or 1000 instances: the cost
// is that of rebuilding one service's view, never the catalog's.
func BenchmarkApplyRegister(b *testing.B) {
	const total = 100_000
	for _, size := range []int{10, 1000} {
		b.Run(fmt.Sprintf("service=%d", size), func(b *testing.B) {
			services := total / size
			c := New()
			idx := uint64(0)
			for s := range services {
				cmds := make([][]byte, size)
				for i := range size {
					cmds[i] = EncodeRegister(benchInstance(fmt.Sprint("svc-", s), i), t0)
				}
				idx++
				c.Apply(idx, EncodeBatch(cmds))
			}
			// Re-registrations that change the port: two rounds over the
			// same 4096 instances, with ports 8000 and 8001, so that every
			// one is a change.
			const round = 4096
			cmds := make([][]byte, 2*round)
			for i := range cmds {
				in := benchInstance(fmt.Sprint("svc-", i%round%services), (i%round/services)%size)
				in.Port = 8000 + i/round
				cmds[i] = EncodeRegister(in, t0)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				idx++
				res := c.Apply(idx, cmds[i%len(cmds)])
				if res.Err != nil || len(res.Changed) != 1 {
					b.Fatal(res.Err, res.Changed)
				}
				i++
			}
		})
	}
}

// BenchmarkApplyRegisterBatch applies coalesced entries of 256
// registrations, as the replication layer writes them under load.
func BenchmarkApplyRegisterBatch(b *testing.B) {
	c := New()
	var batches [][]byte
	for n := range 64 {
		cmds := make([][]byte, 256)
		for i := range cmds {
			cmds[i] = EncodeRegister(benchInstance(fmt.Sprint("svc-", (n*256+i)%100), n*256+i), t0)
		}
		batches = append(batches, EncodeBatch(cmds))
	}
	b.ReportAllocs()
	idx := uint64(0)
	for b.Loop() {
		idx++
		c.Apply(idx, batches[idx%uint64(len(batches))])
	}
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "registrations/s")
}

// BenchmarkServiceJSON is the HTTP read path: the cached encoding of a
// 10-instance service.
func BenchmarkServiceJSON(b *testing.B) {
	c := New()
	cmds := make([][]byte, 10)
	for i := range cmds {
		cmds[i] = EncodeRegister(benchInstance("web", i), t0)
	}
	c.Apply(1, EncodeBatch(cmds))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(c.Service("web").JSON(FilterHealthy)) == 0 {
				b.Fatal("empty")
			}
		}
	})
}

// BenchmarkRenew is a heartbeat that changes nothing, on a table of 100k
// leases.
func BenchmarkRenew(b *testing.B) {
	c := New()
	l := NewLessor(LeaseConfig{Catalog: c})
	const n = 100_000
	for s := range 100 {
		cmds := make([][]byte, n/100)
		for i := range cmds {
			cmds[i] = EncodeRegister(benchInstance(fmt.Sprint("svc-", s), i), t0)
		}
		l.Observe(c.Apply(uint64(s+1), EncodeBatch(cmds)).Changed)
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
	c := New()
	l := NewLessor(LeaseConfig{Catalog: c})
	var changes [][]Change
	for i := range 4096 {
		res := c.Apply(uint64(i+1), EncodeRegister(benchInstance(fmt.Sprint("svc-", i%100), i), t0))
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
	c := New()
	l := NewLessor(LeaseConfig{Catalog: c, Now: clock.Now})
	const n = 100_000
	for s := range 100 {
		cmds := make([][]byte, n/100)
		for i := range cmds {
			in := benchInstance(fmt.Sprint("svc-", s), i)
			in.TTL = 30 * time.Second
			cmds[i] = EncodeRegister(in, t0)
		}
		l.Observe(c.Apply(uint64(s+1), EncodeBatch(cmds)).Changed)
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
