package registry

import (
	"container/heap"
	"fmt"
	"time"
)

// window tracks, per service, the leases that are due now and those handed
// out for expiry less than their TTL ago and not renewed since: what
// mass-expiry protection measures.
type window struct {
	due     map[string]int
	dueN    int
	recent  map[string]int
	recentN int
	ends    endHeap
}

func newWindow() window {
	return window{due: make(map[string]int), recent: make(map[string]int)}
}

func (w *window) fallDue(svc string) {
	w.due[svc]++
	w.dueN++
}

func (w *window) undue(svc string) {
	w.dueN--
	dec(w.due, svc)
}

func dec(m map[string]int, key string) {
	if n := m[key] - 1; n > 0 {
		m[key] = n
	} else {
		delete(m, key)
	}
}

// expire moves a lease from due to recently expired until end.
func (w *window) expire(le *lease, end tick) {
	w.undue(le.service)
	if le.recentEnd == 0 {
		w.recent[le.service]++
		w.recentN++
	}
	le.recentEnd = end
	heap.Push(&w.ends, windowEnd{at: end, le: le})
}

// revive takes a lease out of the recent expiries: it was renewed (or it
// is gone).
func (w *window) revive(le *lease) {
	if le.recentEnd == 0 {
		return
	}
	le.recentEnd = 0
	w.recentN--
	dec(w.recent, le.service)
}

// age forgets the expiries whose TTL window has passed.
func (w *window) age(now tick) {
	for len(w.ends) > 0 && w.ends[0].at <= now {
		e := heap.Pop(&w.ends).(windowEnd)
		if e.le.recentEnd == e.at {
			w.revive(e.le)
		}
	}
}

// services counts the services with a lease due or recently expired.
func (w *window) services() int {
	n := len(w.due)
	for svc := range w.recent {
		if _, ok := w.due[svc]; !ok {
			n++
		}
	}
	return n
}

func (w *window) clearDue() {
	clear(w.due)
	w.dueN = 0
}

func (w *window) forgetRecent() {
	for _, e := range w.ends {
		e.le.recentEnd = 0
	}
	clear(w.recent)
	w.recentN = 0
	clear(w.ends)
	w.ends = w.ends[:0]
}

func (w *window) reset() {
	w.clearDue()
	w.forgetRecent()
}

type windowEnd struct {
	at tick
	le *lease
}

type endHeap []windowEnd

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(windowEnd)) }
func (h *endHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = windowEnd{}
	*h = old[:len(old)-1]
	return e
}

// protection is the state of mass-expiry protection.
type protection struct {
	paused bool
	since  time.Time
	reason string
	// off: a pause ended at MaxPause; protection stays off until the
	// condition clears, so the backlog expires instead of pausing again.
	off bool
}

// trips is the signature of a network fault between clients and the
// cluster (design.md, "Mass-expiry protection").
func (l *Lessor) trips(services, leases int) bool {
	return services*2 > len(l.svcLeases) &&
		services >= l.cfg.ProtectMinServices && leases >= l.cfg.ProtectMinLeases
}

// protect updates the protection state and reports whether expiry is held
// back now.
func (l *Lessor) protect(now time.Time) bool {
	p := &l.prot
	if p.paused {
		switch {
		case now.Sub(p.since) >= l.cfg.MaxPause:
			p.paused, p.off = false, true
			l.log.Warn("lease expiry resumed: protection reached its maximum pause",
				"max_pause", l.cfg.MaxPause, "due", l.win.dueN, "due_services", len(l.win.due))
			return false
		case !l.trips(l.win.services(), l.win.dueN+l.win.recentN):
			p.paused = false
			l.log.Info("lease expiry resumed: renewals recovered",
				"paused_for", now.Sub(p.since), "due", l.win.dueN, "expired_unrenewed", l.win.recentN,
				"services", l.win.services())
			l.win.forgetRecent()
			return false
		}
		return true
	}
	services, leases := l.win.services(), l.win.dueN+l.win.recentN
	tripped := l.trips(services, leases)
	if p.off {
		p.off = tripped
		return false
	}
	if !tripped || l.win.dueN == 0 {
		return false
	}
	p.paused, p.since = true, now
	p.reason = fmt.Sprintf("leases of %d of %d leased services (%d leases) fell due within one TTL: "+
		"the signature of a network fault between clients and the cluster", services, len(l.svcLeases), leases)
	l.pauses++
	l.log.Warn("lease expiry paused (mass-expiry protection)", "services", services,
		"leased_services", len(l.svcLeases), "leases", leases, "max_pause", l.cfg.MaxPause)
	return true
}
