package raftstore

import (
	"context"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"testing"
	"time"
)

// TestGracefulStopSnapshotsSoRestartReplaysNoLog: a server stopped with
// SIGTERM semantics after many writes takes a snapshot, and its next start
// restores that snapshot instead of replaying the log.
func TestGracefulStopSnapshotsSoRestartReplaysNoLog(t *testing.T) {
	cfg := testConfig(t, "r1")
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, s.Ready)
	ctx := ctxT(t)
	var last uint64
	for n := range snapshotOnCloseMin + 10 {
		_, idx, err := s.Register(ctx, testInstance("web", fmt.Sprintf("web-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	if metas, _ := s.snaps.List(); len(metas) != 0 {
		t.Fatalf("snapshot before the stop: %+v (threshold not expected to trigger)", metas)
	}
	cfg.RaftAddr, cfg.GossipAddr = s.RaftAddr(), s.GossipAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, cfg)
	metas, err := s2.snaps.List()
	if err != nil || len(metas) == 0 || metas[0].Index < last {
		t.Fatalf("snapshots after a graceful stop: %+v (%v), want one at index >= %d", metas, err, last)
	}
	if got := counterValue(s2.metrics.restores); got != 1 {
		t.Fatalf("restart restored %v snapshots, want 1", got)
	}
	// Restored at start, before any replay: everything is there at once.
	if got := s2.applied.load(); got < last {
		t.Fatalf("applied index right after open %d, want >= %d from the snapshot", got, last)
	}
	for n := range snapshotOnCloseMin + 10 {
		if _, ok := s2.Catalog().Instance(fmt.Sprintf("web-%d", n)); !ok {
			t.Fatalf("web-%d lost across restart", n)
		}
	}
	retry.Eventually(t, 5*time.Second, s2.Ready)

	// Few writes since the last snapshot: no new snapshot on stop.
	_, more, err := s2.Register(ctx, testInstance("web", "one-more"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := openStore(t, cfg)
	if metas2, _ := s3.snaps.List(); len(metas2) != len(metas) || metas2[0].ID != metas[0].ID {
		t.Fatalf("snapshots %+v after a stop with one new entry, want still %+v", metas2, metas)
	}
	if err := s3.WaitApplied(ctx, more); err != nil {
		t.Fatal(err)
	}
	if _, ok := s3.Catalog().Instance("one-more"); !ok {
		t.Fatal("one-more lost across restart (replayed from the log)")
	}
}

// TestRestartedFollowerIsNotReadyUntilCaughtUp: readiness means applied
// within 250 entries of the leader's commit index (design.md), also in the
// first moments after a restart, when the follower has heard only the
// leader's heartbeats (which carry no commit index) and still replays its
// own log.
func TestRestartedFollowerIsNotReadyUntilCaughtUp(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	f := c.followers()[0]
	i := c.index(f)
	for n := range 300 {
		if _, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("before-%d", n))); err != nil {
			t.Fatal(err)
		}
	}
	f.crash()
	var last uint64
	for n := range 600 {
		idx, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("while-down-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	f2 := c.restart(i)
	// Poll finely: the property is about the first moment it reports ready.
	retry.EventuallyEvery(t, 10*time.Second, time.Millisecond, f2.Ready)
	if applied := f2.applied.load(); applied+readyMaxLag < last {
		t.Fatalf("follower ready at applied index %d, %d behind the leader's %d", applied, last-applied, last)
	}
}
