package registry

import (
	"fmt"
	"runtime"
	"testing"
)

// serviceSizes are the service sizes of the size benchmarks: a change must
// cost the same at each (issue #18, "any service size").
var serviceSizes = []int{1_000, 30_000, 100_000}

// fillService registers n instances into service web, in entries of 1,000.
func fillService(tb testing.TB, c *Catalog, n int) uint64 {
	tb.Helper()
	idx := uint64(0)
	for start := 0; start < n; start += 1000 {
		cmds := make([][]byte, 0, 1000)
		for i := start; i < min(start+1000, n); i++ {
			cmds = append(cmds, EncodeRegister(benchInstance("web", i), t0))
		}
		idx++
		if res := c.Apply(idx, EncodeBatch(cmds)); res.Err != nil {
			tb.Fatal(res.Err)
		}
	}
	return idx
}

// BenchmarkApplyServiceSize applies one change (a re-registration with
// another port) per log entry into one service holding 1k, 30k or 100k
// instances.
//
//	go test -run '^$' -bench ApplyServiceSize -benchmem ./registry
func BenchmarkApplyServiceSize(b *testing.B) {
	for _, n := range serviceSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			c := New()
			idx := fillService(b, c, n)
			// Two rounds over k instances spread over the service, with
			// ports 8000 and 8001, so that every one is a change.
			k := min(n, 1024)
			cmds := make([][]byte, 2*k)
			for i := range cmds {
				in := benchInstance("web", (i%k)*(n/k))
				in.Port = 8000 + i/k
				cmds[i] = EncodeRegister(in, t0)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				idx++
				if res := c.Apply(idx, cmds[i%len(cmds)]); res.Err != nil || len(res.Changed) != 1 {
					b.Fatal(res.Err, res.Changed)
				}
				i++
			}
		})
	}
}

// BenchmarkCatalogMemory reports the heap the catalog holds per instance:
// 100,000 instances in services of 100, and in one service of 100,000.
//
//	go test -run '^$' -bench CatalogMemory ./registry
func BenchmarkCatalogMemory(b *testing.B) {
	for _, size := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("service=%d", size), func(b *testing.B) {
			const total = 100_000
			for b.Loop() {
				before := heapInUse()
				c := New()
				idx := uint64(0)
				for s := range total / size {
					for start := 0; start < size; start += 1000 {
						cmds := make([][]byte, 0, 1000)
						for i := start; i < min(start+1000, size); i++ {
							cmds = append(cmds, EncodeRegister(benchInstance(fmt.Sprint("svc-", s), i), t0))
						}
						idx++
						c.Apply(idx, EncodeBatch(cmds))
					}
				}
				after := heapInUse()
				runtime.KeepAlive(c)
				b.ReportMetric(float64(after-before)/total, "B/instance")
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
