// Package memlimit keeps the Go runtime's soft memory limit of a server
// process a bounded step above the live heap, moving it after every garbage
// collection, unless the operator set GOMEMLIMIT or GOGC.
//
// With the runtime's default (GOGC=100, no limit) the heap may grow to twice
// what the last collection found live before the next one, and resident
// memory keeps the high-water mark: a server holding 560 MB of catalog and
// lease table settled at 1.3-1.4 GB after registering a million instances
// (docs/bench/scale.md). The limit here is
//
//	max(Floor, live × (1 + Headroom) + runtime overhead)
//
// so a small server never reaches it (its heap goal stays GOGC=100's, no
// extra collector work) and a big one's heap (garbage, free slots and free
// pages included) stays within 1 + Headroom (1.5) times its live heap. The
// limit follows the live heap after every cycle, so a heap that grows fast
// during a load raises it at the next collection: the collector never runs
// back to back against a limit the live data has outgrown (and the runtime
// caps its own work at half the CPU if it must).
package memlimit

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Defaults of the adaptive policy.
const (
	// DefaultFloor is the lowest limit the policy sets: below it the heap
	// goal of GOGC=100 (twice the live heap plus the runtime's own memory)
	// decides, so servers with less than about 25 MB live (some 40,000
	// instances, a dev server) collect as Go does by default, and
	// one with 100,000 instances (about 60 MB live) stays well under the
	// 150 MB target that GOGC=100 alone misses.
	DefaultFloor int64 = 64 << 20
	// DefaultHeadroom is the garbage allowed on top of the live heap, as a
	// fraction of it (GOGC=100 allows 1.0).
	DefaultHeadroom = 0.5
)

// Who sets the runtime's memory limit.
const (
	// SourceAdaptive is this package's policy.
	SourceAdaptive = "adaptive"
	// SourceGOMEMLIMIT is the operator's GOMEMLIMIT, which the runtime
	// applied at start and the policy leaves alone.
	SourceGOMEMLIMIT = "GOMEMLIMIT"
	// SourceGOGC is the operator's GOGC: the policy sets no limit, so the
	// collector paces by GOGC alone (and by GOMEMLIMIT if set too).
	SourceGOGC = "GOGC"
)

// Config tunes the policy. The zero value is the default policy.
type Config struct {
	// Floor is the lowest limit set, in bytes (0: DefaultFloor).
	Floor int64
	// Headroom is the garbage allowed above the live heap as a fraction of
	// it (0: DefaultHeadroom).
	Headroom float64
	// Logger gets the startup line and every large move of the limit
	// (nil: discarded).
	Logger *slog.Logger
	// LookupEnv reads the environment (nil: os.LookupEnv); tests replace it.
	LookupEnv func(string) (string, bool)
}

func (c *Config) setDefaults() {
	if c.Floor == 0 {
		c.Floor = DefaultFloor
	}
	if c.Headroom == 0 {
		c.Headroom = DefaultHeadroom
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LookupEnv == nil {
		c.LookupEnv = os.LookupEnv
	}
}

// Validate reports a floor or headroom that would make the policy unsafe.
func (c Config) Validate() error {
	if c.Floor < 0 {
		return fmt.Errorf("memory limit floor %d must not be negative", c.Floor)
	}
	if c.Headroom < 0 || c.Headroom > 10 || math.IsNaN(c.Headroom) {
		// Below zero the limit would sit under the live heap: the
		// collector would run without pause.
		return fmt.Errorf("memory limit headroom %v must be between 0 and 10", c.Headroom)
	}
	return nil
}

// Limit is the soft limit for a live heap and the runtime's memory outside
// the heap (stacks, collector metadata), in bytes:
// max(floor, live × (1 + headroom) + overhead). c's zero fields take the
// defaults.
func (c Config) Limit(live, overhead uint64) int64 {
	c.setDefaults()
	l := float64(live)*(1+c.Headroom) + float64(overhead)
	if l >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(c.Floor, int64(l))
}

// Source reports who decides the runtime's memory limit for a process with
// this environment: the operator's GOMEMLIMIT or GOGC when set (the runtime
// read them at start; an empty value is the same as unset, as for the
// runtime), else the adaptive policy.
func Source(lookupEnv func(string) (string, bool)) string {
	if v, ok := lookupEnv("GOMEMLIMIT"); ok && v != "" {
		return SourceGOMEMLIMIT
	}
	if v, ok := lookupEnv("GOGC"); ok && v != "" {
		return SourceGOGC
	}
	return SourceAdaptive
}

// Policy is the running adaptive limit; Stop ends it.
type Policy struct {
	cfg    Config
	source string
	before int64 // the limit found at Start, put back by Stop

	mu      sync.Mutex
	stopped bool
	cycles  uint64 // GC cycles seen at the last update
	logged  int64  // the limit in the last log line
	samples []metrics.Sample
}

// Start applies the policy to this process: with GOMEMLIMIT or GOGC in the
// environment it changes nothing and logs what the operator set; otherwise it
// sets the limit for the heap as it is now and moves it after every garbage
// collection until Stop. The runtime's limit is one per process: start one
// Policy per process.
func Start(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Policy{cfg: cfg, source: Source(cfg.LookupEnv), before: debug.SetMemoryLimit(-1)}
	if p.source != SourceAdaptive {
		v, _ := cfg.LookupEnv(p.source)
		cfg.Logger.Info("memory limit set by the environment", "source", p.source, "value", v,
			"limit_bytes", runtimeLimit(p.before))
		return p, nil
	}
	p.samples = newSamples()
	limit := p.update(true)
	cfg.Logger.Info("memory limit adaptive", "limit_bytes", limit, "floor_bytes", cfg.Floor,
		"headroom", cfg.Headroom, "live_bytes", p.samples[sLive].Value.Uint64())
	p.armGCHook()
	return p, nil
}

// Source is who decides the limit: SourceAdaptive, SourceGOMEMLIMIT or
// SourceGOGC.
func (p *Policy) Source() string { return p.source }

// Stop ends the adaptive updates and puts back the limit found at Start.
func (p *Policy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.source != SourceAdaptive {
		p.stopped = true
		return
	}
	p.stopped = true
	debug.SetMemoryLimit(p.before)
}

// gcSentinel is garbage from the moment it is made; its cleanup runs after
// the collection that finds it so, once per cycle. It holds a pointer so
// that it is never a tiny allocation (those share a block and may never be
// found unreachable on their own).
type gcSentinel struct{ _ *byte }

// armGCHook asks for a call after the next garbage collection.
func (p *Policy) armGCHook() {
	runtime.AddCleanup(new(gcSentinel), func(p *Policy) { p.afterGC() }, p)
}

func (p *Policy) afterGC() {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return
	}
	p.update(false)
	p.armGCHook()
}

// The runtime/metrics samples read after each cycle, by index.
const (
	sLive = iota
	sCycles
	sTotal
	sReleased
	sFree
	sObjects
	sUnused
	nSamples
)

func newSamples() []metrics.Sample {
	s := make([]metrics.Sample, nSamples)
	s[sLive].Name = "/gc/heap/live:bytes"
	s[sCycles].Name = "/gc/cycles/total:gc-cycles"
	s[sTotal].Name = "/memory/classes/total:bytes"
	s[sReleased].Name = "/memory/classes/heap/released:bytes"
	s[sFree].Name = "/memory/classes/heap/free:bytes"
	s[sObjects].Name = "/memory/classes/heap/objects:bytes"
	s[sUnused].Name = "/memory/classes/heap/unused:bytes"
	return s
}

// update sets the limit for the live heap the last cycle found and returns
// it; without force it does nothing if no cycle ended since the last update.
func (p *Policy) update(force bool) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return debug.SetMemoryLimit(-1)
	}
	metrics.Read(p.samples)
	cycles := p.samples[sCycles].Value.Uint64()
	if !force && cycles == p.cycles {
		return debug.SetMemoryLimit(-1)
	}
	p.cycles = cycles
	live := p.samples[sLive].Value.Uint64()
	// The runtime counts against the limit everything it has mapped and
	// not returned to the OS. The heap's spans (objects, the free slots
	// in them, free pages) are what the collector's pacing governs; the
	// rest (stacks, collector metadata, span structures) does not shrink
	// by collecting, so it is added as it is, not scaled.
	mapped := p.samples[sTotal].Value.Uint64() - p.samples[sReleased].Value.Uint64()
	heap := p.samples[sObjects].Value.Uint64() + p.samples[sUnused].Value.Uint64() + p.samples[sFree].Value.Uint64()
	var overhead uint64
	if mapped > heap {
		overhead = mapped - heap
	}
	limit := p.cfg.Limit(live, overhead)
	debug.SetMemoryLimit(limit)
	// A move by a quarter is logged, not every cycle: a few lines while a
	// server fills up, none while it is steady.
	if p.logged == 0 || limit > p.logged+p.logged/4 || limit < p.logged-p.logged/4 {
		if p.logged != 0 {
			p.cfg.Logger.Info("memory limit moved", "limit_bytes", limit, "live_bytes", live,
				"overhead_bytes", overhead, "gc_cycles", cycles)
		}
		p.logged = limit
	}
	return limit
}

// runtimeLimit is the runtime's limit as reported: 0 for none (the runtime
// says math.MaxInt64).
func runtimeLimit(l int64) int64 {
	if l == math.MaxInt64 {
		return 0
	}
	return l
}
