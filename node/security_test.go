package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/internal/certs"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// pki is a CA made in the test and the files of one server and one client
// certificate it signed.
type pki struct {
	dir                  string
	ca                   *certs.CA
	caFile               string
	serverCert, serverKy string
	clientCert, clientKy string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := certs.NewCA("test CA", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, ca: ca, caFile: write(t, dir, "ca.pem", ca.CertPEM)}
	p.serverCert, p.serverKy = p.sign(t, "server", true)
	p.clientCert, p.clientKy = p.sign(t, "client", false)
	return p
}

// sign writes a new certificate and key named name(-key).pem.
func (p *pki) sign(t *testing.T, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	c, k, err := p.ca.Sign(certs.Leaf{Server: server, Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	return write(t, p.dir, name+".pem", c), write(t, p.dir, name+"-key.pem", k)
}

func (p *pki) security(verifyIncoming bool) node.SecurityConfig {
	return node.SecurityConfig{TLSCert: p.serverCert, TLSKey: p.serverKy, TLSCA: p.caFile, TLSVerifyIncoming: verifyIncoming}
}

// clientTLS is what a client of this CA uses, with its certificate when withCert.
func (p *pki) clientTLS(t *testing.T, withCert bool) *tls.Config {
	t.Helper()
	cert, key := "", ""
	if withCert {
		cert, key = p.clientCert, p.clientKy
	}
	c, err := client.TLSFiles(p.caFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startDevTLS(t *testing.T, sec node.SecurityConfig) *node.Node {
	t.Helper()
	cfg := testkit.DevConfig()
	cfg.Security = sec
	return testkit.Start(t, cfg)
}

func tlsClient(t *testing.T, cfg *tls.Config, addrs ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Addrs: addrs, TLS: cfg, Retry: client.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func register(ctx context.Context, c *client.Client, service, id string) error {
	_, err := c.Register(ctx, client.InstanceSpec{Service: service, ID: id, Address: "10.0.0.1", Port: 80})
	return err
}

// TestHTTPSOnlyWithACertificate: with a certificate the API answers over
// HTTPS to a client that trusts the CA, refuses plain HTTP on the same port
// (no API answer), and a client that does not trust the CA gets nothing.
func TestHTTPSOnlyWithACertificate(t *testing.T) {
	p := newPKI(t)
	n := startDevTLS(t, p.security(false))
	ctx := context.Background()
	c := tlsClient(t, p.clientTLS(t, false), n.HTTPAddr())
	retry.Eventually(t, 10*time.Second, func() error { return c.Ready(ctx) })
	if err := register(ctx, c, "web", "web-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Instance(ctx, "web", "web-1"); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get("http://" + n.HTTPAddr() + "/v1/services")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "web") {
			t.Fatalf("plain HTTP to the TLS port answered %d %q", resp.StatusCode, body)
		}
	}

	other := newPKI(t)
	untrusting := tlsClient(t, other.clientTLS(t, false), n.HTTPAddr())
	if _, err := untrusting.Instance(ctx, "web", "web-1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA got %v, want a certificate error", err)
	}

	// TLS 1.1 is refused.
	old := p.clientTLS(t, false)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if conn, err := tls.Dial("tcp", n.HTTPAddr(), old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// TestVerifyIncomingRequiresAClientCertificateOfTheCA: with
// --tls-verify-incoming a client without a certificate, or with one of
// another CA, is refused; one with a certificate of the CA is served.
func TestVerifyIncomingRequiresAClientCertificateOfTheCA(t *testing.T) {
	p := newPKI(t)
	n := startDevTLS(t, p.security(true))
	ctx := context.Background()
	good := tlsClient(t, p.clientTLS(t, true), n.HTTPAddr())
	retry.Eventually(t, 10*time.Second, func() error { return good.Ready(ctx) })
	if err := register(ctx, good, "web", "web-1"); err != nil {
		t.Fatal(err)
	}

	noCert := tlsClient(t, p.clientTLS(t, false), n.HTTPAddr())
	if _, err := noCert.Instance(ctx, "web", "web-1"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	other := newPKI(t)
	foreign := p.clientTLS(t, false)
	pair, err := tls.LoadX509KeyPair(other.clientCert, other.clientKy)
	if err != nil {
		t.Fatal(err)
	}
	foreign.Certificates = []tls.Certificate{pair}
	fc := tlsClient(t, foreign, n.HTTPAddr())
	if _, err := fc.Instance(ctx, "web", "web-1"); err == nil {
		t.Fatal("a client with a certificate of another CA was served")
	}
}

// servedSerial is the serial number of the certificate the server at addr presents.
func servedSerial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func serialOf(t *testing.T, certFile string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// TestCertificateRotationWithoutRestart: replacing the certificate files
// and reloading (what SIGHUP does), or just replacing them (the watcher),
// makes new connections get the new certificate while an open client keeps
// working throughout.
func TestCertificateRotationWithoutRestart(t *testing.T) {
	p := newPKI(t)
	sec := p.security(false)
	sec.TLSReloadInterval = 50 * time.Millisecond
	n := startDevTLS(t, sec)
	ctx := context.Background()
	c := tlsClient(t, p.clientTLS(t, false), n.HTTPAddr())
	retry.Eventually(t, 10*time.Second, func() error { return c.Ready(ctx) })
	if err := register(ctx, c, "web", "web-1"); err != nil {
		t.Fatal(err)
	}
	first := servedSerial(t, n.HTTPAddr(), p.clientTLS(t, false))

	// Rotate by reload: write the new pair under the same names.
	p.sign(t, "server", true)
	if err := n.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	second := servedSerial(t, n.HTTPAddr(), p.clientTLS(t, false))
	if second == first || second != serialOf(t, p.serverCert) {
		t.Fatalf("after reload the server presents serial %s (first %s, file %s)", second, first, serialOf(t, p.serverCert))
	}
	if err := register(ctx, c, "web", "web-2"); err != nil {
		t.Fatalf("the open client failed after a reload: %v", err)
	}

	// Rotate by file change alone: the watcher picks it up.
	p.sign(t, "server", true)
	want := serialOf(t, p.serverCert)
	retry.Eventually(t, 5*time.Second, func() error {
		if got := servedSerial(t, n.HTTPAddr(), p.clientTLS(t, false)); got != want {
			return fmt.Errorf("serves serial %s, want %s", got, want)
		}
		return nil
	})
	if _, err := c.Instance(ctx, "web", "web-2"); err != nil {
		t.Fatalf("the open client failed after a file change: %v", err)
	}

	// A broken file keeps the last good certificate.
	if err := os.WriteFile(p.serverCert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.ReloadTLS(); err == nil {
		t.Fatal("reloading a broken certificate succeeded")
	}
	if got := servedSerial(t, n.HTTPAddr(), p.clientTLS(t, false)); got != want {
		t.Fatalf("after a failed reload the server presents %s, want the previous %s", got, want)
	}
}

func startServer(t *testing.T, name string, expect int, join []string, sec node.SecurityConfig) *node.Node {
	t.Helper()
	cfg := testkit.Loopback(name)
	cfg.Store.DataDir, cfg.Store.BootstrapExpect, cfg.Store.Join = t.TempDir(), expect, join
	cfg.Security = sec
	return testkit.Start(t, cfg)
}

func raftIDs(n *node.Node) map[string]string {
	out := map[string]string{}
	for _, s := range n.Store().Raft().Servers {
		out[s.ID] = s.Suffrage
	}
	return out
}

// TestTLSClusterAdmitsOnlyServersOfItsCA: three servers with certificates
// of one CA form a cluster over mutual TLS, and a follower forwards writes
// to the leader over HTTPS (with verify-incoming, so the follower presents
// its own certificate). A fourth server with a certificate of another CA
// gossips with them but never enters the Raft configuration and never
// receives an entry.
func TestTLSClusterAdmitsOnlyServersOfItsCA(t *testing.T) {
	p := newPKI(t)
	sec := p.security(true)
	var nodes []*node.Node
	for i := range 3 {
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		nodes = append(nodes, startServer(t, fmt.Sprintf("s%d", i), 3, join, sec))
	}
	ctx := context.Background()
	cfg := p.clientTLS(t, true)
	for _, n := range nodes {
		c := tlsClient(t, cfg, n.HTTPAddr())
		retry.Eventually(t, 30*time.Second, func() error { return c.Ready(ctx) })
	}
	var follower *node.Node
	for _, n := range nodes {
		if !n.Store().IsLeader() {
			follower = n
			break
		}
	}
	if err := register(ctx, tlsClient(t, cfg, follower.HTTPAddr()), "web", "web-1"); err != nil {
		t.Fatalf("a write through a follower (forwarded over HTTPS): %v", err)
	}

	other := newPKI(t)
	intruder := startServer(t, "intruder", 0, []string{nodes[0].GossipAddr()}, other.security(false))
	retry.Eventually(t, 10*time.Second, func() error {
		for _, m := range nodes[0].Store().Members() {
			if m.ID == intruder.ID() && m.State == "alive" {
				return nil
			}
		}
		return fmt.Errorf("the intruder is not in gossip yet")
	})
	retry.Never(t, 6*time.Second, func() error {
		for _, n := range nodes {
			if s, ok := raftIDs(n)[intruder.ID()]; ok {
				return fmt.Errorf("the intruder is in %s's raft configuration as %s", n.ID(), s)
			}
		}
		if intruder.Store().Catalog().Service("web") != nil && intruder.Store().Catalog().Service("web").Len() > 0 {
			return fmt.Errorf("the intruder received the catalog")
		}
		return nil
	})
	for _, n := range nodes {
		if got := len(raftIDs(n)); got != 3 {
			t.Fatalf("%s has %d servers in raft, want 3", n.ID(), got)
		}
	}
}

// TestGossipWithAWrongKeyIsNotJoined: a server with another gossip key (or
// none) never becomes a member of a keyed cluster; one with the key does.
func TestGossipWithAWrongKeyIsNotJoined(t *testing.T) {
	const key = "QQOmsoHYnGMkbFGTC5mBq310GkwtydFlIIMTfRmmHZ8=" // 32 bytes (roster keygen)
	const wrong = "2AjNmyR++cMvsgCf0ymWG4E8QPAhJ58S073Ll+YtZB8="
	first := startServer(t, "s0", 0, nil, node.SecurityConfig{GossipKey: key})
	isMember := func(n *node.Node) bool {
		for _, m := range first.Store().Members() {
			if m.ID == n.ID() {
				return true
			}
		}
		return false
	}
	bad := startServer(t, "bad", 0, []string{first.GossipAddr()}, node.SecurityConfig{GossipKey: wrong})
	none := startServer(t, "none", 0, []string{first.GossipAddr()}, node.SecurityConfig{})
	good := startServer(t, "good", 0, []string{first.GossipAddr()}, node.SecurityConfig{GossipKey: key})
	retry.Eventually(t, 15*time.Second, func() error {
		if !isMember(good) {
			return fmt.Errorf("the server with the key did not join")
		}
		if _, ok := raftIDs(first)[good.ID()]; !ok {
			return fmt.Errorf("the server with the key is not in raft yet")
		}
		return nil
	})
	retry.Never(t, 4*time.Second, func() error {
		for _, n := range []*node.Node{bad, none} {
			if isMember(n) {
				return fmt.Errorf("%s joined gossip", n.ID())
			}
			if _, ok := raftIDs(first)[n.ID()]; ok {
				return fmt.Errorf("%s entered raft", n.ID())
			}
		}
		return nil
	})
}

// TestSecurityFlagsAreValidated: inconsistent TLS files and bad gossip keys
// are refused at start with a message naming the flag.
func TestSecurityFlagsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		sec  node.SecurityConfig
		want string
	}{
		{node.SecurityConfig{TLSCert: "c.pem"}, "--tls-key"},
		{node.SecurityConfig{TLSCert: "c.pem", TLSKey: "k.pem"}, "--tls-ca"},
		{node.SecurityConfig{TLSVerifyIncoming: true}, "--tls-verify-incoming"},
		{node.SecurityConfig{GossipKey: "not base64!"}, "--gossip-key"},
		{node.SecurityConfig{GossipKey: "c2hvcnQ="}, "want 16, 24 or 32"},
		{node.SecurityConfig{TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem", TLSCA: "/nonexistent/ca.pem"}, "/nonexistent/c.pem"},
	} {
		cfg := testkit.DevConfig()
		cfg.Security = tc.sec
		n, err := node.Start(cfg)
		if err == nil {
			testkit.Close(n)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.sec, err, tc.want)
		}
	}
}

// TestGossipKeyRotationStepsKeepServersTogether: each step of the rolling
// rotation in docs/security.md leaves servers at adjacent steps able to
// gossip: [old] with [old,new], [old,new] with [new,old], [new,old] with
// [new].
func TestGossipKeyRotationStepsKeepServersTogether(t *testing.T) {
	const old = "QQOmsoHYnGMkbFGTC5mBq310GkwtydFlIIMTfRmmHZ8="
	const next = "2AjNmyR++cMvsgCf0ymWG4E8QPAhJ58S073Ll+YtZB8="
	for _, step := range [][2]string{
		{old, old + "," + next},
		{old + "," + next, next + "," + old},
		{next + "," + old, next},
	} {
		t.Run(step[0]+"|"+step[1], func(t *testing.T) {
			a := startServer(t, "a", 0, nil, node.SecurityConfig{GossipKey: step[0]})
			b := startServer(t, "b", 0, []string{a.GossipAddr()}, node.SecurityConfig{GossipKey: step[1]})
			retry.Eventually(t, 15*time.Second, func() error {
				for _, m := range a.Store().Members() {
					if m.ID == b.ID() && m.State == "alive" {
						return nil
					}
				}
				return fmt.Errorf("b is not an alive member of a's gossip")
			})
		})
	}
}

// TestGossipKeyRotationThroughTheKeyManager: install, use and remove go to
// every server at once (serf's key manager over PUT /v1/cluster/keyring);
// afterwards a server with only the new key joins, one with only the old
// key does not, and each server's keyring file holds only the new key.
func TestGossipKeyRotationThroughTheKeyManager(t *testing.T) {
	const old = "QQOmsoHYnGMkbFGTC5mBq310GkwtydFlIIMTfRmmHZ8="
	const next = "2AjNmyR++cMvsgCf0ymWG4E8QPAhJ58S073Ll+YtZB8="
	var nodes []*node.Node
	var dirs []string
	for i := range 3 {
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		dir := t.TempDir()
		cfg := testkit.Loopback(fmt.Sprintf("s%d", i))
		cfg.Store.DataDir, cfg.Store.BootstrapExpect, cfg.Store.Join = dir, 3, join
		cfg.Security = node.SecurityConfig{GossipKey: old}
		n := testkit.Start(t, cfg)
		nodes, dirs = append(nodes, n), append(dirs, dir)
	}
	ctx := context.Background()
	c := tlsClient(t, nil, nodes[1].HTTPAddr())
	retry.Eventually(t, 30*time.Second, func() error { return c.Ready(ctx) })
	for _, op := range []string{"install", "use"} {
		kr, err := c.GossipKeyringChange(ctx, op, next)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if kr.Keys[next] != 3 {
			t.Fatalf("after %s: %+v", op, kr)
		}
	}
	if _, err := c.GossipKeyringChange(ctx, "remove", next); err == nil || !client.IsInvalid(err) {
		t.Fatalf("removing the primary key: %v, want refused as invalid", err)
	}
	if _, err := c.GossipKeyringChange(ctx, "remove", old); err != nil {
		t.Fatal(err)
	}
	kr, err := c.GossipKeyring(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(kr.Keys) != 1 || kr.Keys[next] != 3 || kr.PrimaryKeys[next] != 3 {
		t.Fatalf("keyring after the rotation: %+v", kr)
	}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "serf", "local.keyring"))
		if err != nil || !strings.Contains(string(data), next) || strings.Contains(string(data), old) {
			t.Fatalf("keyring file %s: %s %v", dir, data, err)
		}
	}
	isMember := func(id string) bool {
		for _, m := range nodes[0].Store().Members() {
			if m.ID == id && m.State == "alive" {
				return true
			}
		}
		return false
	}
	newcomer := startServer(t, "new", 0, []string{nodes[0].GossipAddr()}, node.SecurityConfig{GossipKey: next})
	stale := startServer(t, "stale", 0, []string{nodes[0].GossipAddr()}, node.SecurityConfig{GossipKey: old})
	retry.Eventually(t, 15*time.Second, func() error {
		if !isMember(newcomer.ID()) {
			return fmt.Errorf("a server with the new key did not join")
		}
		return nil
	})
	retry.Never(t, 3*time.Second, func() error {
		if isMember(stale.ID()) {
			return fmt.Errorf("a server with only the removed key joined")
		}
		return nil
	})

	// A server restarted with the old flag takes its keys from its keyring
	// file, so it comes back into the rotated cluster.
	testkit.Close(nodes[2])
	cfg := testkit.Loopback("s2")
	cfg.Store.DataDir, cfg.Store.BootstrapExpect, cfg.Store.Join = dirs[2], 3, []string{nodes[0].GossipAddr()}
	cfg.Security = node.SecurityConfig{GossipKey: old}
	back := testkit.Start(t, cfg)
	retry.Eventually(t, 15*time.Second, func() error {
		if !isMember(back.ID()) {
			return fmt.Errorf("the restarted server is not back")
		}
		for _, m := range back.Store().Members() {
			if m.ID == nodes[0].ID() && m.State == "alive" {
				return nil
			}
		}
		return fmt.Errorf("the restarted server does not gossip with the others")
	})
}

// TestStartWarnsWithoutGossipKeyAndTLS: a server without either says so at
// start, naming the risk; one with both does not.
func TestStartWarnsWithoutGossipKeyAndTLS(t *testing.T) {
	start := func(sec node.SecurityConfig) string {
		logs := &testkit.LogBuffer{}
		cfg := testkit.DevConfig()
		cfg.Security, cfg.Logger = sec, slog.New(slog.NewTextHandler(logs, nil))
		n, err := node.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Close(n)
		return logs.String()
	}
	if got := start(node.SecurityConfig{}); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "anyone who reaches the gossip port can join as a server") {
		t.Errorf("no warning without --gossip-key and TLS:\n%s", got)
	}
	p := newPKI(t)
	sec := p.security(false)
	sec.GossipKey = "QQOmsoHYnGMkbFGTC5mBq310GkwtydFlIIMTfRmmHZ8="
	if got := start(sec); strings.Contains(got, "component=security") {
		t.Errorf("a warning with both:\n%s", got)
	}
}
