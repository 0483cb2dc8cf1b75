// Package raftstore replicates the registry's catalog with Raft: it owns
// hashicorp/raft (bolt log store, file snapshots, TCP transport), the FSM
// adapter over registry.Catalog, bootstrap and membership through
// memberlist, the leader's lease expiry loop and consistent-read barriers,
// and offers domain verbs (Register, Heartbeat, Backup, ...) so that no Raft
// type reaches the front ends.
package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/hashicorp/serf/serf"
	"go.etcd.io/bbolt"

	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/registry"
)

// Files in the data dir.
const (
	nodeIDFile    = "node-id"
	clusterIDFile = "cluster-id"
	raftDBFile    = "raft.db"
	// snapshotsRetained is how many file snapshots are kept.
	snapshotsRetained = 2
	// logCacheSize is how many recent log entries are kept in memory in
	// front of the bolt store.
	logCacheSize = 1024
)

// Store is a Roster server's replicated catalog. It owns Raft and
// memberlist completely and offers the verbs the front ends need
// (httpapi.Store). Create it with Open and stop it with Close or Leave.
type Store struct {
	cfg Config
	log *slog.Logger
	id  string

	catalog *registry.Catalog
	lessor  *lease.Lessor
	applied appliedIndex
	fsm     *fsm
	metrics *metrics

	raft     *raft.Raft
	trans    *raft.NetworkTransport
	rpcs     *leaderCommitTransport // trans as Raft sees it
	logs     raft.LogStore          // the cache in front of the log store
	bolt     *raftboltdb.BoltStore
	boltPath string
	snaps    raft.SnapshotStore
	raftAddr string

	gossip     *gossip
	serf       *serf.Serf
	known      *knownServers
	admission  admission // TLS probes before adding a server (admission.go)
	gossipAddr string
	autopilot  *autopilot.Autopilot

	// hadState: Raft had state when the store opened (so it never bootstraps).
	hadState bool
	// armed: this server leads and has re-armed its lease table.
	armed atomic.Bool

	leaderNotify chan bool
	reconcileNow chan struct{}
	writes       chan *writeReq
	pacer        *appendPacer // this server's log appends, for runWrites

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stop unblocks a halted FSM on Close.
	stop chan struct{}

	// leadSince is when this server's current leadership began (unix
	// nanoseconds; set as it gains leadership).
	leadSince atomic.Int64
	// stuck: the non-voters autopilot judges unhealthy, since when.
	stuckMu sync.Mutex
	stuck   map[raft.ServerID]*waiting

	closeOnce sync.Once
	closeErr  error
	closing   atomic.Bool
}

// Open starts Raft, memberlist and the background loops (leadership,
// write coalescing, joining, bootstrap, membership reconciliation).
func Open(cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "raftstore", "node", cfg.NodeName),
		metrics:      newMetrics(),
		leaderNotify: make(chan bool, 1),
		reconcileNow: make(chan struct{}, 1),
		writes:       make(chan *writeReq, 1024),
		pacer:        newAppendPacer(),
		stop:         make(chan struct{}),
		stuck:        map[raft.ServerID]*waiting{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var undo []func()
	fail := func(err error) (*Store, error) {
		s.cancel()
		s.wg.Wait()
		close(s.stop)
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}

	clusterID := ""
	if cfg.Dev {
		s.id = uuid.NewString()
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return fail(fmt.Errorf("data dir: %w", err))
		}
		id, err := loadOrCreateID(filepath.Join(cfg.DataDir, nodeIDFile))
		if err != nil {
			return fail(err)
		}
		s.id = id
		clusterID, err = readOptional(filepath.Join(cfg.DataDir, clusterIDFile))
		if err != nil {
			return fail(err)
		}
	}
	s.log = s.log.With("id", s.id)
	hcl := newHCLog(cfg.Logger, "raft")

	// Stores.
	var stable raft.StableStore
	var logStore raft.LogStore
	if cfg.Dev {
		mem := raft.NewInmemStore()
		stable, logStore = mem, timedLogStore{LogStore: mem, pacer: s.pacer}
		s.snaps = raft.NewInmemSnapshotStore()
	} else {
		s.boltPath = filepath.Join(cfg.DataDir, raftDBFile)
		b, err := openBolt(s.boltPath)
		if err != nil {
			return fail(err)
		}
		undo = append(undo, func() { b.Close() })
		s.bolt = b
		stable, logStore = b, timedLogStore{LogStore: b, appends: s.metrics.logAppend, pacer: s.pacer}
		fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetained, hcl)
		if err != nil {
			return fail(fmt.Errorf("open snapshot store: %w", err))
		}
		s.snaps = fss
	}
	cache, err := raft.NewLogCache(logCacheSize, logStore)
	if err != nil {
		return fail(fmt.Errorf("log cache: %w", err))
	}
	s.logs = cache
	s.hadState, err = raft.HasExistingState(cache, stable, s.snaps)
	if err != nil {
		return fail(fmt.Errorf("read raft state: %w", err))
	}

	// Transport.
	stream, err := listenRaft(cfg.RaftAddr, cfg.AdvertiseAddr, s.id)
	if err != nil {
		return fail(err)
	}
	stream.refused = func(want, from string) {
		s.metrics.refusedConns.Inc()
		s.log.Warn("refused a raft connection meant for another server id: this server was wiped or replaced, and the leader will replace the old id",
			"meant_for", want, "from", from)
	}
	if cfg.PeerTLS != nil {
		stream.tlsServer, stream.tlsClient = cfg.PeerTLS.Server, cfg.PeerTLS.Client
		stream.tlsRefused = func(from string, err error) {
			s.metrics.tlsRefused.Inc()
			s.log.Warn("refused a raft connection: its tls handshake failed (no certificate, or one the cluster's CA did not sign)",
				"from", from, "err", err)
		}
	}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hcl.Named("transport"),
	})
	undo = append(undo, func() { s.trans.Close() })
	s.raftAddr = stream.Addr().String()
	s.rpcs = newLeaderCommitTransport(s.trans)

	// State machine.
	s.catalog = registry.New()
	leaseCfg := cfg.Lease
	leaseCfg.Catalog = s.catalog // lets Renew tell a lease-less instance from an unknown id
	if leaseCfg.Logger == nil {
		leaseCfg.Logger = cfg.Logger
	}
	s.lessor = lease.NewLessor(leaseCfg)
	s.fsm = &fsm{
		catalog: s.catalog,
		lessor:  s.lessor,
		applied: &s.applied,
		snaps:   s.snaps,
		log:     s.log,
		metrics: s.metrics,
		stop:    s.stop,
		armed:   s.armed.Load,

		beforeApply: cfg.beforeApply,
	}

	// Raft.
	rc := raftConfig(&s.cfg, s.id, s.leaderNotify, hcl)
	if !cfg.Dev {
		if _, err := recoverFromPeersJSON(cfg.DataDir, rc, cache, stable, s.snaps, s.rpcs, s.log); err != nil {
			return fail(err)
		}
	}
	r, err := raft.NewRaft(rc, s.fsm, cache, stable, s.snaps, s.rpcs)
	if err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	s.raft = r
	undo = append(undo, func() { r.Shutdown().Error() })
	s.rpcs.raft = func() raftProgress {
		return raftProgress{follower: r.State() == raft.Follower, term: r.CurrentTerm(), last: r.LastIndex(), commit: r.CommitIndex()}
	}
	s.goLoop(s.rpcs.run)

	// Bootstrap alone: dev, or a fresh server told neither to join nor to
	// wait for others (design.md, "Bootstrap").
	bootstrapAlone := cfg.Dev || cfg.BootstrapExpect == 1 ||
		(len(cfg.Join) == 0 && cfg.BootstrapExpect == 0)
	if bootstrapAlone && !s.hadState {
		err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(s.id), Address: raft.ServerAddress(s.raftAddr),
		}}}).Error()
		if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fail(fmt.Errorf("bootstrap: %w", err))
		}
		clusterID = uuid.NewString()
		s.log.Info("bootstrapped a single-server cluster", "cluster", clusterID, "raft_addr", s.raftAddr)
	}

	// Gossip.
	s.gossip = newGossip(cfg.Logger.With("component", "gossip", "node", cfg.NodeName, "id", s.id), cfg.NodeName, nodeMeta{
		ID: s.id, Raft: s.raftAddr, HTTP: cfg.HTTPAddr, DNS: cfg.DNSAddr, Version: cfg.Version,
		Cluster: clusterID, Expect: cfg.BootstrapExpect, HasState: s.hadState || bootstrapAlone,
		Applied: s.applied.load(), ACL: !cfg.withoutACL,
		Maint: !cfg.withoutMaintenance,
	})
	s.gossip.commitIndex = r.CommitIndex
	if clusterID != "" {
		if err := s.persistClusterID(clusterID); err != nil {
			return fail(err)
		}
	}
	s.known, err = loadKnownServers(cfg.DataDir, s.log)
	if err != nil {
		return fail(err)
	}
	sf, err := s.startSerf()
	if err != nil {
		return fail(err)
	}
	s.serf = sf
	n := sf.LocalMember()
	s.gossipAddr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	undo = append(undo, func() { sf.Shutdown() })
	s.autopilot = s.newAutopilot(hcl)

	if cfg.Metrics != nil {
		if err := s.metrics.register(cfg.Metrics, s); err != nil {
			return fail(err)
		}
	}

	s.startLoops()
	s.log.Info("store open", "raft_addr", s.raftAddr, "gossip_addr", s.GossipAddr(), "dev", cfg.Dev,
		"had_state", s.hadState, "bootstrap_expect", cfg.BootstrapExpect, "join", strings.Join(cfg.Join, ","))
	return s, nil
}

// raftConfig is the Raft configuration of design.md ("Raft settings").
func raftConfig(cfg *Config, id string, notify chan bool, hcl hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout = cfg.scaled(500 * time.Millisecond)
	rc.ElectionTimeout = cfg.scaled(500 * time.Millisecond)
	rc.LeaderLeaseTimeout = cfg.scaled(250 * time.Millisecond)
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	// BatchApplyCh stays off: with it raft's apply channel is buffered, and
	// a future queued there when Raft shuts down is never answered, so a
	// barrier or write racing a shutdown waited forever (seen as a hung
	// Close). Writes are coalesced into one entry by the batcher anyway.
	rc.BatchApplyCh = false
	rc.NotifyCh = notify
	rc.Logger = hcl
	rc.NoLegacyTelemetry = true
	if cfg.commitTimeout > 0 {
		rc.CommitTimeout = cfg.commitTimeout
	}
	// CommitTimeout stays at raft's 50 ms. At 1 ms followers learned
	// commits sooner (writes through a follower 0.53 -> 0.58 of the
	// leader's rate, issue #18), but an idle server spent ~5% of a core on
	// empty AppendEntries, and the leader kept ~700 of them a second in
	// each follower's pipeline: with a follower silent for the transport's
	// timeout, a full pipeline (128) blocks raft's replication goroutine
	// for good and Shutdown with it (seen in a test that closes a leader
	// under write load).
	// A server removed from the configuration keeps running as a follower
	// without a vote, so membership reconciliation can add it back when it
	// is alive in gossip (a removed server never starts elections).
	rc.ShutdownOnRemove = false
	return rc
}

// openBolt opens the Raft log and stable store. fsync stays on.
func openBolt(path string) (*raftboltdb.BoltStore, error) {
	b, err := raftboltdb.New(raftboltdb.Options{
		Path: path,
		BoltOptions: &bbolt.Options{
			Timeout: time.Second,
			// design.md, "Bolt freelist blow-up": never rewrite the
			// freelist on every append.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft log store %s: %w", path, err)
	}
	return b, nil
}

func (s *Store) startLoops() {
	s.goLoop(s.runLeadership)
	s.goLoop(s.runWrites)
	s.goLoop(s.runGossipMeta)
	s.goLoop(s.runPublishApplied)
	s.goLoop(s.runLeaderObserver)
	if !s.cfg.Dev {
		s.goLoop(s.runJoin)
	}
	if s.cfg.BootstrapExpect > 1 && !s.hadState && !s.cfg.Dev {
		s.goLoop(s.runBootstrapExpect)
	}
}

func (s *Store) goLoop(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// leaderSince is when this server's current (or last) leadership began.
func (s *Store) leaderSince() time.Time { return time.Unix(0, s.leadSince.Load()) }

// Catalog is the local applied state, read without going through Raft.
func (s *Store) Catalog() *registry.Catalog { return s.catalog }

// Lessor is the lease table (armed only on the leader).
func (s *Store) Lessor() *lease.Lessor { return s.lessor }

// RaftAddr is the advertised Raft address (with the bound port).
func (s *Store) RaftAddr() string { return s.raftAddr }

// GossipAddr is the advertised gossip address (with the bound port), the
// address other servers pass to Join.
func (s *Store) GossipAddr() string { return s.gossipAddr }

// ID is this server's Raft server id: a UUID kept in the data dir.
func (s *Store) ID() string { return s.id }

// IsLeader reports whether this server is the Raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Close stops the server with SIGTERM semantics (design.md, "Shutdown"): a
// leader first hands leadership to another voter; the server leaves the
// Raft configuration only with LeaveOnTerminate; then Raft, gossip and the
// stores shut down and every goroutine stops. Close is idempotent.
func (s *Store) Close() error {
	if s.cfg.LeaveOnTerminate {
		return s.Leave(context.Background())
	}
	return s.shutdown(context.Background(), false)
}

func (s *Store) shutdown(ctx context.Context, leave bool) error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		var errs []error
		if s.IsLeader() && s.otherVoters() > 0 {
			s.transferLeadership()
		}
		if leave {
			if err := s.leaveCluster(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		s.snapshotOnClose()
		s.cancel()
		close(s.stop)
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		// Nothing will be applied any more: wake every WaitApplied.
		s.applied.halt(errClosed)
		s.wg.Wait()
		if err := s.serf.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
		}
		if err := s.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft transport close: %w", err))
		}
		if s.bolt != nil {
			if err := s.bolt.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft log store close: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
		s.log.Info("store closed", "left", leave)
	})
	return s.closeErr
}

// snapshotOnCloseMin is how many entries applied since the last snapshot
// make a stopping server take one.
const snapshotOnCloseMin = 256

// snapshotOnClose takes a snapshot before a graceful stop when many entries
// were applied since the last one, so the next start restores one snapshot
// instead of replaying up to SnapshotThreshold+TrailingLogs entries (with
// coalesced registrations, hundreds of thousands of commands): restart
// time stays bounded by the catalog's size, not the log's (design.md,
// "restart and catch-up under 5 s"). A failure only costs a longer replay.
func (s *Store) snapshotOnClose() {
	if s.cfg.Dev || s.fsm.haltErr() != nil {
		return
	}
	var last uint64
	if metas, err := s.snaps.List(); err == nil && len(metas) > 0 {
		last = metas[0].Index
	}
	applied := s.applied.load()
	if applied < last+snapshotOnCloseMin {
		return
	}
	start := time.Now()
	if err := s.raft.Snapshot().Error(); err != nil {
		s.log.Warn("snapshot before stopping failed; the next start replays the log", "err", err)
		return
	}
	s.log.Info("took a snapshot before stopping", "applied_index", applied, "entries_since_last", applied-last,
		"duration", time.Since(start))
}

// transferLeadership hands leadership to another voter before this leader
// stops, so writes resume without waiting for an election timeout.
func (s *Store) transferLeadership() {
	start := time.Now()
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.log.Warn("leadership transfer failed; the others will elect a leader after the election timeout", "err", err)
		return
	}
	s.log.Info("transferred leadership", "duration", time.Since(start))
}

// otherVoters counts the voters in the configuration other than this server.
func (s *Store) otherVoters() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.id {
			n++
		}
	}
	return n
}

func (s *Store) persistClusterID(id string) error {
	if s.cfg.Dev {
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, clusterIDFile)
	if cur, err := readOptional(path); err == nil && cur == id {
		return nil
	}
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return fmt.Errorf("persist cluster id: %w", err)
	}
	return nil
}

// loadOrCreateID returns the server id kept in path, creating it once: a
// wiped data dir gives a new id, so a wiped server never votes under its
// old identity.
func loadOrCreateID(path string) (string, error) {
	id, err := readOptional(path)
	if err != nil {
		return "", err
	}
	if id != "" {
		if _, err := uuid.Parse(id); err != nil {
			return "", fmt.Errorf("server id in %s: %w", path, err)
		}
		return id, nil
	}
	id = uuid.NewString()
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write server id: %w", err)
	}
	return id, nil
}

func readOptional(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
