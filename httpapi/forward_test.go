package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// leaderAndFollower starts a leader and a follower over one catalog; the
// follower forwards to the leader's server.
func leaderAndFollower(t *testing.T, mod func(*Config)) (leader, follower *testNode) {
	c := newFakeCluster()
	leader = startNode(t, newLeaderStore(c), mod)
	follower = startNode(t, newFollowerStore(c, leader.addr()), mod)
	return leader, follower
}

func TestFollowerForwardsWritesAndWaitsForTheirIndex(t *testing.T) {
	leader, f := leaderAndFollower(t, nil)

	reg := f.register("web", "w1", webBody)
	if reg.ID != "w1" || reg.Status != api.StatusPassing {
		t.Fatalf("forwarded register answered %+v", reg)
	}
	if got := leader.store.registers.Load(); got != 1 {
		t.Fatalf("leader store saw %d registrations, want 1", got)
	}
	// Read-your-writes: the follower waited for the index the leader answered.
	if w := f.store.waitedIndexes(); !slices.Contains(w, reg.Index) {
		t.Fatalf("follower waited for %v, want %d among them", w, reg.Index)
	}
	list, _ := f.list("/v1/services/web/instances")
	if ids(list) != "w1" {
		t.Fatalf("follower reads %+v after its own write", list)
	}

	d := f.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/w1", "")
	if idx := headerIndex(t, d); !slices.Contains(f.store.waitedIndexes(), idx) {
		t.Fatalf("deregister at %d not waited for: %v", idx, f.store.waitedIndexes())
	}

	// The leader's error answers come back unchanged.
	leader.register("db", "d1", webBody)
	a := f.do(http.MethodPut, "/v1/services/web/instances/d1", webBody)
	checkError(t, a, http.StatusConflict, "conflict", "", false)
	a = f.do(http.MethodPut, "/v1/services/web/instances/w2", `{"port":"x"}`)
	checkError(t, a, http.StatusBadRequest, "invalid", "port", false)

	// Batch heartbeats go to the leader's store.
	f.register("web", "w3", webBody)
	a = f.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", `{"instances":[{"service":"web","id":"w3"},{"service":"web","id":"zz"}]}`)
	var hr api.HeartbeatsResponse
	decode(t, a.body, &hr)
	if hr.Renewed != 1 || len(hr.Missing) != 1 || leader.store.heartbeatCalls.Load() == 0 {
		t.Fatalf("forwarded batch answered %+v (leader heartbeat calls %d)", hr, leader.store.heartbeatCalls.Load())
	}

	// Peer removal and restores are leader work too.
	f.must(http.StatusOK, http.MethodDelete, "/v1/cluster/raft/peers/s3", "")
	f.must(http.StatusOK, http.MethodPut, "/v1/snapshot", "backup-bytes")
	leader.store.mu.Lock()
	removed, restored := leader.store.removed, string(leader.store.restored)
	leader.store.mu.Unlock()
	if !slices.Equal(removed, []string{"s3"}) || restored != "backup-bytes" {
		t.Fatalf("leader store: removed %v, restored %q", removed, restored)
	}

	// Forwarded answers carry the follower's own leader headers.
	if a.header.Get(api.HeaderLastContact) != "12" {
		t.Fatalf("forwarded answer's last contact %q, want the follower's 12", a.header.Get(api.HeaderLastContact))
	}
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

func TestFollowerHeartbeatWithoutCoalescingIsForwarded(t *testing.T) {
	leader, f := leaderAndFollower(t, func(c *Config) { c.HeartbeatCoalesce = -1 })
	leader.register("web", "w1", webBody)
	f.must(http.StatusOK, http.MethodPut, "/v1/services/web/instances/w1/heartbeat", "")
	f.must(http.StatusNotFound, http.MethodPut, "/v1/services/web/instances/w2/heartbeat", "")
	if got := leader.store.heartbeatCalls.Load(); got != 2 {
		t.Fatalf("leader store heartbeat calls %d, want 2 (one per forwarded heartbeat)", got)
	}
}
