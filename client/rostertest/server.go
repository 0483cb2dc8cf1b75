// Package rostertest runs a real Roster server in-process for tests of code
// built on Roster: a single-node dev server (in-memory Raft, the same HTTP
// API, validation, leases and tombstones as production) on 127.0.0.1,
// behind switches that inject the faults a real server cannot be asked for
// on demand: unavailable (no leader), fail the next N requests, delay,
// drop connections, stop and start listening.
//
//	srv := rostertest.Start(t)
//	c, _ := client.New(client.Config{Addrs: []string{srv.Addr()}})
package rostertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/raftstore"
)

// Server is a real dev server with fault switches in front of its HTTP API.
type Server struct {
	node *node.Node
	addr string

	srvMu sync.Mutex
	srv   *http.Server
	ln    net.Listener

	unavailable atomic.Bool
	failNext    atomic.Int64
	drop        atomic.Bool
	delay       atomic.Int64 // nanoseconds

	routes   *http.ServeMux // only to name the route a request matched
	requests sync.Map       // "METHOD /pattern" -> *atomic.Int64
}

// routePatterns are the native API's routes, for Requests.
var routePatterns = []string{
	"PUT /v1/services/{service}/instances/{id}",
	"DELETE /v1/services/{service}/instances/{id}",
	"GET /v1/services/{service}/instances/{id}",
	"PUT /v1/services/{service}/instances/{id}/heartbeat",
	"PUT /v1/heartbeats",
	"GET /v1/services/{service}/instances",
	"GET /v1/services",
	"GET /v1/cluster/leader",
	"GET /v1/cluster/members",
	"GET /v1/cluster/raft",
	"GET /v1/cluster/health",
	"GET /v1/cluster/leases",
	"PUT /v1/cluster/leave",
	"DELETE /v1/cluster/raft/peers/{id}",
	"GET /v1/snapshot",
	"PUT /v1/snapshot",
	"GET /livez",
	"GET /readyz",
	"GET /metrics",
}

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("rostertest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server and panics if it cannot (no free port); Close
// it when done. Prefer Start in tests.
func NewServer() *Server {
	s, err := New()
	if err != nil {
		panic(fmt.Sprintf("rostertest: %v", err))
	}
	return s
}

// New starts a server: a dev node on free loopback ports, ready (leader
// elected, leases armed) when New returns.
func New() (*Server, error) {
	n, err := node.Start(node.Config{
		Store:    raftstore.Config{NodeName: "rostertest", Dev: true, RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0"},
		HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
	})
	if err != nil {
		return nil, err
	}
	s := &Server{node: n, routes: http.NewServeMux()}
	for _, p := range routePatterns {
		s.routes.Handle(p, http.NotFoundHandler())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close(context.Background())
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	deadline := time.Now().Add(10 * time.Second)
	for n.Store().Ready() != nil || !n.Store().IsLeader() {
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("dev server not ready after 10s: %v", n.Store().Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.srvMu.Lock()
	s.srv, s.ln = srv, ln
	s.srvMu.Unlock()
	go srv.Serve(ln)
}

// serveHTTP counts the request, applies the switches, then hands it to the
// real handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.routes.Handler(r); pattern != "" {
		v, _ := s.requests.LoadOrStore(pattern, &atomic.Int64{})
		v.(*atomic.Int64).Add(1)
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if s.drop.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	if r.URL.Path != "/readyz" && r.URL.Path != "/livez" && (s.unavailable.Load() || s.takeFailure()) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":"no leader (rostertest: injected)","code":%q}`+"\n", api.CodeNoLeader)
		return
	}
	s.node.Handler().ServeHTTP(w, r)
}

func (s *Server) takeFailure() bool {
	for {
		n := s.failNext.Load()
		if n <= 0 {
			return false
		}
		if s.failNext.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Addr is the server's "host:port"; it stays the same across Stop and Start.
func (s *Server) Addr() string { return s.addr }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Node is the dev server behind the switches (its own HTTP address, DNS
// address, store).
func (s *Server) Node() *node.Node { return s.node }

// Stop closes the listener and every connection, as a crashed server
// does; the catalog is kept. Calls fail with connection refused until Start.
func (s *Server) Stop() {
	s.srvMu.Lock()
	srv := s.srv
	s.srv = nil
	s.srvMu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (s *Server) Start() error {
	s.srvMu.Lock()
	running := s.srv != nil
	s.srvMu.Unlock()
	if running {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("rostertest: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// Close stops the server.
func (s *Server) Close() {
	s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.node.Close(ctx)
}

// SetUnavailable makes every API call answer 503 no_leader with
// Retry-After: 1 (an election in progress) until called with false.
func (s *Server) SetUnavailable(v bool) { s.unavailable.Store(v) }

// FailNext makes the next n API calls answer 503 no_leader with
// Retry-After: 1.
func (s *Server) FailNext(n int) { s.failNext.Store(int64(n)) }

// SetDelay delays every request by d before it is handled (0: none).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// SetDrop makes the server close each connection on its next request
// without answering, as a broken network path does, until called with false.
func (s *Server) SetDrop(v bool) { s.drop.Store(v) }

// Requests returns how many requests matched the route pattern, e.g.
// "PUT /v1/heartbeats" (see the native API's routes).
func (s *Server) Requests(pattern string) int64 {
	if v, ok := s.requests.Load(pattern); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Index returns the current catalog index.
func (s *Server) Index() uint64 { return s.node.Store().Catalog().Index() }

// Get returns an instance by id.
func (s *Server) Get(id string) (api.Instance, bool) {
	inst, ok := s.node.Store().Catalog().Instance(id)
	if !ok {
		return api.Instance{}, false
	}
	return inst.ToAPI(), true
}

// Forget removes an instance without a tombstone, as an expiry followed by
// deregister_after does: its next heartbeat answers 404.
func (s *Server) Forget(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.node.Store().Reap(ctx, id); err != nil {
		panic(fmt.Sprintf("rostertest: forget %s: %v", id, err))
	}
}

// Deregister removes an instance as an operator does, tombstoning its id:
// its next heartbeat answers 410.
func (s *Server) Deregister(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inst, ok := s.node.Store().Catalog().Instance(id)
	if !ok {
		return
	}
	if _, err := s.node.Store().Deregister(ctx, inst.Service, id); err != nil && !errors.Is(err, context.Canceled) {
		panic(fmt.Sprintf("rostertest: deregister %s: %v", id, err))
	}
}

// String names the server in test output.
func (s *Server) String() string { return fmt.Sprintf("rostertest.Server(%s)", s.Addr()) }
