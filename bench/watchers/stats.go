package main

import (
	"fmt"
	"slices"
	"time"
)

// summarize gives p50, p90, p99 and max of latencies in milliseconds
// (nearest-rank percentiles). It sorts lat.
func summarize(lat []time.Duration) string {
	if len(lat) == 0 {
		return "no samples"
	}
	slices.Sort(lat)
	return fmt.Sprintf("p50=%s p90=%s p99=%s max=%s",
		ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]))
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }
