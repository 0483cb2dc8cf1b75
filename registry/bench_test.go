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

// BenchmarkServiceEncode is the HTTP read path: the cached encoding of a
// 10-instance service.
func BenchmarkServiceEncode(b *testing.B) {
	c := New()
	cmds := make([][]byte, 10)
	for i := range cmds {
		cmds[i] = EncodeRegister(benchInstance("web", i), t0)
	}
	c.Apply(1, EncodeBatch(cmds))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.Service("web").Encode(idEncoder{}, FilterHealthy).Len == 0 {
				b.Fatal("empty")
			}
		}
	})
}

// BenchmarkApplyNewRegistrationBatch applies coalesced entries of 20 new
// registrations each (the size a leader's entries have under 64 clients),
// spread over 100 services: every sub-command changes one instance, so it
// shows what an entry's changes cost (BenchmarkApplyRegisterBatch's
// entries change nothing after the first pass).
func BenchmarkApplyNewRegistrationBatch(b *testing.B) {
	const perEntry, entries = 20, 4096
	batches := make([][]byte, entries)
	for n := range batches {
		cmds := make([][]byte, perEntry)
		for i := range cmds {
			id := n*perEntry + i
			cmds[i] = EncodeRegister(benchInstance(fmt.Sprint("svc-", id%100), id), t0)
		}
		batches[n] = EncodeBatch(cmds)
	}
	b.ReportAllocs()
	c := New()
	idx := uint64(0)
	for b.Loop() {
		if idx > 0 && idx%entries == 0 {
			b.StopTimer()
			c = New()
			b.StartTimer()
		}
		idx++
		if res := c.Apply(idx, batches[(idx-1)%entries]); len(res.Changed) != perEntry {
			b.Fatalf("entry %d changed %d instances, want %d", idx, len(res.Changed), perEntry)
		}
	}
	b.ReportMetric(float64(b.N*perEntry)/b.Elapsed().Seconds(), "registrations/s")
}
