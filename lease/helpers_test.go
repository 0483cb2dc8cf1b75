package lease

import (
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// t0 is the leader's wall clock in the tests' commands.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano()

// inst returns a valid instance of svc with the given id.
func inst(svc, id string) registry.Instance {
	return registry.Instance{Service: svc, ID: id, Address: "10.0.0.1", Port: 8080}
}

// applier applies commands to a catalog at increasing indexes, as the
// replication layer does.
type applier struct {
	t   testing.TB
	c   *registry.Catalog
	idx uint64
}

func newApplier(t testing.TB) *applier { return &applier{t: t, c: registry.New()} }

// mustOK applies a command that must succeed.
func (a *applier) mustOK(cmd []byte) *registry.Result {
	a.t.Helper()
	a.idx++
	res := a.c.Apply(a.idx, cmd)
	if res.Err != nil {
		a.t.Fatalf("apply at %d: %v", a.idx, res.Err)
	}
	return res
}
