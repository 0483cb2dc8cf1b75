package raftstore

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// timedLogStore times the appends of the durable log store: each StoreLogs
// is one bbolt transaction ending in an fsync, so its duration is the disk's
// write latency as Raft feels it (the "fsync latency" dashboards and alerts
// watch). Reads pass through untimed. Each append that stored entries
// also tells the write batcher's pacer (see appendPacer).
type timedLogStore struct {
	raft.LogStore
	appends prometheus.Histogram // nil: not timed (the in-memory dev store)
	pacer   *appendPacer
}

// StoreLog implements raft.LogStore.
func (t timedLogStore) StoreLog(l *raft.Log) error {
	start := time.Now()
	err := t.LogStore.StoreLog(l)
	t.done(start)
	return err
}

// StoreLogs implements raft.LogStore.
func (t timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := t.LogStore.StoreLogs(logs)
	t.done(start)
	return err
}

func (t timedLogStore) done(start time.Time) {
	if t.appends != nil {
		t.appends.Observe(time.Since(start).Seconds())
	}
	if t.pacer != nil {
		t.pacer.appended()
	}
}

// appendPacer counts this server's durable log appends, so that the write
// batcher sends the next coalesced entry as soon as the leader's disk has
// taken the previous one (see runWrites) rather than when it commits.
type appendPacer struct {
	n    atomic.Uint64
	wake chan struct{} // buffered, 1: "n moved"
}

func newAppendPacer() *appendPacer { return &appendPacer{wake: make(chan struct{}, 1)} }

func (p *appendPacer) appended() {
	p.n.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func newLogAppendHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "roster_raft_log_append_duration_seconds",
		Help:    "Time to append entries to the durable Raft log store (one bbolt commit with fsync).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
}
