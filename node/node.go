// Package node wires one whole Roster server together: configuration, the
// replicated store, and the HTTP and DNS front ends, so that the binary and
// tests start identical servers.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rosterhq/roster/consulapi"
	"github.com/rosterhq/roster/dnsapi"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/internal/listen"
	"github.com/rosterhq/roster/raftstore"
	"github.com/rosterhq/roster/registry"
)

// Config is everything a server needs: the parts' own configurations, plus
// what only a whole server has (its listen addresses, connection cap, version,
// logger and security). Zero values take the defaults of design.md, each set
// by the part that owns it; addresses ending in ":0" bind a free port (tests).
//
// Node wires the parts together, so it sets the parts' wiring fields itself
// and ignores what a caller puts there: in Store, HTTPAddr and DNSAddr (the
// bound addresses, advertised in gossip), Logger, Metrics, Version, PeerTLS
// and GossipKeys; in HTTP, Store, Logger, Metrics, Gatherer, ForwardTLS, ACL
// and Keyring (and HeartbeatCoalesce with ACLs on); in DNS, Catalog, Logger
// and Metrics; in Consul, Store, Native, NodeID, Version, Logger and Metrics.
type Config struct {
	// Store is the replicated store: the server's name in gossip (NodeName,
	// the host name by default), DataDir (DefaultDataDir unless Dev), Dev
	// (a single in-memory server that bootstraps at once), the Raft and
	// gossip addresses, AdvertiseAddr, Join, BootstrapExpect,
	// RaftMultiplier, LeaveOnTerminate, DeadServerGrace, snapshot tuning and
	// the lease table (Lease).
	Store raftstore.Config

	// HTTPAddr is the HTTP API's listen address (DefaultHTTPAddr).
	HTTPAddr string
	// MaxConns caps open HTTP connections (0: derived from the file limit;
	// negative: no cap). Past it a connection is answered 429.
	MaxConns int
	// HTTP tunes the native HTTP API: MaxWatchers (lowered to fit MaxConns),
	// the per-client WriteRate and HeartbeatRate (and their bursts), body
	// limits and timeouts.
	HTTP httpapi.Config

	// DNSAddr is the DNS listen address, UDP and TCP (DefaultDNSAddr).
	DNSAddr string
	// DNS tunes the DNS server: Domain, TTL, AllowWarning, MaxRecords, UDPSize.
	DNS dnsapi.Config

	// Consul tunes the Consul-compatible subset (Datacenter).
	Consul consulapi.Config

	// Version is advertised in gossip and served by /v1/cluster/members.
	Version string
	Logger  *slog.Logger

	// Security is TLS and gossip encryption (node/security.go).
	Security SecurityConfig
}

// Defaults of the contract, each owned by the part that serves it.
const (
	DefaultHTTPAddr   = httpapi.DefaultAddr
	DefaultDNSAddr    = dnsapi.DefaultAddr
	DefaultRaftAddr   = raftstore.DefaultRaftAddr
	DefaultGossipAddr = raftstore.DefaultGossipAddr
	DefaultDataDir    = "roster-data"
	DefaultDomain     = dnsapi.DefaultDomain
)

// setDefaults fills what node itself owns; the parts fill their own
// fields when they start.
func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.DNSAddr == "" {
		c.DNSAddr = DefaultDNSAddr
	}
	if c.Store.DataDir == "" && !c.Store.Dev {
		c.Store.DataDir = DefaultDataDir
	}
	if c.Store.RaftMultiplier == 0 {
		// raftstore's default too; set before Validate, which refuses an
		// explicit --raft-multiplier 0.
		c.Store.RaftMultiplier = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first configuration error, in one line naming the
// flag (an address left empty takes its part's default).
func (c *Config) Validate() error {
	for _, a := range []struct{ name, addr string }{
		{"http-addr", c.HTTPAddr}, {"dns-addr", c.DNSAddr}, {"raft-addr", c.Store.RaftAddr}, {"gossip-addr", c.Store.GossipAddr},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("--%s %q: %w", a.name, a.addr, err)
		}
	}
	s := &c.Store
	if s.BootstrapExpect < 0 {
		return fmt.Errorf("--bootstrap-expect must not be negative")
	}
	if s.DeadServerGrace < 0 {
		return fmt.Errorf("--dead-server-grace must not be negative")
	}
	if s.Dev && (len(s.Join) > 0 || s.BootstrapExpect > 0) {
		return fmt.Errorf("--dev runs a single in-memory server: it cannot --join or --bootstrap-expect")
	}
	if s.RaftMultiplier < 1 || s.RaftMultiplier > 10 {
		return fmt.Errorf("--raft-multiplier must be between 1 and 10")
	}
	if s.AdvertiseAddr != "" && net.ParseIP(s.AdvertiseAddr) == nil {
		return fmt.Errorf("--advertise-addr %q: must be an IP address", s.AdvertiseAddr)
	}
	return c.Security.validate()
}

// Node is a running server.
type Node struct {
	cfg     Config
	log     *slog.Logger
	store   *raftstore.Store
	handler *httpapi.Handler
	httpSrv *http.Server
	httpLn  net.Listener
	dns     *dnsapi.Server
	metrics *prometheus.Registry
	catalog lateCatalog
	sec     security

	closeOnce sync.Once
	closeErr  error
	served    chan struct{}
}

// Start builds and starts a server. On error everything started is stopped.
func Start(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, served: make(chan struct{})}
	// The cleanups capture n, never the named results: every error return
	// below releases what was taken before it (ports, files, goroutines).
	var cleanups []func()
	ok := false
	defer func() {
		if !ok {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	var err error
	if err = n.startSecurity(); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, n.stopSecurity)

	n.metrics = prometheus.NewRegistry()
	// The Go collector's defaults include the soft memory limit in force
	// (go_gc_gomemlimit_bytes); the live heap the adaptive limit follows
	// (internal/memlimit) is added as go_gc_heap_live_bytes, and the CPU the
	// collector spends against the program's own as
	// go_cpu_classes_gc_total_cpu_seconds_total and
	// go_cpu_classes_user_cpu_seconds_total (what the limit costs).
	n.metrics.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(
			`^/gc/heap/live:bytes$|^/cpu/classes/gc/total:cpu-seconds$|^/cpu/classes/user:cpu-seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Bind HTTP first: with port 0 the bound address is what gossip advertises.
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, listen.Error("http", cfg.HTTPAddr, err)
	}
	cleanups = append(cleanups, func() { n.httpLn.Close() })

	// DNS binds before the store so its bound address can be advertised too.
	dnsCfg := cfg.DNS
	dnsCfg.Catalog, dnsCfg.Logger, dnsCfg.Metrics = &n.catalog, cfg.Logger, n.metrics
	n.dns, err = dnsapi.New(dnsCfg)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if err = n.dns.Start(cfg.DNSAddr); err != nil {
		return nil, listen.Error("dns", cfg.DNSAddr, err)
	}
	cleanups = append(cleanups, func() { n.dns.Close() })

	storeCfg := cfg.Store
	storeCfg.HTTPAddr = advertised(n.httpLn.Addr().String(), storeCfg.AdvertiseAddr)
	storeCfg.DNSAddr = advertised(n.dns.UDPAddr().String(), storeCfg.AdvertiseAddr)
	storeCfg.Logger, storeCfg.Metrics, storeCfg.Version = cfg.Logger, n.metrics, cfg.Version
	storeCfg.PeerTLS, storeCfg.GossipKeys = n.peerTLS(), n.gossipKeys()
	n.store, err = raftstore.Open(storeCfg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { n.store.Close() })
	n.catalog.p.Store(n.store.Catalog())

	maxConns, maxWatchers := httpLimits(cfg, n.log)
	httpCfg := cfg.HTTP
	httpCfg.Store, httpCfg.Logger, httpCfg.Metrics, httpCfg.Gatherer = n.store, cfg.Logger, n.metrics, n.metrics
	httpCfg.MaxWatchers, httpCfg.ForwardTLS, httpCfg.ACL, httpCfg.Keyring = maxWatchers, n.forwardTLS(), n.aclConfig(), n.store
	if n.cfg.Security.ACL {
		// A follower forwards each heartbeat with its own token instead of
		// batching several callers' under one.
		httpCfg.HeartbeatCoalesce = -1
	}
	n.handler, err = httpapi.New(httpCfg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, n.handler.Close)
	// The Consul-compatible subset shares the native handler's forwarding,
	// limits and watch budget, on the same server.
	consulCfg := cfg.Consul
	consulCfg.Store, consulCfg.Native, consulCfg.NodeID, consulCfg.Version = n.store, n.handler, n.store.ID(), cfg.Version
	consulCfg.Logger, consulCfg.Metrics = cfg.Logger, n.metrics
	consul, err := consulapi.New(consulCfg)
	if err != nil {
		return nil, err
	}
	n.httpSrv = httpapi.NewServer(n.httpLn.Addr().String(), consul.Mount(n.handler))
	n.httpSrv.ErrorLog = slog.NewLogLogger(cfg.Logger.With("component", "http").Handler(), slog.LevelInfo) // refused TLS handshakes
	httpLn := n.httpLn
	if maxConns > 0 {
		httpLn = httpapi.LimitListener(httpLn, maxConns, n.log, nil)
	}
	go func() {
		defer close(n.served)
		if err := n.httpSrv.Serve(n.httpListener(httpLn)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	ok = true
	n.log.Info("roster server started", "node", cfg.Store.NodeName, "id", n.store.ID(), "dev", cfg.Store.Dev,
		"http", n.HTTPAddr(), "dns", n.DNSAddr(), "raft", n.store.RaftAddr(), "gossip", n.store.GossipAddr())
	return n, nil
}

// lateCatalog lets DNS bind before the store exists (so its bound address
// can be advertised through gossip); until then every name answers as empty.
type lateCatalog struct {
	p atomic.Pointer[registry.Catalog]
}

// Service implements dnsapi.Catalog.
func (c *lateCatalog) Service(name string) *registry.ServiceView {
	if cat := c.p.Load(); cat != nil {
		return cat.Service(name)
	}
	return &registry.ServiceView{Name: name}
}

// advertised replaces an unspecified bind IP (0.0.0.0, ::) by the advertise
// address, so that peers get an address they can reach.
func advertised(bound, advertise string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() && advertise != "" {
		return net.JoinHostPort(advertise, port)
	}
	return bound
}

// HTTPAddr is the bound HTTP address.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// DNSAddr is the bound DNS address (UDP and TCP share the port).
func (n *Node) DNSAddr() string { return n.dns.UDPAddr().String() }

// RaftAddr is the bound Raft address.
func (n *Node) RaftAddr() string { return n.store.RaftAddr() }

// GossipAddr is the bound gossip address, the one others --join.
func (n *Node) GossipAddr() string { return n.store.GossipAddr() }

// ID is the server's Raft id.
func (n *Node) ID() string { return n.store.ID() }

// Handler is the HTTP API (native and Consul-compatible) this server
// serves, for tests that put middleware in front of it (rostertest).
func (n *Node) Handler() http.Handler { return n.httpSrv.Handler }

// Store is the replicated store, for tests and tools that need more than HTTP.
func (n *Node) Store() *raftstore.Store { return n.store }

// Close shuts the server down the way SIGTERM does: stop accepting requests,
// end watches, let in-flight requests finish (up to ctx's deadline), then
// close DNS and the store (a leader hands over leadership first). It is safe
// to call more than once.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.handler.Close()
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			n.httpSrv.Close()
		}
		<-n.served
		n.dns.Close()
		n.closeErr = n.store.Close()
		n.stopSecurity()
		n.log.Info("roster server stopped", "node", n.cfg.Store.NodeName)
	})
	return n.closeErr
}
