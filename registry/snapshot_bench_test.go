package registry

import (
	"bytes"
	"fmt"
	"testing"
)

// scaleCatalog registers services x per instances the way bench/scale does
// (a TTL, a tag and a meta key each, distinct addresses).
func scaleCatalog(tb testing.TB, services, per int) *Catalog {
	tb.Helper()
	c := New()
	for s := range services {
		cmds := make([][]byte, 0, per)
		for i := range per {
			n := s*per + i
			in := inst(fmt.Sprintf("svc-i%04d", s), fmt.Sprintf("svc-i%04d-%d", s, i))
			in.Address = fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
			in.Tags = []string{"v1"}
			in.Meta = map[string]string{"version": "1.4.2"}
			in.TTL = 300e9
			cmds = append(cmds, EncodeRegister(in, t0))
		}
		if res := c.Apply(uint64(s+1), EncodeBatch(cmds)); res.Err != nil {
			tb.Fatal(res.Err)
		}
	}
	return c
}

var snapshotSizes = []struct {
	name          string
	services, per int
}{
	{"100k", 1000, 100},
	{"1M", 10000, 100},
}

// BenchmarkSnapshotWrite is the cost of persisting the catalog (what a
// threshold snapshot, a snapshot on stop and a leader sending a new
// follower its state pay), per instance.
func BenchmarkSnapshotWrite(b *testing.B) {
	for _, sz := range snapshotSizes {
		b.Run(sz.name, func(b *testing.B) {
			c := scaleCatalog(b, sz.services, sz.per)
			var buf bytes.Buffer
			b.ResetTimer()
			for range b.N {
				buf.Reset()
				if _, err := c.Snapshot().WriteTo(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sz.services*sz.per), "ns/instance")
			b.ReportMetric(float64(buf.Len())/float64(sz.services*sz.per), "B/instance")
		})
	}
}

// BenchmarkSnapshotRestore is the cost of Restore (a restart, a follower
// installing the leader's snapshot), per instance.
func BenchmarkSnapshotRestore(b *testing.B) {
	for _, sz := range snapshotSizes {
		b.Run(sz.name, func(b *testing.B) {
			var buf bytes.Buffer
			if _, err := scaleCatalog(b, sz.services, sz.per).Snapshot().WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			data := buf.Bytes()
			b.ResetTimer()
			for range b.N {
				if err := New().Restore(bytes.NewReader(data), 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sz.services*sz.per), "ns/instance")
		})
	}
}
