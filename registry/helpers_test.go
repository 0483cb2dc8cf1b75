package registry

import (
	"bytes"
	"errors"

	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// t0 is the leader's wall clock in the tests' commands.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano()

// inst returns a valid instance of svc with the given id.
func inst(svc, id string) Instance {
	return Instance{Service: svc, ID: id, Address: "10.0.0.1", Port: 8080}
}

// applier applies commands at increasing indexes.
type applier struct {
	t   testing.TB
	c   *Catalog
	idx uint64
}

func newApplier(t testing.TB) *applier { return &applier{t: t, c: New()} }

func (a *applier) apply(cmd []byte) *Result {
	a.t.Helper()
	a.idx++
	res := a.c.Apply(a.idx, cmd)
	if res.Index != a.idx {
		a.t.Fatalf("Result.Index = %d, want %d", res.Index, a.idx)
	}
	return res
}

// mustOK applies a command that must succeed.
func (a *applier) mustOK(cmd []byte) *Result {
	a.t.Helper()
	res := a.apply(cmd)
	if res.Err != nil {
		a.t.Fatalf("apply at %d: %v", a.idx, res.Err)
	}
	return res
}

func (a *applier) register(in Instance) *Result {
	a.t.Helper()
	return a.mustOK(EncodeRegister(in, t0+int64(a.idx)))
}

func (a *applier) status(id string, s api.Status, now int64) *Result {
	a.t.Helper()
	return a.mustOK(EncodeStatus([]StatusUpdate{{ID: id, Status: s}}, now))
}

func snapshotBytes(t testing.TB, c *Catalog) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := c.Snapshot().WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func wantErr(t testing.TB, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("error %v, want %v", got, want)
	}
}
