package raftstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/store"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"go.uber.org/goleak"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

var _ httpapi.Store = (*Store)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLog collects a test's server logs and prints them only if it fails.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func newTestLogger(t testing.TB) *slog.Logger {
	tl := &testLog{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("RAFTSTORE_TEST_LOG") != "" {
			tl.mu.Lock()
			t.Logf("server logs:\n%s", tl.buf.String())
			tl.mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fastGossip shortens memberlist's failure detection for loopback tests.
func fastGossip(c *memberlist.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.PushPullInterval = 2 * time.Second
	c.TCPTimeout = time.Second
	c.DeadNodeReclaimTime = time.Millisecond
}

// fastSerf reconnects failed members quickly in loopback tests.
func fastSerf(c *serf.Config) {
	c.ReconnectInterval = 500 * time.Millisecond
	c.ReapInterval = time.Second
	c.BroadcastTimeout = time.Second
	c.LeavePropagateDelay = 100 * time.Millisecond
}

func testConfig(t testing.TB, name string) Config {
	return Config{
		NodeName:            name,
		DataDir:             t.TempDir(),
		RaftAddr:            "127.0.0.1:0",
		GossipAddr:          "127.0.0.1:0",
		HTTPAddr:            "127.0.0.1:1" + name[len(name)-1:],
		DNSAddr:             "127.0.0.1:2" + name[len(name)-1:],
		MinDeregister:       time.Second,
		ReconcileInterval:   100 * time.Millisecond,
		DeadServerGrace:     time.Second,
		Logger:              newTestLogger(t),
		Version:             "test",
		serverStabilization: 300 * time.Millisecond,
		gossipTuning:        fastGossip,
		serfTuning:          fastSerf,
	}
}

func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { s.crash() })
	return s
}

// crash stops a server abruptly: no leadership transfer, no gossip leave,
// as if the process were killed.
func (s *Store) crash() {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.cancel()
		close(s.stop)
		_ = s.raft.Shutdown().Error()
		s.applied.halt(errClosed)
		s.wg.Wait()
		_ = s.serf.Shutdown()
		_ = s.trans.Close()
		if s.bolt != nil {
			_ = s.bolt.Close()
		}
	})
}

// cluster is a set of in-process servers on loopback.
type cluster struct {
	t       testing.TB
	cfgs    []Config
	servers []*Store
}

// startCluster starts n servers that find each other through gossip and
// bootstrap together (--bootstrap-expect n, --join the first).
func startCluster(t testing.TB, n int, tune ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("s%d", i+1))
		cfg.BootstrapExpect = n
		for _, f := range tune {
			f(&cfg)
		}
		if i > 0 {
			cfg.Join = []string{c.servers[0].GossipAddr()}
		}
		s := openStore(t, cfg)
		// Keep the bound ports for restarts.
		cfg.RaftAddr = s.RaftAddr()
		cfg.GossipAddr = s.GossipAddr()
		c.cfgs = append(c.cfgs, cfg)
		c.servers = append(c.servers, s)
	}
	c.waitForLeader()
	return c
}

// waitForLeader waits until every running server agrees on one leader
// that has re-armed its leases, and returns it.
func (c *cluster) waitForLeader() *Store {
	c.t.Helper()
	var leader *Store
	retry.Eventually(c.t, 10*time.Second, func() error {
		leader = nil
		var id string
		for _, s := range c.running() {
			l := s.Leader()
			if !l.Known {
				return fmt.Errorf("%s knows no leader", s.cfg.NodeName)
			}
			if id != "" && l.ID != id {
				return fmt.Errorf("servers disagree on the leader: %s vs %s", id, l.ID)
			}
			id = l.ID
			if s.ID() == id {
				leader = s
			}
		}
		if leader == nil {
			return errors.New("the leader is not among the running servers")
		}
		if !leader.armed.Load() {
			return errors.New("leader has not re-armed its leases yet")
		}
		return nil
	})
	return leader
}

func (c *cluster) running() []*Store {
	var out []*Store
	for _, s := range c.servers {
		if s != nil && !s.closing.Load() {
			out = append(out, s)
		}
	}
	return out
}

func (c *cluster) followers() []*Store {
	leader := c.waitForLeader()
	var out []*Store
	for _, s := range c.running() {
		if s != leader {
			out = append(out, s)
		}
	}
	return out
}

func (c *cluster) index(s *Store) int {
	for i, x := range c.servers {
		if x == s {
			return i
		}
	}
	c.t.Fatalf("server not in cluster")
	return -1
}

// restart opens server i again with its data dir and addresses.
func (c *cluster) restart(i int) *Store {
	c.t.Helper()
	cfg := c.cfgs[i]
	var others []string
	for j, s := range c.servers {
		if j != i && s != nil && !s.closing.Load() {
			others = append(others, s.GossipAddr())
		}
	}
	cfg.Join = others
	s := openStore(c.t, cfg)
	c.servers[i] = s
	return s
}

func testInstance(svc, id string) registry.Instance {
	return registry.Instance{Service: svc, ID: id, Address: "10.0.0.1", Port: 8080}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// registerOnLeader registers through whichever server leads, retrying while
// leadership moves, as the HTTP front end's forwarding does.
func (c *cluster) registerOnLeader(ctx context.Context, inst registry.Instance) (uint64, error) {
	for {
		var lastErr error = store.ErrNoLeader
		for _, s := range c.running() {
			if !s.IsLeader() {
				continue
			}
			_, idx, err := s.Register(ctx, inst)
			if err == nil {
				return idx, nil
			}
			lastErr = err
		}
		if !errors.Is(lastErr, store.ErrNoLeader) && !errors.Is(lastErr, store.ErrNotLeader) {
			return 0, lastErr
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func statusOf(s *Store, id string) (api.Status, bool) {
	inst, ok := s.Catalog().Instance(id)
	return inst.Status, ok
}
