package raftstore

import (
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

// TestBareNodesElectALeaderThatApplies: three bare nodes bootstrapped with
// the same peers elect one leader, which commits entries; a follower
// refuses them (the bench tool counts that as a failed apply, not a rate).
func TestBareNodesElectALeaderThatApplies(t *testing.T) {
	nodes := startBareCluster(t, 3)
	var leader, follower *BareNode
	retry.Eventually(t, 20*time.Second, func() error {
		leader, follower = nil, nil
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
			} else {
				follower = n
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		return nil
	})
	if err := leader.Barrier(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := leader.Apply([]byte("entry"), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := follower.Apply([]byte("entry"), time.Second); err == nil {
		t.Fatal("a follower accepted an apply")
	}
}
