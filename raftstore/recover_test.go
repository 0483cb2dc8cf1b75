package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/store"
)

// TestPeersJSONRecoversSurvivorOfQuorumLoss follows docs/operations.md,
// "Recovering from losing quorum" (peers.json): two of three servers are
// lost for good, the survivor cannot elect a leader; it is stopped, given a
// peers.json naming only itself, restarted, and leads with all its data.
func TestPeersJSONRecoversSurvivorOfQuorumLoss(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		// A snapshot plus a log tail, so recovery replays both.
		cfg.SnapshotThreshold = 32
		cfg.TrailingLogs = 8
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	ctx := ctxT(t)
	var last uint64
	for n := range 100 {
		idx, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("web-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	survivor := c.followers()[0]
	i := c.index(survivor)
	if err := survivor.WaitApplied(ctx, last); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 10*time.Second, func() error {
		metas, err := survivor.snaps.List()
		if err != nil || len(metas) == 0 {
			return fmt.Errorf("survivor has no snapshot yet (%v)", err)
		}
		return nil
	})
	for _, s := range c.running() {
		if s != survivor {
			s.crash() // gone for good
		}
	}
	retry.Eventually(t, 10*time.Second, func() error {
		if l := survivor.Leader(); l.Known {
			return fmt.Errorf("survivor still sees leader %s", l.ID)
		}
		return nil
	})
	if _, _, err := survivor.Register(ctx, testInstance("web", "no-quorum")); !errors.Is(err, store.ErrNoLeader) && !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("register without quorum: %v, want no leader", err)
	}
	id := survivor.ID()
	if err := survivor.Close(); err != nil {
		t.Fatal(err)
	}

	// The operator's step: peers.json in the data dir, naming the survivor.
	dir := c.cfgs[i].DataDir
	peers, err := json.Marshal([]map[string]any{{"id": id, "address": c.cfgs[i].RaftAddr, "non_voter": false}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "peers.json"), peers, 0o640); err != nil {
		t.Fatal(err)
	}

	s := c.restart(i)
	leader := c.waitForLeader()
	if leader != s {
		t.Fatalf("leader is %s, want the recovered survivor", leader.ID())
	}
	for n := range 100 {
		if _, ok := s.Catalog().Instance(fmt.Sprintf("web-%d", n)); !ok {
			t.Fatalf("recovered server misses web-%d", n)
		}
	}
	if servers := s.Raft().Servers; len(servers) != 1 || servers[0].ID != id {
		t.Fatalf("configuration after recovery = %+v, want only %s", servers, id)
	}
	if _, err := os.Stat(filepath.Join(dir, "peers.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("peers.json still there after recovery (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "peers.json.applied")); err != nil {
		t.Fatalf("peers.json.applied: %v", err)
	}
	idx, err := c.registerOnLeader(ctx, testInstance("web", "after-recovery"))
	if err != nil {
		t.Fatalf("register after recovery: %v", err)
	}
	if idx <= last {
		t.Fatalf("index after recovery %d, want above %d", idx, last)
	}

	// A later restart does not recover again and keeps everything.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = c.restart(i)
	c.waitForLeader()
	if _, ok := s.Catalog().Instance("after-recovery"); !ok {
		t.Fatal("second restart lost the registration made after recovery")
	}
}

func TestPeersJSONNotListingThisServerIsRefused(t *testing.T) {
	cfg := testConfig(t, "s1")
	s := openStore(t, cfg)
	retry.Eventually(t, 10*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	if _, _, err := s.Register(ctxT(t), testInstance("web", "a")); err != nil {
		t.Fatal(err)
	}
	cfg.RaftAddr, cfg.GossipAddr = s.RaftAddr(), s.GossipAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	peers := `[{"id": "6f2b4c1e-0000-4000-8000-000000000000", "address": "127.0.0.1:1", "non_voter": false}]`
	path := filepath.Join(cfg.DataDir, "peers.json")
	if err := os.WriteFile(path, []byte(peers), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := Open(cfg)
	if err == nil || !strings.Contains(err.Error(), "does not list this server") {
		t.Fatalf("open with a peers.json without this server: %v, want a refusal", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("refused peers.json must stay for the operator to fix: %v", err)
	}
}
