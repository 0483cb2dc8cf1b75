package lease

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// BenchmarkRestoreAndArm is what a server does with its state before it
// can serve after a restart (or a follower after the leader sent it a
// snapshot), at 1,000,000 instances over 10,000 services as bench/scale
// registers them: restore the catalog from the snapshot, rebuild the lease
// table from it, arm every lease.
func BenchmarkRestoreAndArm(b *testing.B) {
	const services, per = 10000, 100
	c := registry.New()
	for s := range services {
		cmds := make([][]byte, per)
		for i := range cmds {
			n := s*per + i
			in := inst(fmt.Sprintf("svc-i%04d", s), fmt.Sprintf("svc-i%04d-%d", s, i))
			in.Address = fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
			in.Tags = []string{"v1"}
			in.Meta = map[string]string{"version": "1.4.2"}
			in.TTL = 5 * time.Minute
			cmds[i] = registry.EncodeRegister(in, t0)
		}
		c.Apply(uint64(s+1), registry.EncodeBatch(cmds))
	}
	var buf bytes.Buffer
	if _, err := c.Snapshot().WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	c = nil
	b.ResetTimer()
	for range b.N {
		r := registry.New()
		if err := r.Restore(bytes.NewReader(buf.Bytes()), services); err != nil {
			b.Fatal(err)
		}
		l := NewLessor(Config{Catalog: r})
		l.Reset(r)
		l.Elected()
		l.Promote()
	}
}
