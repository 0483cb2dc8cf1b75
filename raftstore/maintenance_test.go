package raftstore

import (
	"errors"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// TestMaintenanceWaitsForEveryServerToSupportIt: while one server gossips a
// build without the maintenance command, the leader refuses to write it
// (that server would stop applying) and nothing changes.
func TestMaintenanceWaitsForEveryServerToSupportIt(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.withoutMaintenance = cfg.NodeName == "s3" })
	leader := c.waitForLeader()
	if _, _, err := leader.Register(ctxT(t), testInstance("web", "w1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leader.SetMaintenance(ctxT(t), "web", "w1", true, "upgrade"); !errors.Is(err, registry.ErrMaintenanceUnsupported) {
		t.Fatalf("maintenance with an old server: %v, want ErrMaintenanceUnsupported", err)
	}
	if in, _ := leader.Catalog().Instance("w1"); in.Maintenance != "" {
		t.Fatalf("stored %+v", in)
	}
}

// TestMaintenanceReplicates: every server holds the reason and counts the
// instance critical; its own status stays passing.
func TestMaintenanceReplicates(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader()
	ctx := ctxT(t)
	if _, _, err := leader.Register(ctx, testInstance("web", "w1")); err != nil {
		t.Fatal(err)
	}
	in, idx, err := leader.SetMaintenance(ctx, "web", "w1", true, "")
	if err != nil || in.Maintenance != registry.DefaultMaintenanceReason {
		t.Fatalf("enable: %+v %v", in, err)
	}
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Catalog().Instance("w1")
		if got.Maintenance != registry.DefaultMaintenanceReason || got.Status != api.StatusPassing || got.Health() != api.StatusCritical {
			t.Fatalf("%s: %+v", s.cfg.NodeName, got)
		}
	}
	if _, _, err := leader.SetMaintenance(ctx, "web", "nope", true, ""); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	for _, f := range c.followers() {
		if _, _, err := f.SetMaintenance(ctx, "web", "w1", false, ""); !errors.Is(err, store.ErrNotLeader) {
			t.Fatalf("on a follower: %v, want ErrNotLeader (the front end forwards)", err)
		}
	}
}
