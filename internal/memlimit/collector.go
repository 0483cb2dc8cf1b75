package memlimit

import (
	"runtime/debug"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reads the runtime at each scrape, so it tells the truth whoever
// set the limit (the policy, GOMEMLIMIT, or nobody).
type collector struct {
	limit, live *prometheus.Desc
}

// NewCollector exports roster_memory_limit_bytes, the Go runtime's soft
// memory limit in force (0: none), and roster_memory_live_heap_bytes, the
// heap the last garbage collection found live, which the adaptive limit
// follows.
func NewCollector() prometheus.Collector {
	return &collector{
		limit: prometheus.NewDesc("roster_memory_limit_bytes",
			"The Go runtime's soft memory limit in force (adaptive, or GOMEMLIMIT); 0 when there is none.", nil, nil),
		live: prometheus.NewDesc("roster_memory_live_heap_bytes",
			"Heap bytes the last garbage collection found live; the adaptive memory limit is 1.5 times this plus the runtime's own memory, at least 64 MiB.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.limit
	ch <- c.live
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(runtimeLimit(debug.SetMemoryLimit(-1))))
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(s[0].Value.Uint64()))
}
