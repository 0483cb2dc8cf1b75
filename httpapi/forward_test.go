package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// leaderAndFollower starts a leader and a follower over one catalog; the
// follower forwards to the leader's server. Writes through a follower are
// tested on real clusters (forward_cluster_test.go); what stays here counts
// calls at the leader's store, which a real store does not expose.
func leaderAndFollower(t *testing.T, mod func(*Config)) (leader, follower *testNode) {
	c := newFakeCluster()
	leader = startNode(t, newLeaderStore(c), mod)
	follower = startNode(t, newFollowerStore(c, leader.addr()), mod)
	return leader, follower
}

func TestFollowerForwardsConsistentReads(t *testing.T) {
	leader, f := leaderAndFollower(t, nil)
	leader.register("web", "w1", webBody)
	list, a := f.list("/v1/services/web/instances?consistent")
	if ids(list) != "w1" || leader.store.consistentReads.Load() != 1 || f.store.consistentReads.Load() != 0 {
		t.Fatalf("consistent read via follower: %s; leader reads %d, follower reads %d",
			a, leader.store.consistentReads.Load(), f.store.consistentReads.Load())
	}
	if !slices.Contains(f.store.waitedIndexes(), list.Index) {
		t.Fatalf("follower did not wait for the consistent read's index %d: %v", list.Index, f.store.waitedIndexes())
	}
	// Local reads stay local.
	f.list("/v1/services/web/instances")
	if leader.store.consistentReads.Load() != 1 {
		t.Fatalf("a default read went to the leader")
	}
}

func TestFollowerCoalescesHeartbeats(t *testing.T) {
	leader, f := leaderAndFollower(t, func(c *Config) { c.HeartbeatCoalesce = 50 * time.Millisecond })
	const n = 40
	for i := range n {
		leader.register("web", fmt.Sprintf("w%d", i), webBody)
	}
	leader.register("web", "gone", webBody)
	leader.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/gone", "")
	leader.register("db", "other", webBody)
	calls := leader.store.heartbeatCalls.Load()

	type result struct {
		id     string
		status int
	}
	results := make(chan result, n+3)
	var wg sync.WaitGroup
	ids := []string{"missing", "gone", "other"}
	for i := range n {
		ids = append(ids, fmt.Sprintf("w%d", i))
	}
	for _, id := range ids {
		wg.Go(func() {
			a := f.do(http.MethodPut, "/v1/services/web/instances/"+id+"/heartbeat", `{"status":"passing"}`)
			results <- result{id, a.status}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		want := http.StatusOK
		switch r.id {
		case "missing", "other":
			want = http.StatusNotFound
		case "gone":
			want = http.StatusGone
		}
		if r.status != want {
			t.Errorf("heartbeat %s via follower: %d, want %d", r.id, r.status, want)
		}
	}
	batches := leader.store.heartbeatCalls.Load() - calls
	if batches == 0 || batches > int64(len(ids))/4 {
		t.Fatalf("%d heartbeats reached the leader store in %d calls; want them coalesced", len(ids), batches)
	}
	t.Logf("%d heartbeats forwarded in %d batches", len(ids), batches)
}
