package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/raftstore"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// These tests serve the handler over real stores (raftstore in memory or
// on a temporary disk, Raft and gossip on 127.0.0.1:0), not node.Node:
// node imports httpapi. The answers are the real store's: its backup
// format, restore refusals, leader, members and lease counts.

// startDevNode serves a handler over a real single-server dev store once it
// leads with its lease table armed; cleanup closes the handler, the
// server, then the store.
func startDevNode(t *testing.T, mod func(*Config)) (*testNode, *raftstore.Store) {
	t.Helper()
	n := startStoreNode(t, raftstore.Config{NodeName: "dev1", Dev: true}, mod)
	waitArmedLeader(t, n.dev)
	return n, n.dev
}

// startDev is startDevNode for tests that need only the HTTP side.
func startDev(t *testing.T, mod func(*Config)) *testNode {
	t.Helper()
	n, _ := startDevNode(t, mod)
	return n
}

// startStoreNode opens a real store with cfg (its Raft and gossip on free
// ports of 127.0.0.1 and its advertised HTTP address the handler's, unless
// cfg names them) and serves a handler over it; mod may change the handler's
// configuration, and wrap its Store. It does not wait for a leader.
func startStoreNode(t *testing.T, cfg raftstore.Config, mod func(*Config)) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ln.Addr().String()
	}
	cfg.DNSAddr = "127.0.0.1:8600"
	cfg.Logger, cfg.Version = slog.New(slog.DiscardHandler), "test"
	st, err := raftstore.Open(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	n := serveHandler(t, st, ln, mod)
	n.dev = st
	return n
}

// serveHandler serves a handler over st on ln; mod may change the
// handler's configuration. Cleanup closes the handler, then the server.
func serveHandler(t *testing.T, st Store, ln net.Listener, mod func(*Config)) *testNode {
	t.Helper()
	hc := Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&hc)
	}
	h, err := New(hc)
	if err != nil {
		ln.Close()
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	n := &testNode{t: t, h: h, srv: srv, client: &http.Client{Transport: tr}}
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		tr.CloseIdleConnections()
	})
	return n
}

// startClusterNodes serves handlers over a real 3-server Raft cluster
// (servers on temporary disks, bootstrapped together through gossip) once
// every server is ready and the leader's lease table is armed.
func startClusterNodes(t *testing.T, mod func(*Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range 3 {
		cfg := raftstore.Config{NodeName: fmt.Sprintf("s%d", i), DataDir: t.TempDir(), BootstrapExpect: 3}
		if i > 0 {
			cfg.Join = []string{nodes[0].dev.GossipAddr()}
		}
		nodes = append(nodes, startStoreNode(t, cfg, mod))
	}
	retry.Eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if err := n.dev.Ready(); err != nil {
				return err
			}
		}
		return nil
	})
	waitArmedLeader(t, leaderOf(t, nodes).dev)
	return nodes
}

// startLeaderlessNode serves a handler over a real server that waits for
// two more to bootstrap with, so it never knows a leader.
func startLeaderlessNode(t *testing.T, mod func(*Config)) *testNode {
	t.Helper()
	return startStoreNode(t, raftstore.Config{NodeName: "alone", DataDir: t.TempDir(), BootstrapExpect: 3}, mod)
}

// openDevStore opens a real dev store (no HTTP server: benchmarks and
// fuzzers call the handler directly) and waits until it leads, armed.
func openDevStore(tb testing.TB) *raftstore.Store {
	tb.Helper()
	st, err := raftstore.Open(raftstore.Config{NodeName: "dev1", Dev: true, RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:8500", DNSAddr: "127.0.0.1:8600", Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		tb.Fatalf("open dev store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	waitArmedLeader(tb, st)
	return st
}

func waitArmedLeader(t testing.TB, st *raftstore.Store) {
	t.Helper()
	retry.Eventually(t, 20*time.Second, func() error {
		if ls := st.Leases(); !ls.Leader || !ls.Armed {
			return fmt.Errorf("store not yet an armed leader: %+v", ls)
		}
		return nil
	})
}

// leaderOf waits until one of nodes leads and returns it.
func leaderOf(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var l *testNode
	retry.Eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			if n.dev.IsLeader() {
				l = n
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	return l
}

// followerOf is a server of nodes that does not lead.
func followerOf(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	for _, n := range nodes {
		if !n.dev.IsLeader() {
			return n
		}
	}
	t.Fatal("every server leads")
	return nil
}

// faultyStore is the real store with two faults the real one cannot be
// made to show on demand, each a window of a few milliseconds around a
// leadership change:
//   - notArmed: a new leader answers heartbeats with ErrNotArmed until its
//     barrier has applied and every lease is re-armed;
//   - lostLeadership: a leader that loses its term between the handler's
//     IsLeader check and the write answers ErrNotLeader although IsLeader
//     said true.
//
// Everything else is the real store's.
type faultyStore struct {
	Store
	notArmed, lostLeadership atomic.Bool
}

// faulty wraps a handler's store in a faultyStore, returned through fs.
func faulty(fs **faultyStore) func(*Config) {
	return func(c *Config) {
		*fs = &faultyStore{Store: c.Store}
		c.Store = *fs
	}
}

func (s *faultyStore) lost() error {
	if s.lostLeadership.Load() {
		return store.ErrNotLeader
	}
	return nil
}

func (s *faultyStore) Register(ctx context.Context, inst registry.Instance) (registry.Instance, uint64, error) {
	if err := s.lost(); err != nil {
		return registry.Instance{}, 0, err
	}
	return s.Store.Register(ctx, inst)
}

func (s *faultyStore) Heartbeat(ctx context.Context, hbs []api.BatchHeartbeat) ([]error, uint64, error) {
	if err := s.lost(); err != nil {
		return nil, 0, err
	}
	if s.notArmed.Load() {
		return nil, 0, store.ErrNotArmed
	}
	return s.Store.Heartbeat(ctx, hbs)
}

func (s *faultyStore) ConsistentRead(ctx context.Context) error {
	if err := s.lost(); err != nil {
		return err
	}
	return s.Store.ConsistentRead(ctx)
}
