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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rosterhq/roster/consulapi"
	"github.com/rosterhq/roster/dnsapi"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/internal/listen"
	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/raftstore"
	"github.com/rosterhq/roster/registry"
)

// Config is everything a server needs. Zero values take the defaults of
// design.md; addresses ending in ":0" bind a free port (tests).
type Config struct {
	// Node is the server's name in gossip; defaults to the host name.
	Node string
	// DataDir holds the Raft log, snapshots and the server id. Ignored with Dev.
	DataDir string
	// Dev runs a single in-memory server that bootstraps at once.
	Dev bool

	HTTPAddr      string
	DNSAddr       string
	RaftAddr      string
	GossipAddr    string
	AdvertiseAddr string

	Join             []string
	BootstrapExpect  int
	RaftMultiplier   int
	LeaveOnTerminate bool

	// Domain is the DNS domain served (default "roster.").
	Domain          string
	DNSTTL          time.Duration
	DNSAllowWarning bool
	// DNSMaxRecords caps answer records per DNS response (0: dnsapi's default).
	DNSMaxRecords int

	// MaxWatchers caps concurrent blocking queries and event streams.
	MaxWatchers int
	// MaxConns caps open HTTP connections (0: derived from the file limit;
	// negative: no cap). Past it a connection is answered 429.
	MaxConns int
	// ClientWriteRate and ClientHeartbeatRate limit each client address's
	// writes and renewals per second (0: httpapi's defaults; negative: off).
	ClientWriteRate     float64
	ClientHeartbeatRate float64

	// Store tuning, mostly for tests; zero values take the defaults.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	DeadServerGrace   time.Duration
	Lease             lease.Config

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

func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.DNSAddr == "" {
		c.DNSAddr = DefaultDNSAddr
	}
	if c.RaftAddr == "" {
		c.RaftAddr = DefaultRaftAddr
	}
	if c.GossipAddr == "" {
		c.GossipAddr = DefaultGossipAddr
	}
	if c.DataDir == "" && !c.Dev {
		c.DataDir = DefaultDataDir
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.RaftMultiplier == 0 {
		c.RaftMultiplier = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first configuration error.
func (c *Config) Validate() error {
	for _, a := range []struct{ name, addr string }{
		{"http-addr", c.HTTPAddr}, {"dns-addr", c.DNSAddr}, {"raft-addr", c.RaftAddr}, {"gossip-addr", c.GossipAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("--%s %q: %w", a.name, a.addr, err)
		}
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("--bootstrap-expect must not be negative")
	}
	if c.DeadServerGrace < 0 {
		return fmt.Errorf("--dead-server-grace must not be negative")
	}
	if c.Dev && (len(c.Join) > 0 || c.BootstrapExpect > 0) {
		return fmt.Errorf("--dev runs a single in-memory server: it cannot --join or --bootstrap-expect")
	}
	if c.RaftMultiplier < 1 || c.RaftMultiplier > 10 {
		return fmt.Errorf("--raft-multiplier must be between 1 and 10")
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("--advertise-addr %q: must be an IP address", c.AdvertiseAddr)
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
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Bind HTTP first: with port 0 the bound address is what gossip advertises.
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, listen.Error("http", cfg.HTTPAddr, err)
	}
	cleanups = append(cleanups, func() { n.httpLn.Close() })

	// DNS binds before the store so its bound address can be advertised too.
	n.dns, err = dnsapi.New(dnsapi.Config{
		Catalog:      &n.catalog,
		Domain:       cfg.Domain,
		TTL:          cfg.DNSTTL,
		AllowWarning: cfg.DNSAllowWarning,
		MaxRecords:   cfg.DNSMaxRecords,
		Logger:       cfg.Logger,
		Metrics:      n.metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if err = n.dns.Start(cfg.DNSAddr); err != nil {
		return nil, listen.Error("dns", cfg.DNSAddr, err)
	}
	cleanups = append(cleanups, func() { n.dns.Close() })

	n.store, err = raftstore.Open(raftstore.Config{
		NodeName:          cfg.Node,
		DataDir:           cfg.DataDir,
		Dev:               cfg.Dev,
		RaftAddr:          cfg.RaftAddr,
		GossipAddr:        cfg.GossipAddr,
		AdvertiseAddr:     cfg.AdvertiseAddr,
		HTTPAddr:          advertised(n.httpLn.Addr().String(), cfg.AdvertiseAddr),
		DNSAddr:           advertised(n.dns.UDPAddr().String(), cfg.AdvertiseAddr),
		Join:              cfg.Join,
		BootstrapExpect:   cfg.BootstrapExpect,
		RaftMultiplier:    cfg.RaftMultiplier,
		LeaveOnTerminate:  cfg.LeaveOnTerminate,
		SnapshotThreshold: cfg.SnapshotThreshold,
		SnapshotInterval:  cfg.SnapshotInterval,
		TrailingLogs:      cfg.TrailingLogs,
		DeadServerGrace:   cfg.DeadServerGrace,
		Lease:             cfg.Lease,
		Logger:            cfg.Logger,
		Metrics:           n.metrics,
		Version:           cfg.Version,
		PeerTLS:           n.peerTLS(),
		GossipKeys:        n.gossipKeys(),
	})
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { n.store.Close() })
	n.catalog.p.Store(n.store.Catalog())

	maxConns, maxWatchers := httpLimits(cfg, n.log)
	n.handler, err = httpapi.New(httpapi.Config{
		Store:       n.store,
		Logger:      cfg.Logger,
		Metrics:     n.metrics,
		Gatherer:    n.metrics,
		MaxWatchers: maxWatchers,

		WriteRate:      cfg.ClientWriteRate,
		WriteBurst:     burstOf(cfg.ClientWriteRate),
		HeartbeatRate:  cfg.ClientHeartbeatRate,
		HeartbeatBurst: burstOf(cfg.ClientHeartbeatRate),
		ForwardTLS:     n.forwardTLS(),
		ACL:            n.aclConfig(),
		Keyring:        n.store,

		HeartbeatCoalesce: n.heartbeatCoalesce(),
	})
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, n.handler.Close)
	// The Consul-compatible subset shares the native handler's forwarding,
	// limits and watch budget, on the same server.
	consul, err := consulapi.New(consulapi.Config{
		Store: n.store, Native: n.handler, NodeID: n.store.ID(), Version: cfg.Version,
		Logger: cfg.Logger, Metrics: n.metrics,
	})
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
	n.log.Info("roster server started", "node", cfg.Node, "id", n.store.ID(), "dev", cfg.Dev,
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
		n.log.Info("roster server stopped", "node", n.cfg.Node)
	})
	return n.closeErr
}
