package raftstore

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's collectors. They always exist (so the code paths
// never check for nil) and are registered only when Config.Metrics is set.
type metrics struct {
	leaderChanges    prometheus.Counter
	applyDuration    prometheus.Histogram
	entryCommands    prometheus.Histogram
	expired          prometheus.Counter
	reaped           prometheus.Counter
	snapshots        prometheus.Counter
	snapshotDuration prometheus.Histogram
	restores         prometheus.Counter
	membership       *prometheus.CounterVec
	fsmHalted        prometheus.Gauge
	statusWrites     prometheus.Counter
	catchUpTimeouts  prometheus.Counter
	nonvotersBehind  prometheus.Gauge
	autopilotHealthy prometheus.Gauge
	failureTolerance prometheus.Gauge
	refusedConns     prometheus.Counter
	joinAttempts     prometheus.Counter
	logAppend        prometheus.Histogram
	tlsRefused       prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_leader_changes_total",
			Help: "Leader changes this server observed.",
		}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roster_raft_apply_duration_seconds",
			Help:    "Time from a write reaching the store to its entry being applied on the leader.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}),
		entryCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roster_raft_commands_per_entry",
			Help:    "Registrations and deregistrations coalesced into one log entry.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_lease_expired_total",
			Help: "Instances this server, as leader, marked critical because their TTL expired.",
		}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_lease_reaped_total",
			Help: "Instances this server, as leader, removed because deregister_after passed.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_snapshots_total",
			Help: "Raft snapshots persisted.",
		}),
		snapshotDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roster_raft_snapshot_duration_seconds",
			Help:    "Time to persist a Raft snapshot of the catalog.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_restores_total",
			Help: "Catalog restores from a snapshot (startup, install from the leader, backup restore).",
		}),
		membership: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_raft_membership_changes_total",
			Help: "Raft configuration changes made by membership reconciliation, by action.",
		}, []string{"action"}),
		fsmHalted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_raft_fsm_halted",
			Help: "1 when this server stopped applying at a command version it does not know.",
		}),
		statusWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_heartbeat_status_writes_total",
			Help: "Heartbeats that changed an instance's status or output and were written to Raft.",
		}),
		catchUpTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_catchup_timeouts_total",
			Help: "Non-voters that this server, as leader, saw fail to catch up with the log in time; they stay non-voters.",
		}),
		autopilotHealthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_autopilot_healthy",
			Help: "1 when the leader's autopilot judges every server healthy (set on the leader only).",
		}),
		failureTolerance: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_autopilot_failure_tolerance",
			Help: "How many more voters the cluster can lose and keep a quorum of healthy ones (set on the leader only).",
		}),
		refusedConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_refused_connections_total",
			Help: "Raft connections refused because they were meant for another server id (this server was wiped or replaced).",
		}),
		joinAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_gossip_join_attempts_total",
			Help: "Attempts to join the gossip pool while this server saw no other alive server.",
		}),
		tlsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_raft_tls_refused_total",
			Help: "Raft connections refused because their TLS handshake failed (no certificate, or one the cluster's CA did not sign).",
		}),
		nonvotersBehind: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_raft_nonvoters_behind",
			Help: "Alive non-voters that have not caught up with the log within the catch-up wait (leader only).",
		}),
		logAppend: newLogAppendHistogram(),
	}
}

// register adds the store's collectors to reg, including those that read
// live state (Raft, bolt, lease table, catalog) at scrape time.
func (m *metrics) register(reg prometheus.Registerer, s *Store) error {
	cs := []prometheus.Collector{
		m.leaderChanges, m.applyDuration, m.entryCommands, m.expired, m.reaped,
		m.snapshots, m.snapshotDuration, m.restores, m.membership, m.fsmHalted, m.statusWrites,
		m.catchUpTimeouts, m.nonvotersBehind, m.autopilotHealthy, m.failureTolerance, m.refusedConns, m.joinAttempts,
		m.logAppend,
		m.tlsRefused, &stateCollector{s: s},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

var (
	descRaftState = prometheus.NewDesc("roster_raft_state",
		"1 for the Raft state this server is in.", []string{"state"}, nil)
	descTerm    = prometheus.NewDesc("roster_raft_term", "Current Raft term.", nil, nil)
	descCommit  = prometheus.NewDesc("roster_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied = prometheus.NewDesc("roster_raft_applied_index",
		"Last log index the catalog applied.", nil, nil)
	descLastContact = prometheus.NewDesc("roster_raft_last_contact_seconds",
		"Seconds since this server last heard from the leader (0 on the leader).", nil, nil)
	descFreePages = prometheus.NewDesc("roster_boltdb_freelist_free_pages",
		"Free pages in the Raft log store's bolt freelist.", nil, nil)
	descPendingPages = prometheus.NewDesc("roster_boltdb_freelist_pending_pages",
		"Pending pages in the Raft log store's bolt freelist.", nil, nil)
	descFreeBytes = prometheus.NewDesc("roster_boltdb_freelist_free_bytes",
		"Bytes allocated in free pages of the Raft log store.", nil, nil)
	descFreelistBytes = prometheus.NewDesc("roster_boltdb_freelist_inuse_bytes",
		"Bytes the bolt freelist itself uses (the Roblox outage grew this).", nil, nil)
	descLogStoreBytes = prometheus.NewDesc("roster_raft_log_store_bytes",
		"Size of the Raft log store file on disk.", nil, nil)
	descLeases  = prometheus.NewDesc("roster_leases", "TTL leases held by the lease table.", nil, nil)
	descPending = prometheus.NewDesc("roster_leases_pending",
		"Lease expiries and reaps that are due but not yet written.", nil, nil)
	descPaused = prometheus.NewDesc("roster_leases_paused",
		"1 while mass-expiry protection holds expiries back.", nil, nil)
	descInstances = prometheus.NewDesc("roster_instances",
		"Registered instances by status.", []string{"status"}, nil)
)

// stateCollector reads live state at scrape time.
type stateCollector struct{ s *Store }

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descTerm, descCommit, descApplied,
		descLastContact, descFreePages, descPendingPages, descFreeBytes, descFreelistBytes,
		descLogStoreBytes, descLeases, descPending, descPaused, descInstances} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	state := s.raft.State()
	for _, st := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if st == state {
			v = 1
		}
		gauge(descRaftState, v, strings.ToLower(st.String()))
	}
	gauge(descTerm, float64(s.raft.CurrentTerm()))
	gauge(descCommit, float64(s.raft.CommitIndex()))
	gauge(descApplied, float64(s.applied.load()))
	gauge(descLastContact, s.lastContact().Seconds())
	if s.bolt != nil {
		st := s.bolt.Stats()
		gauge(descFreePages, float64(st.FreePageN))
		gauge(descPendingPages, float64(st.PendingPageN))
		gauge(descFreeBytes, float64(st.FreeAlloc))
		gauge(descFreelistBytes, float64(st.FreelistInuse))
		if fi, err := os.Stat(s.boltPath); err == nil {
			gauge(descLogStoreBytes, float64(fi.Size()))
		}
	}
	ls := s.lessor.State()
	gauge(descLeases, float64(ls.Leases))
	gauge(descPending, float64(ls.Pending))
	paused := 0.0
	if ls.Paused {
		paused = 1
	}
	gauge(descPaused, paused)
	var passing, warning, critical int
	for _, svc := range s.catalog.Services().Services {
		passing += svc.Passing
		warning += svc.Warning
		critical += svc.Critical
	}
	gauge(descInstances, float64(passing), "passing")
	gauge(descInstances, float64(warning), "warning")
	gauge(descInstances, float64(critical), "critical")
}

// lastContact is the time since the leader was last heard from; 0 on the
// leader itself.
func (s *Store) lastContact() time.Duration {
	if s.raft.State() == raft.Leader {
		return 0
	}
	lc := s.raft.LastContact()
	if lc.IsZero() {
		return 0
	}
	return time.Since(lc)
}
