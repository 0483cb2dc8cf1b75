//go:build faults

package faults

import (
	"context"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

const (
	clients   = 4
	warmup    = 2 * time.Second
	faultHold = 6 * time.Second
)

// runFault is the shape of every fault test: a 3-server cluster under a
// client workload; inject breaks something and returns how to heal it; after
// healing, the cluster must accept writes again, converge, lose no
// acknowledged registration and have produced a linearizable history.
func runFault(t *testing.T, fault string, inject func(c *cluster, leader *node) (heal func())) {
	c := startCluster(t, 3)
	leader := c.waitForLeader(30 * time.Second)
	w := startWorkload(c, clients)
	mon := startLeaderMonitor(c)
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			w.stop()
			mon.stop()
		}
	}
	t.Cleanup(stopAll)

	w.waitWrites(t, w.start, 20, 30*time.Second)
	hold(t, warmup)
	t.Logf("%s: injecting (leader %s)", fault, leader.name)
	heal := inject(c, leader)
	hold(t, faultHold)
	t.Logf("%s: healing", fault)
	heal()
	healed := time.Now()
	c.waitHealthy(90 * time.Second)
	w.waitWrites(t, healed, 20, 30*time.Second)
	hold(t, warmup)
	stopAll()

	verdict, lost := w.finish(t)
	w.report(t, fault, mon, verdict, lost)
}

func TestLeaderKilledLosesNoAcknowledgedWrite(t *testing.T) {
	runFault(t, "kill -9 leader", func(c *cluster, leader *node) func() {
		mustDocker(t, "kill", "--signal", "KILL", leader.container)
		return func() { mustDocker(t, "start", leader.container) }
	})
}

func TestPausedLeaderStaysLinearizable(t *testing.T) {
	// docker pause freezes every process of the container (cgroup
	// freezer), like SIGSTOP: the leader wakes up with all its deadlines
	// in the past (etcd #15247) and must not act on stale leadership.
	runFault(t, "pause leader", func(c *cluster, leader *node) func() {
		mustDocker(t, "pause", leader.container)
		return func() { mustDocker(t, "unpause", leader.container) }
	})
}

func TestPartitionedLeaderStaysLinearizable(t *testing.T) {
	runFault(t, "partition leader", func(c *cluster, leader *node) func() {
		mustDocker(t, "network", "disconnect", c.clusterNet, leader.container)
		return func() {
			mustDocker(t, "network", "connect", "--ip", leader.clusterIP, c.clusterNet, leader.container)
		}
	})
}

func TestWholeClusterCrashLosesNoAcknowledgedWrite(t *testing.T) {
	// Every server is killed at the same moment (a power loss) and
	// started again on its data: only fsynced state survives.
	runFault(t, "kill -9 all, restart", func(c *cluster, _ *node) func() {
		args := []string{"kill", "--signal", "KILL"}
		for _, n := range c.live() {
			args = append(args, n.container)
		}
		mustDocker(t, args...)
		return func() {
			args := []string{"start"}
			for _, n := range c.live() {
				args = append(args, n.container)
			}
			mustDocker(t, args...)
		}
	})
}

// TestFollowerWithFullDiskLeavesClusterAvailable fills a follower's disk.
// The follower's data dir is an 16 MB tmpfs (the image has no shell to write
// a filler file, so the disk is filled the way it fills in production: the
// Raft log grows, here with registrations carrying about 20 KB of meta
// each). The follower joins an already formed 2-server cluster, so it is a
// follower when its disk fills. Once it stops keeping up, the remaining two
// must carry on; the operator's remedy is then the one in
// docs/operations.md: remove the broken server from the Raft configuration
// and start a replacement with an empty data dir, which catches up.
func TestFollowerWithFullDiskLeavesClusterAvailable(t *testing.T) {
	c := newCluster(t)
	n1 := c.start(nodeSpec{name: "n1", octet: 11, bootstrapExpect: 2, join: []string{c.clusterPfx + "12:8301"}})
	c.start(nodeSpec{name: "n2", octet: 12, bootstrapExpect: 2, join: []string{n1.gossipAddr()}})
	c.waitHealthy(60 * time.Second)
	small := c.start(nodeSpec{name: "n3", octet: 13, join: []string{n1.gossipAddr()}, tmpfsSize: "16m"})
	leader := c.waitHealthy(60 * time.Second)

	w := startWorkload(c, clients)
	mon := startLeaderMonitor(c)
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			w.stop()
			mon.stop()
		}
	}
	t.Cleanup(stopAll)
	w.waitWrites(t, w.start, 20, 30*time.Second)

	t.Logf("full disk: filling %s's 16 MB data dir through leader %s", small.name, leader.name)
	filled := fillUntilStuck(t, c, small)
	t.Logf("full disk: %s stopped keeping up after %d large registrations", small.name, filled)
	hold(t, faultHold)
	healed := time.Now()
	w.waitWrites(t, healed, 20, 30*time.Second) // the majority carries on

	// Replace the broken server, as an operator would.
	leader = c.waitForLeader(30 * time.Second)
	id := raftIDOf(t, c, leader, small)
	r, err := c.do(t.Context(), 10*time.Second, http.MethodDelete, leader.url("/v1/cluster/raft/peers/"+id), nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("remove peer %s: %v %d %s", id, err, r.status, r.apiError())
	}
	mustDocker(t, "rm", "-f", "-v", small.container)
	c.mu.Lock()
	small.removed = true
	c.mu.Unlock()
	c.start(nodeSpec{name: "n4", octet: 14, join: []string{n1.gossipAddr()}})
	c.waitHealthy(90 * time.Second)
	w.waitWrites(t, time.Now(), 20, 30*time.Second)
	stopAll()

	verdict, lost := w.finish(t)
	w.report(t, "full follower disk", mon, verdict, lost)
}

// fillUntilStuck registers large instances through the leader until the
// small follower falls behind the leader's commit index for good (or stops
// answering). It returns how many it registered.
func fillUntilStuck(t *testing.T, c *cluster, small *node) int {
	t.Helper()
	meta := map[string]string{}
	for i := range 40 {
		meta["filler-"+strconv.Itoa(i)] = strings.Repeat("x", 500)
	}
	const maxFill = 4000
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	count := make(chan int, 1)
	go func() {
		n := 0
		// Bounded: maxFill registrations, or 3 attempts each.
		for attempt := 0; n < maxFill && attempt < 3*maxFill && ctx.Err() == nil; attempt++ {
			leader, err := c.leaderOf(ctx, c.live(), 2)
			if err != nil || leader == small {
				// The small server may lead for a moment: its disk
				// is full and it steps down. Fill through whoever
				// leads next.
				continue
			}
			r, err := c.do(ctx, 5*time.Second, http.MethodPut,
				leader.url(fmt.Sprintf("/v1/services/filler/instances/fill-%d", n)),
				api.RegisterRequest{Address: "10.254.0.1", Port: 1, Meta: meta})
			if err == nil && r.status == http.StatusOK {
				n++
			} else if err == nil && r.status >= 400 && r.status < 500 {
				t.Errorf("filler registration refused: %d %s", r.status, r.apiError())
				break
			}
		}
		count <- n
	}()
	behind := 0
	retry.Eventually(t, 3*time.Minute, func() error {
		select {
		case n := <-count:
			t.Fatalf("the filler stopped after %d registrations and %s still keeps up", n, small.name)
		default:
		}
		leader, err := c.leaderOf(t.Context(), c.live(), 2)
		if err != nil {
			return err
		}
		li, err := c.raftInfo(t.Context(), leader)
		if err != nil {
			return err
		}
		si, err := c.raftInfo(t.Context(), small)
		if err == nil && si.AppliedIndex+50 > li.CommitIndex {
			behind = 0
			return fmt.Errorf("%s applied %d, leader committed %d: still keeping up", small.name, si.AppliedIndex, li.CommitIndex)
		}
		behind++
		if behind < 20 { // two seconds behind (or silent) in a row
			return fmt.Errorf("%s behind or silent for %d polls (%v)", small.name, behind, err)
		}
		return nil
	})
	cancel()
	return <-count
}

// raftIDOf finds a server's Raft id in the leader's configuration.
func raftIDOf(t *testing.T, c *cluster, leader, n *node) string {
	t.Helper()
	info, err := c.raftInfo(t.Context(), leader)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Servers {
		if s.Address == n.raftAddr() {
			return s.ID
		}
	}
	t.Fatalf("%s (%s) is not in the raft configuration: %+v", n.name, n.raftAddr(), info.Servers)
	return ""
}
