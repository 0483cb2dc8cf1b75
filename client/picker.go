package client

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// Strategy chooses how a Picker spreads requests.
type Strategy int

// The balancing strategies.
const (
	// RoundRobin takes the instances in turn.
	RoundRobin Strategy = iota
	// Random takes an instance uniformly at random.
	Random
	// Weighted takes instances in proportion to their weight, evenly
	// interleaved (smooth weighted round robin, as nginx does).
	Weighted
)

// String names the strategy as the flags of the examples spell it.
func (s Strategy) String() string {
	switch s {
	case RoundRobin:
		return "round-robin"
	case Random:
		return "random"
	case Weighted:
		return "weighted"
	}
	return "unknown"
}

// ParseStrategy reads "round-robin", "random" or "weighted".
func ParseStrategy(s string) (Strategy, bool) {
	switch s {
	case "round-robin", "roundrobin", "rr", "":
		return RoundRobin, true
	case "random":
		return Random, true
	case "weighted":
		return Weighted, true
	}
	return RoundRobin, false
}

// DefaultCoolOff is how long a Picker skips an instance reported failed.
const DefaultCoolOff = 5 * time.Second

// Picker chooses among a service's live instances. Feed it with Update (a
// Resolver does that from a Watcher); critical instances are never picked,
// and an instance reported with Fail is skipped for a cool-off unless every
// instance is cooling off. It is safe for concurrent use.
type Picker struct {
	strategy Strategy
	coolOff  time.Duration

	mu       sync.Mutex
	insts    []api.Instance
	current  map[string]int // smooth weighted round robin state by id
	next     int
	failedAt map[string]time.Time
	now      func() time.Time
}

// NewPicker returns an empty picker. coolOff <= 0 means DefaultCoolOff.
func NewPicker(strategy Strategy, coolOff time.Duration) *Picker {
	if coolOff <= 0 {
		coolOff = DefaultCoolOff
	}
	return &Picker{
		strategy: strategy,
		coolOff:  coolOff,
		current:  make(map[string]int),
		failedAt: make(map[string]time.Time),
		now:      time.Now,
	}
}

// Update replaces the instance set. Critical instances are dropped.
func (p *Picker) Update(insts []api.Instance) {
	live := make([]api.Instance, 0, len(insts))
	ids := make(map[string]bool, len(insts))
	for _, in := range insts {
		if in.Status == api.StatusCritical {
			continue
		}
		live = append(live, in)
		ids[in.ID] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.insts = live
	for id := range p.current {
		if !ids[id] {
			delete(p.current, id)
		}
	}
	for id := range p.failedAt {
		if !ids[id] {
			delete(p.failedAt, id)
		}
	}
}

// Instances returns the instances the picker chooses from.
func (p *Picker) Instances() []api.Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]api.Instance(nil), p.insts...)
}

// Fail reports that a request to inst failed: it is skipped for the
// cool-off.
func (p *Picker) Fail(inst api.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failedAt[inst.ID] = p.now()
}

// Pick returns the next instance, or ErrNoInstances when there is none.
func (p *Picker) Pick() (api.Instance, error) {
	return p.PickExcept(nil)
}

// PickExcept is Pick skipping the instances whose ids are in tried (one
// request's earlier attempts), unless nothing else is left.
func (p *Picker) PickExcept(tried map[string]bool) (api.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.insts) == 0 {
		return api.Instance{}, ErrNoInstances
	}
	now := p.now()
	cands := make([]int, 0, len(p.insts))
	for i, in := range p.insts {
		if tried[in.ID] {
			continue
		}
		if t, ok := p.failedAt[in.ID]; ok {
			if now.Sub(t) < p.coolOff {
				continue
			}
			delete(p.failedAt, in.ID)
		}
		cands = append(cands, i)
	}
	if len(cands) == 0 {
		// Everything untried is cooling off: better to try one of them than
		// to fail outright (the panic mode of Envoy and Nacos).
		for i, in := range p.insts {
			if !tried[in.ID] {
				cands = append(cands, i)
			}
		}
		if len(cands) == 0 {
			return api.Instance{}, ErrNoInstances
		}
	}
	switch p.strategy {
	case Random:
		return p.insts[cands[rand.IntN(len(cands))]], nil
	case Weighted:
		return p.insts[p.smoothWeighted(cands)], nil
	default:
		i := cands[p.next%len(cands)]
		p.next++
		return p.insts[i], nil
	}
}

// smoothWeighted is nginx's smooth weighted round robin: every candidate
// gains its weight, the largest is chosen and loses the total.
func (p *Picker) smoothWeighted(cands []int) int {
	total, best := 0, -1
	for _, i := range cands {
		in := p.insts[i]
		w := max(in.Weight, 1)
		total += w
		p.current[in.ID] += w
		if best < 0 || p.current[in.ID] > p.current[p.insts[best].ID] {
			best = i
		}
	}
	p.current[p.insts[best].ID] -= total
	return best
}
