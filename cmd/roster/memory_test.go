package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

// TestServerMemoryLimitIsAdaptiveUnlessTheEnvironmentSetsOne: a server
// started with neither GOMEMLIMIT nor GOGC bounds the collector's headroom
// itself (at least the 64 MiB floor), one started with either keeps exactly
// what the operator set; /metrics and the startup log say which.
func TestServerMemoryLimitIsAdaptiveUnlessTheEnvironmentSetsOne(t *testing.T) {
	cases := []struct {
		name     string
		env      []string
		min, max float64 // go_gc_gomemlimit_bytes
		log      string
	}{
		{"default", nil, 64 << 20, 1 << 30, `msg="memory limit adaptive"`},
		{"GOMEMLIMIT", []string{"GOMEMLIMIT=123MiB"}, 123 << 20, 123 << 20, `msg="memory limit set by the environment" source=GOMEMLIMIT value=123MiB limit_bytes=128974848`},
		{"GOMEMLIMIT off", []string{"GOMEMLIMIT=off"}, math.MaxInt64, math.MaxInt64, `source=GOMEMLIMIT value=off limit_bytes=0`},
		{"GOGC", []string{"GOGC=100"}, math.MaxInt64, math.MaxInt64, `source=GOGC value=100 limit_bytes=0`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, "m1", "--dev")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
					s.env = append(s.env, kv)
				}
			}
			s.env = append(s.env, tc.env...)
			s.start(t)
			var limit float64
			retry.Eventually(t, 30*time.Second, func() error {
				var err error
				limit, err = metric(s, "go_gc_gomemlimit_bytes")
				return err
			})
			if limit < tc.min || limit > tc.max {
				t.Errorf("go_gc_gomemlimit_bytes %.0f, want between %.0f and %.0f", limit, tc.min, tc.max)
			}
			// What the limit follows and what the collector costs, whoever
			// set the limit.
			for _, name := range []string{"go_gc_heap_live_bytes", "go_cpu_classes_gc_total_cpu_seconds_total",
				"go_cpu_classes_user_cpu_seconds_total"} {
				if v, err := metric(s, name); err != nil || v <= 0 {
					t.Errorf("%s: %v, %v", name, v, err)
				}
			}
			if !strings.Contains(s.log.String(), tc.log) {
				t.Errorf("log has no %s:\n%s", tc.log, tail(s.log.String(), 2048))
			}
		})
	}
}

// metric reads one unlabelled series from the server's /metrics.
func metric(s *server, name string) (float64, error) {
	resp, err := httpc.Get(s.url("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
