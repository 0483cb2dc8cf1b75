package memlimit

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

const mib = 1 << 20

func TestLimitIsHeadroomOverLiveHeapAboveTheFloor(t *testing.T) {
	cases := []struct {
		name           string
		cfg            Config
		live, overhead uint64
		want           int64
	}{
		{"empty heap: the floor", Config{}, 0, 0, DefaultFloor},
		{"a dev server (4 MB live): the floor, GOGC=100 decides", Config{}, 4 * mib, 8 * mib, DefaultFloor},
		{"just under the floor", Config{}, 36 * mib, 9 * mib, DefaultFloor},
		{"just over the floor", Config{}, 36 * mib, 11 * mib, 65 * mib},
		{"100,000 instances (60 MB live)", Config{}, 60 * mib, 12 * mib, 102 * mib},
		{"1,000,000 instances (590 MB live)", Config{}, 590 * mib, 30 * mib, 915 * mib},
		{"overhead is added, not scaled", Config{}, 1000 * mib, 200 * mib, 1700 * mib},
		{"own floor", Config{Floor: 64 * mib}, 10 * mib, 1 * mib, 64 * mib},
		{"own headroom", Config{Headroom: 1}, 500 * mib, 24 * mib, 1024 * mib},
		{"no overflow", Config{}, math.MaxUint64 / 2, math.MaxUint64 / 2, math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Limit(tc.live, tc.overhead); got != tc.want {
				t.Errorf("Limit(%d MiB live, %d MiB overhead) = %.1f MiB, want %.1f MiB",
					tc.live/mib, tc.overhead/mib, float64(got)/mib, float64(tc.want)/mib)
			}
		})
	}
}

func TestSourceLetsTheOperatorsEnvironmentWin(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, SourceAdaptive},
		{map[string]string{"GOMEMLIMIT": ""}, SourceAdaptive}, // the runtime too reads "" as unset
		{map[string]string{"GOGC": ""}, SourceAdaptive},
		{map[string]string{"GOMEMLIMIT": "900MiB"}, SourceGOMEMLIMIT},
		{map[string]string{"GOMEMLIMIT": "off"}, SourceGOMEMLIMIT}, // explicitly none
		{map[string]string{"GOGC": "100"}, SourceGOGC},
		{map[string]string{"GOGC": "off"}, SourceGOGC},
		{map[string]string{"GOGC": "200", "GOMEMLIMIT": "2GiB"}, SourceGOMEMLIMIT},
		{map[string]string{"ROSTER_GOGC": "50"}, SourceAdaptive},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			if got := Source(env(tc.env)); got != tc.want {
				t.Errorf("Source(%v) = %q, want %q", tc.env, got, tc.want)
			}
		})
	}
}

func TestConfigRefusesHeadroomThatStarvesTheCollector(t *testing.T) {
	for _, c := range []Config{{Headroom: -0.1}, {Headroom: math.NaN()}, {Headroom: 11}, {Floor: -1}} {
		if _, err := Start(c); err == nil {
			t.Errorf("Start(%+v) accepted", c)
		}
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// keepLimit puts the process's limit back after a test that moves it.
func keepLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
}

// The runtime applied GOMEMLIMIT when the process started; the policy must
// leave that limit as it is through every collection.
func TestExplicitGOMEMLIMITIsLeftAlone(t *testing.T) {
	keepLimit(t)
	const operators = 777 * mib
	debug.SetMemoryLimit(operators) // what the runtime made of GOMEMLIMIT=777MiB
	p, err := Start(Config{Floor: 16 * mib, LookupEnv: env(map[string]string{"GOMEMLIMIT": "777MiB"})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.Source() != SourceGOMEMLIMIT {
		t.Fatalf("source %q, want %q", p.Source(), SourceGOMEMLIMIT)
	}
	for range 3 {
		runtime.GC()
	}
	retry.Never(t, 300*time.Millisecond, func() error {
		if got := debug.SetMemoryLimit(-1); got != operators {
			return fmt.Errorf("limit %d, the operator set %d", got, operators)
		}
		return nil
	})
	p.Stop()
	if got := debug.SetMemoryLimit(-1); got != operators {
		t.Fatalf("after Stop the limit is %d, the operator set %d", got, operators)
	}
}

// With GOGC set the operator paces the collector: no limit appears.
func TestExplicitGOGCSetsNoLimit(t *testing.T) {
	keepLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	p, err := Start(Config{Floor: 16 * mib, LookupEnv: env(map[string]string{"GOGC": "100"})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	runtime.GC()
	retry.Never(t, 300*time.Millisecond, func() error {
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			return fmt.Errorf("limit %d MiB set under GOGC=100", got/mib)
		}
		return nil
	})
}

// The limit follows the live heap up and down after collections, and Stop
// puts back what was there.
func TestAdaptiveLimitFollowsTheLiveHeap(t *testing.T) {
	keepLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	const floor = 16 * mib
	p, err := Start(Config{Floor: floor, LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.Source() != SourceAdaptive {
		t.Fatalf("source %q, want adaptive", p.Source())
	}
	if got := debug.SetMemoryLimit(-1); got == math.MaxInt64 {
		t.Fatal("Start set no limit")
	}

	// 96 MiB live: the limit must rise to at least 1.5 times that at the
	// next collections, without anyone calling the policy.
	const held = 96 * mib
	ballast := make([][]byte, 96)
	for i := range ballast {
		ballast[i] = make([]byte, mib)
	}
	retry.Eventually(t, 10*time.Second, func() error {
		runtime.GC()
		if got := debug.SetMemoryLimit(-1); got < held*3/2 || got > held*3/2+64*mib {
			return fmt.Errorf("limit %.1f MiB with %d MiB held live, want 1.5 times that plus the runtime's own memory", float64(got)/mib, held/mib)
		}
		return nil
	})
	runtime.KeepAlive(ballast)

	ballast = nil
	retry.Eventually(t, 10*time.Second, func() error {
		runtime.GC()
		if got := debug.SetMemoryLimit(-1); got > 96*mib {
			return fmt.Errorf("limit %.1f MiB after the 96 MiB held were freed", float64(got)/mib)
		}
		return nil
	})

	p.Stop()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("after Stop the limit is %d, want none as before Start", got)
	}
}
