package raftstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/registry"
)

// Defaults of design.md ("Raft settings", "Cluster").
const (
	DefaultRaftAddr          = "127.0.0.1:8300"
	DefaultGossipAddr        = "127.0.0.1:8301"
	DefaultSnapshotThreshold = 16384
	DefaultSnapshotInterval  = 10 * time.Second
	DefaultTrailingLogs      = 10240
	DefaultReconcileInterval = time.Second
	// DefaultDeadServerGrace is how long a failed (not gracefully left)
	// server stays in the Raft configuration before the leader removes it,
	// and then only while the remaining voters keep a quorum. A server that
	// comes back later is added again automatically.
	DefaultDeadServerGrace = time.Minute
	// DefaultServerStabilization is the least time a new server stays an
	// alive non-voter before the leader promotes it to voter, so that a
	// flapping server does not churn the configuration. Promotion also
	// waits until its applied index is within 250 entries of the leader's
	// commit index, however long that takes.
	DefaultServerStabilization = 2 * time.Second
	// DefaultCatchUpWait is how long a non-voter may take to catch up before
	// the leader logs it and counts it in roster_raft_catchup_timeouts_total
	// and roster_raft_nonvoters_behind; it stays a non-voter, and is promoted
	// if it catches up later.
	DefaultCatchUpWait = time.Minute
)

// Config configures a Store. Zero values take the defaults of design.md;
// cmd/roster fills it from flags and environment.
type Config struct {
	// NodeName is the gossip name, unique in the cluster; the host name by default.
	NodeName string
	// DataDir holds the bolt log/stable store (raft.db), the file snapshots
	// (snapshots/), the Raft server id (node-id) and the cluster id
	// (cluster-id). A peers.json an operator writes there is read once at
	// the next start to recover from a loss of quorum, then renamed to
	// peers.json.applied. Required unless Dev.
	DataDir string
	// Dev keeps the Raft log, stable store and snapshots in memory and
	// bootstraps a single-server cluster at once; DataDir is not used.
	Dev bool
	// RaftAddr is the Raft bind address, e.g. 127.0.0.1:8300; port 0 binds
	// any free port (see Store.RaftAddr).
	RaftAddr string
	// GossipAddr is the memberlist bind address (TCP and UDP); port 0 binds
	// any free port (see Store.GossipAddr).
	GossipAddr string
	// AdvertiseAddr is the IP advertised for Raft and gossip (NAT,
	// containers); the bind IP by default.
	AdvertiseAddr string
	// HTTPAddr is advertised in gossip so that followers forward to the
	// leader's HTTP front end.
	HTTPAddr string
	// DNSAddr is advertised in gossip.
	DNSAddr string
	// Join lists gossip addresses of any existing members. Joining is
	// retried in the background until one answers.
	Join []string
	// BootstrapExpect waits until this many servers with empty state see
	// each other through gossip, then they bootstrap together.
	BootstrapExpect int
	// RaftMultiplier scales the Raft timeouts (default 1).
	RaftMultiplier int
	// LeaveOnTerminate makes Close leave the Raft configuration.
	LeaveOnTerminate bool
	// MinDeregister is the lowest deregister_after a registration may ask
	// for (1m; 1s in Dev).
	MinDeregister time.Duration
	// SnapshotThreshold is the number of log entries that triggers a snapshot.
	SnapshotThreshold uint64
	// SnapshotInterval is how often Raft checks the threshold (jittered).
	SnapshotInterval time.Duration
	// TrailingLogs is how many log entries a snapshot keeps behind it.
	TrailingLogs uint64
	// ReconcileInterval is the period of the leader's membership
	// reconciliation (gossip against the Raft configuration); gossip events
	// also trigger it at once.
	ReconcileInterval time.Duration
	// DeadServerGrace: see DefaultDeadServerGrace.
	DeadServerGrace time.Duration
	// Lease tunes the lease table.
	Lease lease.Config
	// Logger receives the store's, Raft's and memberlist's logs.
	Logger *slog.Logger
	// Metrics, when set, receives the roster_* collectors.
	Metrics prometheus.Registerer
	// Version is this server's version, advertised in gossip.
	Version string
	// PeerTLS, when set, makes Raft traffic mutual TLS: a server whose
	// certificate the CA did not sign can neither dial nor be dialled, so
	// it cannot vote or receive entries.
	PeerTLS *PeerTLS
	// GossipKeys, when set (each 16, 24 or 32 bytes), encrypt gossip and
	// admit only members holding one of them: messages are sent encrypted
	// with the first and accepted under any (so a rotation can go through
	// a rolling restart, docs/security.md).
	GossipKeys [][]byte

	// Unexported knobs for tests.
	serverStabilization time.Duration
	catchUpWait         time.Duration
	gossipTuning        func(*memberlist.Config)
	serfTuning          func(*serf.Config)
	// beforeApply, when set, runs before the FSM applies a batch of
	// entries ending at last; stop is closed when the store closes.
	beforeApply func(last uint64, stop <-chan struct{})
	// noCoalesce sends every write as its own log entry (for comparisons).
	noCoalesce bool
	// inFlight overrides entriesInFlight (benchmarks).
	inFlight int
	// unpaced sends an entry as soon as a slot is free, without waiting
	// for the leader's log to take the one before (benchmarks).
	unpaced bool
	// commitTimeout overrides Raft's CommitTimeout (tests of how a
	// follower learns commits).
	commitTimeout time.Duration
	// withoutACL gossips as a build without the ACL commands (upgrade tests).
	withoutACL bool
	// withoutMaintenance gossips as a build without the maintenance
	// command (upgrade tests).
	withoutMaintenance bool
}

// PeerTLS holds the two sides of the servers' mutual TLS: the
// configuration accepting peers' connections and the one dialling them.
type PeerTLS struct {
	Server, Client *tls.Config
}

func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		c.NodeName = h
	}
	if c.RaftAddr == "" {
		c.RaftAddr = DefaultRaftAddr
	}
	if c.GossipAddr == "" {
		c.GossipAddr = DefaultGossipAddr
	}
	if c.RaftMultiplier <= 0 {
		c.RaftMultiplier = 1
	}
	if c.MinDeregister <= 0 {
		c.MinDeregister = registry.MinDeregisterAfter
		if c.Dev {
			c.MinDeregister = registry.DevMinDeregisterAfter
		}
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.DeadServerGrace <= 0 {
		c.DeadServerGrace = DefaultDeadServerGrace
	}
	if c.serverStabilization <= 0 {
		c.serverStabilization = DefaultServerStabilization
	}
	if c.catchUpWait <= 0 {
		c.catchUpWait = DefaultCatchUpWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c.validate()
}

func (c *Config) validate() error {
	if !c.Dev && c.DataDir == "" {
		return errors.New("config: a data dir is required outside dev mode")
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("config: bootstrap-expect %d is negative", c.BootstrapExpect)
	}
	for name, addr := range map[string]string{"raft-addr": c.RaftAddr, "gossip-addr": c.GossipAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config: %s %q: %w", name, addr, err)
		}
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("config: advertise-addr %q is not an IP address", c.AdvertiseAddr)
	}
	for _, k := range c.GossipKeys {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("config: gossip key is %d bytes: want 16, 24 or 32", n)
		}
	}
	return nil
}

func (c *Config) scaled(d time.Duration) time.Duration {
	return d * time.Duration(c.RaftMultiplier)
}
