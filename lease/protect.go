package lease

import (
	"fmt"
	"time"
)

// Mass-expiry protection watches renewals, not expiries (Eureka's expected
// against actual renewals, kept per service). Only established leases count:
// those renewed at least establishedRenewals times and armed for at least
// establishedTTLs of their TTL on this leader, so a burst of new
// registrations, or leases abandoned at birth, never trip it. Each
// established lease learns its renewal interval; one whose next renewal is
// lateFactor of that interval overdue is late, long before its TTL runs out
// (the Go client renews every third of a TTL). A service is silent when more
// than half of its established leases are late; expiry pauses when the
// silent services are more than half of the services holding established
// leases, at least ProtectMinServices of them, with at least
// ProtectMinLeases late leases: the signature of a network fault between
// clients and the cluster, seen before the first lease of the wave expires.
const (
	establishedRenewals = 3
	establishedTTLs     = 2
	// lateFactor (as a fraction lateNum/lateDen) of the learned interval
	// makes a renewal overdue; the Go client jitters its interval by 20%.
	lateNum, lateDen = 3, 2
)

// svcRenewals counts one service's established leases and how many of
// them are late.
type svcRenewals struct {
	leases, late int
}

func (s svcRenewals) silent() bool { return s.late*2 > s.leases }

// renewals is the per-service renewal tracking of the lease table.
type renewals struct {
	svc    map[string]*svcRenewals
	silent int // services with svcRenewals.silent
	late   int // late established leases
	leases int // established leases
}

func newRenewals() renewals {
	return renewals{svc: make(map[string]*svcRenewals)}
}

// adjust changes a service's counts and keeps silent in step.
func (r *renewals) adjust(service string, dLeases, dLate int) {
	s := r.svc[service]
	if s == nil {
		s = &svcRenewals{}
		r.svc[service] = s
	}
	was := s.silent()
	s.leases += dLeases
	s.late += dLate
	r.leases += dLeases
	r.late += dLate
	now := s.silent()
	if s.leases == 0 {
		delete(r.svc, service)
		now = false
	}
	switch {
	case was && !now:
		r.silent--
	case !was && now:
		r.silent++
	}
}

func (r *renewals) reset() {
	clear(r.svc)
	r.silent, r.late, r.leases = 0, 0, 0
}

// renewed records a sign of life of an armed TTL lease: it learns the
// renewal interval, establishes the lease once it has shown a steady
// rhythm, and files its next late point.
func (l *Lessor) renewed(le *lease, now tick) {
	if le.late {
		le.late = false
		l.ren.adjust(le.service, 0, -1)
	}
	if le.lastRenew != 0 {
		// A gap beyond the TTL is an outage, not a rhythm.
		if gap := now - le.lastRenew; gap > 0 && gap <= tick(le.ttl) {
			if le.interval == 0 {
				le.interval = gap
			} else {
				le.interval = (3*le.interval + gap) / 4
			}
		}
	}
	le.lastRenew = now
	if le.renewals < establishedRenewals {
		le.renewals++
	}
	if !le.established && le.renewals >= establishedRenewals && le.interval > 0 &&
		now-le.armedAt >= tick(establishedTTLs)*tick(le.ttl) {
		le.established = true
		l.ren.adjust(le.service, 1, 0)
	}
	if !le.established {
		return
	}
	le.lateAt = now + min(le.interval*lateNum/lateDen, tick(le.ttl))
	if !l.late.has(le) {
		le.lateKey = le.lateAt
		l.late.push(le)
	}
}

// forgetRenewals drops a lease's rhythm: it expired, lost its TTL, went,
// or the table re-armed on a new leader (which has no history).
func (l *Lessor) forgetRenewals(le *lease) {
	if le.established {
		dLate := 0
		if le.late {
			dLate = -1
		}
		l.ren.adjust(le.service, -1, dLate)
	}
	l.late.remove(le)
	le.established, le.late = false, false
	le.renewals, le.interval, le.lastRenew = 0, 0, 0
}

// restartRhythms counts every established lease as renewed now, keeping
// the intervals learned: after a pause of this process (a clock jump) the
// renewals that arrived meanwhile were never seen, and the leases must not
// all look late at once.
func (l *Lessor) restartRhythms(now tick) {
	for _, le := range l.leases {
		if !le.established {
			continue
		}
		if le.late {
			le.late = false
			l.ren.adjust(le.service, 0, -1)
		}
		le.lastRenew = now
		le.lateAt = now + min(le.interval*lateNum/lateDen, tick(le.ttl))
		le.lateKey = le.lateAt
		l.late.push(le)
	}
}

// markLate moves the established leases whose renewal is overdue at t out
// of the late heap into the late counts.
func (l *Lessor) markLate(t tick) {
	for le := l.late.peek(); le != nil && le.lateKey <= t; le = l.late.peek() {
		if le.lateAt > t { // renewed since it was filed
			le.lateKey = le.lateAt
			l.late.fix(le)
			continue
		}
		l.late.remove(le)
		le.late = true
		l.ren.adjust(le.service, 0, 1)
	}
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
func (l *Lessor) trips() bool {
	r := &l.ren
	return r.silent*2 > len(r.svc) && r.silent >= l.cfg.ProtectMinServices && r.late >= l.cfg.ProtectMinLeases
}

// protect updates the protection state and reports whether expiry is held
// back now. When renewals recover it re-arms every lease at now + TTL, as a
// new leader does, so the instances whose renewal has not arrived yet get a
// full TTL instead of expiring at once.
func (l *Lessor) protect(now time.Time) bool {
	p := &l.prot
	r := &l.ren
	if p.paused {
		switch {
		case now.Sub(p.since) >= l.cfg.MaxPause:
			p.paused, p.off = false, true
			l.log.Warn("lease expiry resumed: protection reached its maximum pause",
				"max_pause", l.cfg.MaxPause, "due", l.due.len(), "late", r.late, "silent_services", r.silent)
			return false
		case !l.trips():
			p.paused = false
			l.armAll(l.tick(now))
			l.log.Info("lease expiry resumed: renewals recovered; every lease re-armed at now + TTL",
				"paused_for", now.Sub(p.since), "late", r.late, "silent_services", r.silent,
				"services", len(r.svc))
			return true
		}
		return true
	}
	tripped := l.trips()
	if p.off {
		p.off = tripped
		return false
	}
	if !tripped {
		return false
	}
	p.paused, p.since = true, now
	p.reason = fmt.Sprintf("renewals stopped across %d of %d services with established leases "+
		"(%d of %d leases late): the signature of a network fault between clients and the cluster",
		r.silent, len(r.svc), r.late, r.leases)
	l.pauses++
	l.log.Warn("lease expiry paused (mass-expiry protection)", "silent_services", r.silent,
		"services", len(r.svc), "late", r.late, "established", r.leases, "due", l.due.len(),
		"max_pause", l.cfg.MaxPause)
	return true
}
