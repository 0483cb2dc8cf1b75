package httpapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// routeID names a route for the request counters.
type routeID int

const (
	routeLookup routeID = iota
	routeInstance
	routeRegister
	routeDeregister
	routeHeartbeat
	routeHeartbeats
	routeServices
	routeLeader
	routeMembers
	routeRaft
	routeLeases
	routeHealth
	routeLeave
	routeRemovePeer
	routeSnapshotSave
	routeSnapshotRestore
	routeLivez
	routeReadyz
	routeMetrics
	routePrometheusSD
	routeACL
	routeKeyring
	routeNotFound
	routeMethodNotAllowed
	routeOpenAPI
	routeUI
	routeMaintenance
	routeForwardBatch
	numRoutes
)

var routeNames = [numRoutes]string{
	routeLookup:           "lookup",
	routeInstance:         "instance",
	routeRegister:         "register",
	routeDeregister:       "deregister",
	routeHeartbeat:        "heartbeat",
	routeHeartbeats:       "heartbeats",
	routeServices:         "services",
	routeLeader:           "cluster_leader",
	routeMembers:          "cluster_members",
	routeRaft:             "cluster_raft",
	routeLeases:           "cluster_leases",
	routeHealth:           "cluster_health",
	routeLeave:            "cluster_leave",
	routeRemovePeer:       "remove_peer",
	routeSnapshotSave:     "snapshot_save",
	routeSnapshotRestore:  "snapshot_restore",
	routeLivez:            "livez",
	routeReadyz:           "readyz",
	routeMetrics:          "metrics",
	routePrometheusSD:     "prometheus_sd",
	routeACL:              "acl",
	routeKeyring:          "keyring",
	routeNotFound:         "not_found",
	routeMethodNotAllowed: "method_not_allowed",
	routeOpenAPI:          "openapi",
	routeUI:               "ui",
	routeMaintenance:      "maintenance",
	routeForwardBatch:     "forward_batch",
}

var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics holds every counter child resolved once at start, so that the
// request path only does an atomic add.
type metrics struct {
	reg       prometheus.Registerer
	requests  [numRoutes][5]prometheus.Counter
	durations [numRoutes]prometheus.Observer
	forwarded [numForwardKinds]prometheus.Counter
	// forwardErrors counts forwarded requests that got no answer from the leader.
	forwardErrors   prometheus.Counter
	coalescedBeats  prometheus.Counter
	coalescedBatchs prometheus.Counter
	watchRejected   prometheus.Counter
	rateLimited     prometheus.Counter
}

// forwardKind says what a follower forwarded to the leader.
type forwardKind int

const (
	forwardWrite forwardKind = iota
	forwardRead
	forwardHeartbeatBatch
	forwardWriteBatch
	numForwardKinds
)

var forwardKindNames = [numForwardKinds]string{"write", "consistent_read", "heartbeat_batch", "write_batch"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{reg: reg}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Subsystem: "http", Name: "requests_total",
		Help: "HTTP API answers by route and status class.",
	}, []string{"route", "code"})
	forwarded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Subsystem: "http", Name: "forwarded_total",
		Help: "Requests a follower forwarded to the leader, by kind.",
	}, []string{"kind"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "roster", Subsystem: "http", Name: "request_duration_seconds",
		Help: "Time to answer a request routed through the router, by route. Blocking queries, " +
			"event streams and the plain instance lookup (served before the router) are not timed.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if durations, err = register(reg, durations); err != nil {
		return nil, err
	}
	if forwarded, err = register(reg, forwarded); err != nil {
		return nil, err
	}
	for r := range numRoutes {
		m.durations[r] = durations.WithLabelValues(routeNames[r])
		for c := range codeClasses {
			m.requests[r][c] = requests.WithLabelValues(routeNames[r], codeClasses[c])
		}
	}
	for k := range numForwardKinds {
		m.forwarded[k] = forwarded.WithLabelValues(forwardKindNames[k])
	}
	counters := []struct {
		dst  *prometheus.Counter
		name string
		help string
	}{
		{&m.forwardErrors, "forward_errors_total", "Forwarded requests that got no answer from the leader."},
		{&m.coalescedBeats, "coalesced_heartbeats_total", "Single heartbeats a follower gathered into batches."},
		{&m.coalescedBatchs, "coalesced_batches_total", "Heartbeat batches a follower sent to the leader."},
		{&m.watchRejected, "watches_rejected_total", "Blocking queries and SSE streams refused with 429 (watcher limit)."},
		{&m.rateLimited, "rate_limited_total", "Writes and heartbeats refused with 429 (per-client rate limit)."},
	}
	for _, c := range counters {
		ctr, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "http", Name: c.name, Help: c.help,
		}))
		if err != nil {
			return nil, err
		}
		*c.dst = ctr
	}
	return m, nil
}

// watchers exports the number of open watches. A second handler on the same
// registry keeps the first one's gauge (registration conflicts are ignored).
func (m *metrics) watchers(f func() float64) {
	_, _ = register[prometheus.Collector](m.reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roster", Subsystem: "http", Name: "watchers",
		Help: "Blocking queries and SSE streams open on this server.",
	}, f))
}

// register registers c, or returns the collector already registered under
// the same description (several handlers may share one registry in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *metrics) count(id routeID, status int) {
	class := status/100 - 1
	if class < 0 || class > 4 {
		class = 4
	}
	m.requests[id][class].Inc()
}
