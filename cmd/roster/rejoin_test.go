package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
)

// rejoinLimit is design.md's target for a restarted server to be back
// (alive everywhere, taking writes), with room for the race detector.
func rejoinLimit() time.Duration {
	if raceEnabled {
		return 10 * time.Second
	}
	return 5 * time.Second
}

// startREADMECluster starts n servers exactly as the README's quick start
// does: --bootstrap-expect n, and every server (the first one included)
// --join the first server's gossip address.
func startREADMECluster(t *testing.T, n int, extra ...string) []*server {
	t.Helper()
	servers := make([]*server, n)
	for i := range servers {
		servers[i] = newServer(t, fmt.Sprintf("s%d", i+1), extra...)
	}
	for _, s := range servers {
		s.args = append(s.args, "--bootstrap-expect", fmt.Sprint(n), "--join", servers[0].gossip)
		s.start(t)
	}
	for _, s := range servers {
		retry.Eventually(t, 30*time.Second, func() error { return ready(s) })
	}
	return servers
}

// aliveEverywhere checks that every server lists name alive.
func aliveEverywhere(servers []*server, name string) error {
	for _, s := range servers {
		var ml api.MemberList
		if _, _, err := do("GET", s.url("/v1/cluster/members"), nil, &ml); err != nil {
			return err
		}
		found := false
		for _, m := range ml.Members {
			if m.Name == name && m.State == "alive" {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s does not list %s alive: %+v", s.name, name, ml.Members)
		}
	}
	return nil
}

// readinessSampler checks, while a server rejoins, that /readyz is never
// 200 while a write through that server fails.
type readinessSampler struct {
	s        *server
	stop     chan struct{}
	done     sync.WaitGroup
	samples  atomic.Int64
	mu       sync.Mutex
	violated []string
}

func sampleReadiness(s *server) *readinessSampler {
	r := &readinessSampler{s: s, stop: make(chan struct{})}
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		for i := 0; ; i++ {
			select {
			case <-r.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			code, _, _ := do("GET", s.url("/readyz"), nil, nil)
			if code != http.StatusOK {
				continue
			}
			r.samples.Add(1)
			id := fmt.Sprintf("probe-%s-%d", s.name, i)
			if _, err := register(s, "probe", id, api.RegisterRequest{Address: "10.9.9.9", Port: 9}); err != nil {
				r.mu.Lock()
				r.violated = append(r.violated, err.Error())
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *readinessSampler) check(t *testing.T) {
	t.Helper()
	// The server may be back before the first sample: wait for one that
	// found it ready (and so sent a write through it).
	retry.Eventually(t, 5*time.Second, func() error {
		if r.samples.Load() == 0 {
			return fmt.Errorf("%s not ready in any sample yet", r.s.name)
		}
		return nil
	})
	close(r.stop)
	r.done.Wait()
	if len(r.violated) > 0 {
		t.Fatalf("%s was ready while a write through it failed (%d of %d ready samples): %s",
			r.s.name, len(r.violated), r.samples.Load(), strings.Join(r.violated, "; "))
	}
	if r.samples.Load() == 0 {
		t.Fatalf("%s was never ready while sampled", r.s.name)
	}
}

// TestRestartedServersRejoinWithinFiveSeconds: in the README's layout,
// kill -9 each server in turn (the leader included) and start it again
// with the same flags: it is alive in every server's member list and takes
// a write within 5 s, and its /readyz never says 200 while a write through
// it would fail.
func TestRestartedServersRejoinWithinFiveSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	servers := startREADMECluster(t, 3)
	leader := waitForLeader(t, servers)
	order := append([]*server{leader}, without(servers, leader)...)
	for round, s := range order {
		s.kill()
		waitForLeader(t, without(servers, s))
		start := time.Now()
		s.start(t)
		sampler := sampleReadiness(s)
		var tookWrite time.Duration
		retry.EventuallyEvery(t, rejoinLimit(), 50*time.Millisecond, func() error {
			if err := aliveEverywhere(servers, s.name); err != nil {
				return err
			}
			if _, err := register(s, "web", fmt.Sprintf("after-restart-%d", round), api.RegisterRequest{Address: "10.0.0.1", Port: 80}); err != nil {
				return err
			}
			tookWrite = time.Since(start)
			return nil
		})
		t.Logf("round %d: %s back (alive everywhere, took a write) %v after its start", round, s.name, tookWrite.Round(time.Millisecond))
		sampler.check(t)
	}
}

// TestServerDownPastDeadServerGraceComesBackAsVoter: a follower down longer
// than --dead-server-grace is removed from the Raft configuration; started
// again with the same flags it is added back and becomes a voter.
func TestServerDownPastDeadServerGraceComesBackAsVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	servers := startREADMECluster(t, 3, "--dead-server-grace", "2s")
	leader := waitForLeader(t, servers)
	f := without(servers, leader)[0]
	var raftInfo api.RaftInfo
	f.kill()
	// Gossip's failure detection (several seconds with memberlist's LAN
	// settings, longer on a loaded machine), then the 2 s grace.
	retry.Eventually(t, 40*time.Second, func() error {
		if _, _, err := do("GET", leader.url("/v1/cluster/raft"), nil, &raftInfo); err != nil {
			return err
		}
		if len(raftInfo.Servers) != 2 {
			return fmt.Errorf("%d servers in the configuration, want 2 once the failed one is removed", len(raftInfo.Servers))
		}
		return nil
	})
	f.start(t)
	retry.Eventually(t, 30*time.Second, func() error {
		l, err := leaderOf(servers)
		if err != nil {
			return err
		}
		if _, _, err := do("GET", l.url("/v1/cluster/raft"), nil, &raftInfo); err != nil {
			return err
		}
		voters := 0
		for _, srv := range raftInfo.Servers {
			if srv.Suffrage == "voter" {
				voters++
			}
		}
		if voters != 3 {
			return fmt.Errorf("%d voters, want 3: %+v", voters, raftInfo.Servers)
		}
		return ready(f)
	})
}

// TestWipedServerRejoinsUnderItsName: stop a server, delete its data dir
// and start it with the same name and flags: it joins as a new server, the
// old id leaves the configuration (well before the dead-server grace), the
// cluster is back to three voters and takes writes through it.
func TestWipedServerRejoinsUnderItsName(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	servers := startREADMECluster(t, 3)
	waitForLeader(t, servers)
	// The first server: the one everyone joins through, which --joins only
	// itself, so wiped it knows no one and must be found by the others.
	f := servers[0]
	var info api.RaftInfo
	if _, _, err := do("GET", f.url("/v1/cluster/raft"), nil, &info); err != nil {
		t.Fatal(err)
	}
	oldIDs := map[string]bool{}
	for _, srv := range info.Servers {
		oldIDs[srv.ID] = true
	}
	f.kill()
	if err := os.RemoveAll(f.dataDir); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	// The first server, wiped, knows no one (it --joins itself): the others'
	// serf reconnection finds it.
	retry.Eventually(t, 40*time.Second, func() error {
		l, err := leaderOf(servers)
		if err != nil {
			return err
		}
		if _, _, err := do("GET", l.url("/v1/cluster/raft"), nil, &info); err != nil {
			return err
		}
		voters, fresh := 0, 0
		for _, srv := range info.Servers {
			if srv.Suffrage == "voter" {
				voters++
			}
			if !oldIDs[srv.ID] {
				fresh++
			}
		}
		if voters != 3 || len(info.Servers) != 3 || fresh != 1 {
			return fmt.Errorf("configuration %+v: want 3 voters, one of them the wiped server's new id", info.Servers)
		}
		if _, err := register(f, "web", "after-wipe", api.RegisterRequest{Address: "10.0.0.1", Port: 80}); err != nil {
			return err
		}
		return nil
	})
}

// TestJoinHostnameThatResolvesLater: --join names a host that does not
// resolve yet (a compose or Kubernetes name before its DNS record exists);
// the server keeps retrying, resolving the name again each time, and forms
// the cluster once it resolves.
func TestJoinHostnameThatResolvesLater(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-server cluster")
	}
	const hosts = "/etc/hosts"
	orig, err := os.ReadFile(hosts)
	if err != nil || !writable(hosts) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test adds a name to %s for a while and needs to write it: %v", hosts, err)
		}
		t.Skipf("this test adds a name to %s for a while and cannot write it", hosts)
	}
	name := fmt.Sprintf("roster-join-%d.test", time.Now().UnixNano())
	t.Cleanup(func() { os.WriteFile(hosts, orig, 0o644) })

	s1 := newServer(t, "s1", "--bootstrap-expect", "2")
	s2 := newServer(t, "s2", "--bootstrap-expect", "2")
	_, port, _ := strings.Cut(s1.gossip, ":")
	s2.args = append(s2.args, "--join", name+":"+port)
	s1.start(t)
	s2.start(t)
	retry.Never(t, 2*time.Second, func() error {
		if ready(s2) == nil {
			return errors.New("s2 is ready before the name it joins through resolves")
		}
		return nil
	})
	entry := append(append([]byte{}, orig...), []byte("\n127.0.0.1 "+name+"\n")...)
	if err := os.WriteFile(hosts, entry, 0o644); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 20*time.Second, func() error {
		if err := ready(s1); err != nil {
			return err
		}
		return ready(s2)
	})
	if !strings.Contains(s2.log.String(), "joined the gossip pool") {
		t.Fatalf("s2 never logged joining:\n%s", tail(s2.log.String(), 2048))
	}
}

func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
