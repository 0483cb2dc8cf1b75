package raftstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/rosterhq/roster/internal/retry"
)

// aliveIn reports whether every running server sees the server with id
// alive in gossip.
func (c *cluster) aliveIn(id string) error {
	for _, s := range c.running() {
		m, ok := s.gossip.byID(id)
		if !ok || m.State != stateAlive {
			return fmt.Errorf("%s does not see %s alive (known %v, state %q)", s.cfg.NodeName, id, ok, m.State)
		}
	}
	return nil
}

// voters lists the voter ids in the leader's configuration.
func voters(s *Store) map[string]bool {
	out := map[string]bool{}
	for _, srv := range s.Raft().Servers {
		if srv.Suffrage == "voter" {
			out[srv.ID] = true
		}
	}
	return out
}

// TestRestartedServerRejoinsWithoutJoinAddresses: every server joined
// through s1 (the README's layout); s1 is killed and restarted with --join
// pointing at itself only. It rejoins from what it knew (servers.json and
// serf's snapshot) at once, is alive in every member table, and its reads
// and forwarding work: Ready, and the leader's HTTP address known.
func TestRestartedServerRejoinsWithoutJoinAddresses(t *testing.T) {
	c := startCluster(t, 3)
	s1 := c.servers[0]
	id := s1.ID()
	s1.crash()
	c.waitForLeader()
	cfg := c.cfgs[0]
	cfg.Join = []string{cfg.GossipAddr} // itself: what the README's first server passes
	start := time.Now()
	s1 = openStore(t, cfg)
	c.servers[0] = s1
	retry.Eventually(t, 5*time.Second, func() error {
		if err := c.aliveIn(id); err != nil {
			return err
		}
		if err := s1.Ready(); err != nil {
			return err
		}
		if l := s1.Leader(); l.HTTPAddr == "" {
			return errors.New("restarted server does not know the leader's HTTP address")
		}
		return nil
	})
	t.Logf("restarted server alive everywhere and ready %v after its start", time.Since(start).Round(time.Millisecond))
	if _, err := c.registerOnLeader(ctxT(t), testInstance("web", "after-restart")); err != nil {
		t.Fatal(err)
	}
}

// TestServerRemovedAsFailedComesBackAsVoter: a follower down past the
// dead-server grace is removed (quorum allowing); started again with its
// data, it is added back and promoted.
func TestServerRemovedAsFailedComesBackAsVoter(t *testing.T) {
	c := startCluster(t, 3)
	f := c.followers()[0]
	i, id := c.index(f), f.ID()
	f.crash()
	leader := c.waitForLeader()
	retry.Eventually(t, 10*time.Second, func() error {
		if voters(leader)[id] {
			return errors.New("failed server still a voter")
		}
		return nil
	})
	back := c.restart(i)
	if back.ID() != id {
		t.Fatalf("restarted with id %s, want %s", back.ID(), id)
	}
	retry.Eventually(t, 10*time.Second, func() error {
		l := c.waitForLeader()
		if v := voters(l); !v[id] || len(v) != 3 {
			return fmt.Errorf("voters %v: want the 3, %s among them", v, id)
		}
		return back.Ready()
	})
}

// TestWipedServerRejoinsAsNewServer: a server whose data dir is wiped and
// which starts again under the same name and addresses gets a new id; it
// never answers Raft traffic meant for its old id (the connections are
// refused), the old id is replaced as soon as gossip shows the new one, and
// the cluster is back to three voters.
func TestWipedServerRejoinsAsNewServer(t *testing.T) {
	t.Run("same addresses", func(t *testing.T) { testWipedServerRejoins(t, true) })
	t.Run("new addresses", func(t *testing.T) { testWipedServerRejoins(t, false) })
}

func testWipedServerRejoins(t *testing.T, sameAddrs bool) {
	// A long grace: the old id must go because it was replaced, not
	// because it failed long enough.
	c := startCluster(t, 3, func(cfg *Config) { cfg.DeadServerGrace = time.Hour })
	f := c.followers()[0]
	i, oldID := c.index(f), f.ID()
	f.crash()
	cfg := c.cfgs[i]
	cfg.DataDir = t.TempDir() // wiped
	cfg.Join = []string{c.cfgs[(i+1)%3].GossipAddr}
	if !sameAddrs {
		cfg.RaftAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	wiped := openStore(t, cfg)
	c.servers[i] = wiped
	if wiped.ID() == oldID {
		t.Fatal("a wiped server kept its old id")
	}
	retry.Eventually(t, 15*time.Second, func() error {
		l := c.waitForLeader()
		v := voters(l)
		if v[oldID] || !v[wiped.ID()] || len(v) != 3 {
			return fmt.Errorf("voters %v: want 3 with the new id %s and without the old %s", v, wiped.ID(), oldID)
		}
		for _, srv := range l.Raft().Servers {
			if srv.ID == oldID {
				return fmt.Errorf("old id %s still in the configuration", oldID)
			}
		}
		return wiped.Ready()
	})
	if _, err := c.registerOnLeader(ctxT(t), testInstance("web", "after-wipe")); err != nil {
		t.Fatal(err)
	}
	if err := wiped.WaitApplied(ctxT(t), c.waitForLeader().applied.load()); err != nil {
		t.Fatal(err)
	}
	if _, ok := wiped.Catalog().Instance("after-wipe"); !ok {
		t.Fatal("the rejoined server does not hold the new write")
	}
}

// TestHealthViewNamesTheFailedServer: the leader's health view has every
// server healthy, then names the crashed one, why, and that the cluster can
// lose no more.
func TestHealthViewNamesTheFailedServer(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.DeadServerGrace = time.Hour })
	leader := c.waitForLeader()
	retry.Eventually(t, 10*time.Second, func() error {
		h, err := leader.Health(ctxT(t))
		if err != nil {
			return err
		}
		if !h.Healthy || h.FailureTolerance != 1 || !h.CanLoseOne || len(h.Servers) != 3 {
			return fmt.Errorf("health %+v: want 3 healthy servers, tolerance 1", h)
		}
		return nil
	})
	if _, err := c.followers()[0].Health(ctxT(t)); err == nil {
		t.Fatal("a follower answered the health view itself")
	}
	f := c.followers()[0]
	id := f.ID()
	f.crash()
	leader = c.waitForLeader()
	retry.Eventually(t, 10*time.Second, func() error {
		h, err := leader.Health(ctxT(t))
		if err != nil {
			return err
		}
		if h.Healthy || h.FailureTolerance != 0 || h.CanLoseOne {
			return fmt.Errorf("health %+v: want unhealthy, tolerance 0", h)
		}
		for _, s := range h.Servers {
			if s.ID == id {
				if s.Healthy || s.Reason == "" {
					return fmt.Errorf("crashed server %+v: want unhealthy with a reason", s)
				}
				return nil
			}
		}
		return fmt.Errorf("crashed server missing from %+v", h.Servers)
	})
}

// TestServersFollowAServersNewHTTPAddress: a server restarted with another
// HTTP address (its Raft id and data dir unchanged) is found at the new
// address by every other server, so writes forwarded to it as leader reach
// it: the address each server keeps per id is dropped on member events.
func TestServersFollowAServersNewHTTPAddress(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader()
	moved := c.followers()[0]
	i := c.index(moved)
	id := moved.ID()
	for _, s := range c.running() {
		if s != moved {
			if got := s.httpAddrOf(id); got != c.cfgs[i].HTTPAddr {
				t.Fatalf("%s finds %s at %q before the restart, want %q", s.cfg.NodeName, id, got, c.cfgs[i].HTTPAddr)
			}
		}
	}
	moved.crash()
	c.cfgs[i].HTTPAddr = "127.0.0.1:19999"
	c.restart(i)
	retry.Eventually(t, 10*time.Second, func() error {
		for _, s := range c.running() {
			if got := s.httpAddrOf(id); got != "127.0.0.1:19999" {
				return fmt.Errorf("%s finds %s at %q", s.cfg.NodeName, id, got)
			}
		}
		return nil
	})
	if got := leader.httpAddrOf(leader.ID()); got != leader.cfg.HTTPAddr {
		t.Fatalf("the leader's own address is %q, want %q", got, leader.cfg.HTTPAddr)
	}
}

// TestGossipWithAServerThatCompresses: builds before this one compressed
// their gossip (memberlist's default) and this one does not. A cluster of
// both, as during a rolling upgrade, forms, sees every member alive, and
// carries tag updates both ways: each follower's published applied index
// reaches every other server.
func TestGossipWithAServerThatCompresses(t *testing.T) {
	n := 0
	c := startCluster(t, 3, func(cfg *Config) {
		if n++; n == 1 {
			cfg.gossipTuning = func(mc *memberlist.Config) {
				fastGossip(mc)
				mc.EnableCompression = true
			}
		}
	})
	for _, s := range c.servers {
		retry.Eventually(t, 10*time.Second, func() error { return c.aliveIn(s.ID()) })
	}
	index, err := c.registerOnLeader(ctxT(t), testInstance("web", "w1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.followers() {
		retry.Eventually(t, 10*time.Second, func() error {
			for _, s := range c.running() {
				if s == f {
					continue
				}
				if m, ok := s.gossip.byID(f.ID()); !ok || m.Meta.Applied < index {
					return fmt.Errorf("%s sees %s's applied index %d, want %d", s.cfg.NodeName, f.cfg.NodeName, m.Meta.Applied, index)
				}
			}
			return nil
		})
	}
}
