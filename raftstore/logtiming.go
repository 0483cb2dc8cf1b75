package raftstore

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// timedLogStore times the appends of the durable log store: each StoreLogs
// is one bbolt transaction ending in an fsync, so its duration is the disk's
// write latency as Raft feels it (the "fsync latency" dashboards and alerts
// watch). Reads pass through untimed.
type timedLogStore struct {
	raft.LogStore
	appends prometheus.Histogram
}

// StoreLog implements raft.LogStore.
func (t timedLogStore) StoreLog(l *raft.Log) error {
	start := time.Now()
	err := t.LogStore.StoreLog(l)
	t.appends.Observe(time.Since(start).Seconds())
	return err
}

// StoreLogs implements raft.LogStore.
func (t timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := t.LogStore.StoreLogs(logs)
	t.appends.Observe(time.Since(start).Seconds())
	return err
}

func newLogAppendHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "roster_raft_log_append_duration_seconds",
		Help:    "Time to append entries to the durable Raft log store (one bbolt commit with fsync).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
}
