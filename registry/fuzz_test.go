package registry

import (
	"bytes"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// FuzzApplyCommand feeds arbitrary Raft entries to Apply: nothing panics,
// and whatever the catalog holds afterwards still passes the registration
// rules (its snapshot restores, and restore validates every record).
func FuzzApplyCommand(f *testing.F) {
	in := inst("web", "w1")
	in.TTL, in.DeregisterAfter = 10*time.Second, time.Minute
	f.Add(EncodeRegister(in, t0))
	f.Add(EncodeDeregister("web", "w1", t0))
	f.Add(EncodeStatus([]StatusUpdate{{ID: "w1", Status: api.StatusCritical, Output: "down"}}, t0))
	f.Add(EncodeReap([]string{"w1", "w2"}, t0))
	f.Add(EncodeBatch([][]byte{EncodeRegister(inst("db", "d1"), t0), EncodeDeregister("web", "w1", t0)}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		c := New()
		c.Apply(1, EncodeRegister(in, t0))
		c.Apply(2, cmd)
		var buf bytes.Buffer
		if _, err := c.Snapshot().WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := New().Restore(&buf, 2); err != nil {
			t.Fatalf("the state Apply left does not restore: %v", err)
		}
	})
}

// FuzzRestoreSnapshot feeds arbitrary bytes to Restore: a refused snapshot
// leaves the catalog as it was, an accepted one round-trips, and nothing
// panics.
func FuzzRestoreSnapshot(f *testing.F) {
	a := newApplier(f)
	in := inst("web", "w1")
	in.Tags, in.Meta = []string{"v1"}, map[string]string{"k": "v"}
	a.register(in)
	a.register(inst("db", "d1"))
	a.apply(EncodeDeregister("db", "d1", t0))
	f.Add(snapshotBytes(f, a.c))
	f.Add(snapshotBytes(f, New()))
	f.Add([]byte("RSNP\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New()
		c.Apply(1, EncodeRegister(inst("keep", "k1"), t0))
		if err := c.Restore(bytes.NewReader(data), 5); err != nil {
			if _, ok := c.Instance("k1"); !ok || c.Index() != 1 {
				t.Fatal("a refused restore changed the catalog")
			}
			return
		}
		var buf bytes.Buffer
		if _, err := c.Snapshot().WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := New().Restore(&buf, 5); err != nil {
			t.Fatalf("an accepted snapshot does not round-trip: %v", err)
		}
	})
}
