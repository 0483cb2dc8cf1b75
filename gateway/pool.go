package gateway

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// pool is the set of instances one route balances over. Its member list is
// immutable and swapped whole on a change, so picking reads it without a
// lock (only the weighted strategy keeps state under one).
type pool struct {
	name    string // the route's name, a metric label
	service string
	balance Balance
	members atomic.Pointer[[]*member]
	next    atomic.Uint64

	mu sync.Mutex // smooth weighted round robin state in members

	ready     chan struct{} // closed once the service's first list arrived
	readyOnce sync.Once
}

// member is one backend in one route's pool, with that pair's metrics
// resolved once.
type member struct {
	b        *backend
	current  int64                 // smooth weighted round robin, under pool.mu
	requests [5]prometheus.Counter // by status class, 1xx to 5xx
	latency  prometheus.Observer
	retries  prometheus.Counter
}

func newPool(name, service string, balance Balance) *pool {
	p := &pool{name: name, service: service, balance: balance, ready: make(chan struct{})}
	empty := []*member{}
	p.members.Store(&empty)
	return p
}

func (p *pool) markReady() { p.readyOnce.Do(func() { close(p.ready) }) }

func (p *pool) isReady() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// list returns the current members.
func (p *pool) list() []*member { return *p.members.Load() }

// setMembers replaces the pool's backends, keeping the members (and their
// metrics) of backends that stay; it returns the members that left.
func (p *pool) setMembers(bs []*backend, m *metrics) (gone []*member) {
	old := p.list()
	byBackend := make(map[*backend]*member, len(old))
	for _, o := range old {
		byBackend[o.b] = o
	}
	next := make([]*member, 0, len(bs))
	kept := make(map[*member]bool, len(bs))
	for _, b := range bs {
		if o, ok := byBackend[b]; ok {
			next = append(next, o)
			kept[o] = true
			continue
		}
		next = append(next, m.newMember(p, b))
	}
	for _, o := range old {
		if !kept[o] {
			gone = append(gone, o)
		}
	}
	p.members.Store(&next)
	return gone
}

// pick chooses a member for the next try, skipping the backends already
// tried by this request and those ejected; when every untried one is
// ejected it takes one of those anyway (the panic mode of Envoy: better a
// likely failure than a certain one). nil when nothing is left.
func (p *pool) pick(tried []*backend) *member {
	ms := p.list()
	if len(ms) == 0 {
		return nil
	}
	if m := p.pickFrom(ms, tried, true); m != nil {
		return m
	}
	return p.pickFrom(ms, tried, false)
}

func (p *pool) pickFrom(ms []*member, tried []*backend, skipEjected bool) *member {
	eligible := func(m *member) bool {
		if m.b.gone.Load() {
			return false
		}
		for _, t := range tried {
			if t == m.b {
				return false
			}
		}
		return !skipEjected || !m.b.isEjected(0)
	}
	n := uint64(len(ms))
	switch p.balance {
	case Weighted:
		return p.smoothWeighted(ms, eligible)
	case LeastRequests:
		start := p.next.Add(1)
		var best *member
		var bestLoad, bestWeight int64
		for i := uint64(0); i < n; i++ {
			m := ms[(start+i)%n]
			if !eligible(m) {
				continue
			}
			load, w := m.b.inflight.Load(), m.b.weight.Load()
			// load/w < bestLoad/bestWeight without division.
			if best == nil || load*bestWeight < bestLoad*w {
				best, bestLoad, bestWeight = m, load, w
			}
		}
		return best
	default:
		start := p.next.Add(1) - 1
		for i := uint64(0); i < n; i++ {
			if m := ms[(start+i)%n]; eligible(m) {
				return m
			}
		}
		return nil
	}
}

// smoothWeighted is nginx's smooth weighted round robin over the eligible
// members: each gains its weight, the largest is chosen and loses the
// total.
func (p *pool) smoothWeighted(ms []*member, eligible func(*member) bool) *member {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *member
	var total int64
	for _, m := range ms {
		if !eligible(m) {
			continue
		}
		w := m.b.weight.Load()
		total += w
		m.current += w
		if best == nil || m.current > best.current {
			best = m
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}
