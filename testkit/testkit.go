// Package testkit is the scaffolding of Roster's own tests: whole servers
// started in-process (a dev server, a 3-server Raft cluster on loopback),
// a raw HTTP request read in full, and a log buffer safe to read while a
// server writes to it.
//
// It is not a public API (users test against client/rostertest). It is not
// under internal/ only because the compat and uitest modules, which
// replace github.com/rosterhq/roster with this tree, import it too. It
// imports node, so the packages node is built from (raftstore, httpapi,
// dnsapi, consulapi, registry, lease) cannot use it in their own
// package's tests; their store-level helpers stay beside them.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
)

// Loopback is the configuration of a server called name with every address
// (HTTP, DNS, Raft, gossip) on a free port of 127.0.0.1.
func Loopback(name string) node.Config {
	var c node.Config
	c.Store.NodeName = name
	c.HTTPAddr, c.DNSAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.Store.RaftAddr, c.Store.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	return c
}

// DevConfig is Loopback("dev") as a single in-memory server.
func DevConfig() node.Config {
	c := Loopback("dev")
	c.Store.Dev = true
	return c
}

// StartDev starts a dev server (DevConfig changed by mod, in order), closes
// it at the end of the test, and waits until it is ready.
func StartDev(t testing.TB, mod ...func(*node.Config)) *node.Node {
	t.Helper()
	cfg := DevConfig()
	for _, m := range mod {
		m(&cfg)
	}
	n := Start(t, cfg)
	WaitReady(t, n, 10*time.Second)
	return n
}

// Start starts a server with cfg and closes it at the end of the test; it
// does not wait for it to be ready.
func Start(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Close(n) })
	return n
}

// StartCluster starts size servers named s0, s1, ... with their data in
// temporary directories that form one Raft cluster through
// --bootstrap-expect size, each joining the first; mod changes the
// configuration of server i before it starts. It waits until every server
// is ready.
func StartCluster(t testing.TB, size int, mod ...func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := range size {
		cfg := Loopback(fmt.Sprintf("s%d", i))
		cfg.Store.DataDir, cfg.Store.BootstrapExpect = t.TempDir(), size
		if i > 0 {
			cfg.Store.Join = []string{nodes[0].GossipAddr()}
		}
		for _, m := range mod {
			m(i, &cfg)
		}
		nodes = append(nodes, Start(t, cfg))
	}
	for _, n := range nodes {
		WaitReady(t, n, 30*time.Second)
	}
	return nodes
}

// WaitReady waits up to d until n's store is ready (what /readyz answers).
func WaitReady(t testing.TB, n *node.Node, d time.Duration) {
	t.Helper()
	retry.Eventually(t, d, func() error { return n.Store().Ready() })
}

// Leader waits up to 10 s until one of nodes leads and returns it.
func Leader(t testing.TB, nodes []*node.Node) *node.Node {
	t.Helper()
	var l *node.Node
	retry.Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if n.Store().IsLeader() {
				l = n
				return nil
			}
		}
		return fmt.Errorf("no leader among %d servers", len(nodes))
	})
	return l
}

// Close stops n the way SIGTERM does, waiting at most 10 s for requests in
// flight; safe to call more than once.
func Close(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Close(ctx)
}

// Answer is an HTTP answer read in full.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v and fails the test if it cannot.
func (a Answer) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		t.Fatalf("decode %d %s: %v", a.Status, a.Body, err)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Request sends method url with body (none when empty) and hdr as pairs of
// header name and value, and reads the whole answer; an error is one of
// the transport (no answer).
func Request(method, url, body string, hdr ...string) (Answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return Answer{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Do is Request failing the test on a transport error.
func Do(t testing.TB, method, url, body string, hdr ...string) Answer {
	t.Helper()
	a, err := Request(method, url, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

// Must is Do failing the test unless the answer's status is want.
func Must(t testing.TB, want int, method, url, body string, hdr ...string) Answer {
	t.Helper()
	a := Do(t, method, url, body, hdr...)
	if a.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, a.Status, bytes.TrimSpace(a.Body), want)
	}
	return a
}

// LogBuffer collects a server's or a command's output; it is safe to read
// while they write to it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
