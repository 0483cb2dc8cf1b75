package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/raftstore"
)

// startDevNode serves a handler over a real single-server dev store
// (raftstore in memory, Raft and gossip on 127.0.0.1:0) once it leads with
// its lease table armed; cleanup closes the handler, the server, then the
// store. The answers are the real store's: its backup format, restore
// refusals, leader, members and lease counts.
func startDevNode(t *testing.T, mod func(*Config)) (*testNode, *raftstore.Store) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	st, err := raftstore.Open(raftstore.Config{
		NodeName:   "dev1",
		Dev:        true,
		RaftAddr:   "127.0.0.1:0",
		GossipAddr: "127.0.0.1:0",
		HTTPAddr:   ln.Addr().String(),
		DNSAddr:    "127.0.0.1:8600",
		Logger:     slog.New(slog.DiscardHandler),
		Version:    "test",
	})
	if err != nil {
		ln.Close()
		t.Fatalf("open dev store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	retry.Eventually(t, 10*time.Second, func() error {
		if ls := st.Leases(); !ls.Leader || !ls.Armed {
			return fmt.Errorf("dev store not yet an armed leader: %+v", ls)
		}
		return nil
	})
	cfg := Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	n := &testNode{t: t, dev: st, h: h, srv: srv, client: &http.Client{Transport: tr}}
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		tr.CloseIdleConnections()
	})
	return n, st
}

// startDev is startDevNode for tests that need only the HTTP side.
func startDev(t *testing.T, mod func(*Config)) *testNode {
	t.Helper()
	n, _ := startDevNode(t, mod)
	return n
}
