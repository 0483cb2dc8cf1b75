// Package lease is the leader's TTL lease table (etcd's lessor, for
// Roster): a deadline per leased instance in memory only, renewals that cost
// no Raft write while the status is unchanged, expiry and reaping decided
// with the leader's clock and handed to the replication layer as commands,
// re-arming at now + TTL when a server gains leadership, and mass-expiry
// protection. It reads the catalog (registry) and writes nothing itself.
package lease

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// Config tunes the lease table. Zero values take the defaults of
// design.md.
type Config struct {
	// Now is the clock (monotonic readings); time.Now by default.
	Now func() time.Time
	// ProtectMinServices and ProtectMinLeases: mass-expiry protection only
	// trips when renewals stop across more than half of the services
	// holding established leases, at least this many services (3), with at
	// least this many late leases (10).
	ProtectMinServices int
	ProtectMinLeases   int
	// MaxPause ends a protection pause at the latest (15m).
	MaxPause time.Duration
	// BatchSize caps the ids handed out by one Due call (1000).
	BatchSize int
	// RatePerSecond caps expiries handed out per second (10000).
	RatePerSecond int
	// ClockJump: a gap this long between two Due calls means this process was
	// paused (GC, SIGSTOP, slow disk); the table re-arms instead of expiring
	// (default 5s).
	ClockJump time.Duration
	// Catalog lets Renew answer precisely for instances that hold no lease
	// (no TTL). Without it (until Reset gives one) Renew cannot tell such
	// an instance from an unknown one and answers write=true, leaving it to
	// the caller, which has checked that the instance is registered; the
	// write is a no-op in Apply when nothing changed.
	Catalog *registry.Catalog
	// Logger receives the table's decisions (arming, pauses, clock jumps,
	// expiries); discarded when nil.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultProtectMinServices = 3
	DefaultProtectMinLeases   = 10
	DefaultMaxPause           = 15 * time.Minute
	DefaultBatchSize          = 1000
	DefaultRatePerSecond      = 10000
	DefaultClockJump          = 5 * time.Second
)

// expiryRetry is how long an expiry or reap handed out by Due waits for its
// write to come back through Observe before Due hands it out again.
const expiryRetry = 5 * time.Second

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ProtectMinServices <= 0 {
		c.ProtectMinServices = DefaultProtectMinServices
	}
	if c.ProtectMinLeases <= 0 {
		c.ProtectMinLeases = DefaultProtectMinLeases
	}
	if c.MaxPause <= 0 {
		c.MaxPause = DefaultMaxPause
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	if c.ClockJump <= 0 {
		c.ClockJump = DefaultClockJump
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// role is where the table stands in a leadership term.
type role uint8

const (
	roleNew      role = iota // never led: store.ErrNotArmed, State shows a follower
	roleElected              // leader, not yet re-armed: store.ErrNotArmed
	roleArmed                // leader with every lease armed
	roleFollower             // demoted: store.ErrNotLeader
)

// lease is one instance the table tracks: it holds a TTL, or it is critical
// with a deregister_after (a reap deadline), or both.
//
// The table holds one per leased instance, a million on a big cluster, so
// the fields are as small as they can be: a one-byte status, 4-byte heap
// positions, the id and service strings shared with the catalog.
type lease struct {
	id, service   string
	ttl           time.Duration
	deregAfter    time.Duration
	output        string
	criticalSince int64 // leader wall clock, unix ns
	outputAt      tick  // last write of the output (or decision to write it); 0: never

	deadline tick // TTL deadline while armed
	// heapAt is the deadline the lease is filed under in Lessor.exp; a
	// renewal only moves deadline, and Due refiles a lease whose heapAt
	// passed but deadline did not. So Renew is O(1) and a lease is refiled
	// at most once per TTL. Always heapAt <= deadline.
	heapAt  tick
	reapAt  tick  // reap deadline while armed
	expPos  int32 // in Lessor.exp: armed, not yet due
	duePos  int32 // in Lessor.due: deadline passed, awaiting expiry
	reapPos int32 // in Lessor.reap
	latePos int32 // in Lessor.late: established, next renewal not yet overdue

	// Renewal rhythm, for mass-expiry protection (lease_protect.go):
	// armedAt is when this leader armed the TTL, lastRenew the last
	// renewal, interval the learned gap between renewals; lateAt is when
	// the next renewal is overdue, lateKey the point it is filed under in
	// Lessor.late (lazily moved, like heapAt).
	armedAt, lastRenew, interval, lateAt, lateKey tick
	renewals                                      uint8
	established, late                             bool

	expiring bool // handed out by Due, the critical write not seen yet
	reaping  bool // handed out by Due, the removal not seen yet
	status   status
}

func (l *lease) critical() bool { return l.status == statusCritical }

// status is an instance's api.Status in one byte.
type status uint8

const (
	statusPassing status = iota
	statusWarning
	statusCritical
)

// statusOf encodes a stored status (the catalog holds only the three; an
// empty one means passing, as everywhere).
func statusOf(s api.Status) status {
	switch s {
	case api.StatusWarning:
		return statusWarning
	case api.StatusCritical:
		return statusCritical
	}
	return statusPassing
}

func (s status) api() api.Status {
	switch s {
	case statusWarning:
		return api.StatusWarning
	case statusCritical:
		return api.StatusCritical
	}
	return api.StatusPassing
}

// Lessor is the TTL lease table: deadlines held in memory by the leader only
// (never replicated), an expiry min-heap, re-arm on promotion, mass-expiry
// protection and rate-limited, batched expiry. Every server feeds it the
// catalog's changes (Observe) so a new leader's table is complete; only the
// leader arms deadlines (Promote) and hands out due work (Due). Safe for
// concurrent use.
//
// Mass-expiry protection, precisely (lease_protect.go): only established
// leases count (renewed a few times over at least two TTLs on this leader),
// each learns its renewal interval, and one whose renewal is half an
// interval overdue is late. When more than half of the services holding
// established leases have more than half of them late, at least
// ProtectMinServices services and ProtectMinLeases late leases, Due pauses
// expiry: this is seen well before the first lease of such a wave runs out
// its TTL. While paused, renewals go on and nothing is expired or reaped
// (an instance that turned critical during a network fault is no more dead
// than the rest). The pause ends when renewals recover (the condition no
// longer holds): then every lease is re-armed at now + TTL, so the ones
// whose renewal is still on its way are not expired at once; or after
// MaxPause, when the due leases expire at the rate limit and protection
// re-arms once the condition has cleared. One service losing all its
// instances never trips it unless it is more than half of the services
// and meets the minimums; fresh or never-renewed leases never do.
type Lessor struct {
	cfg Config
	log *slog.Logger

	// base is the origin of the table's ticks: a day before it was made, so
	// that every reading of the clock is a positive tick and 0 can mean
	// "never".
	base      time.Time
	mu        sync.Mutex
	cat       *registry.Catalog
	role      role
	leases    map[string]*lease
	svcLeases map[string]int  // service -> TTL leases held
	outputs   map[string]tick // last output write of instances without a lease
	exp       leaseHeap       // by deadline: armed TTL leases not critical and not due
	due       leaseHeap       // by deadline: fell due, awaiting expiry
	reap      leaseHeap       // by reapAt
	late      leaseHeap       // by lateKey: established leases, for mass-expiry protection
	ren       renewals
	prot      protection

	lastDue  time.Time // last Due (or Promote): clock-jump detection
	tokens   float64
	tokensAt time.Time

	expired, reaped, jumps, pauses uint64
	lastJump                       time.Time
}

// NewLessor returns an empty, demoted lease table.
func NewLessor(cfg Config) *Lessor {
	cfg = cfg.withDefaults()
	return &Lessor{
		cfg:       cfg,
		base:      cfg.Now().Add(-24 * time.Hour),
		log:       cfg.Logger,
		cat:       cfg.Catalog,
		role:      roleNew,
		leases:    make(map[string]*lease),
		svcLeases: make(map[string]int),
		outputs:   make(map[string]tick),
		exp:       newLeaseHeap(func(l *lease) tick { return l.heapAt }, func(l *lease) *int32 { return &l.expPos }),
		due:       newLeaseHeap(func(l *lease) tick { return l.deadline }, func(l *lease) *int32 { return &l.duePos }),
		reap:      newLeaseHeap(func(l *lease) tick { return l.reapAt }, func(l *lease) *int32 { return &l.reapPos }),
		late:      newLeaseHeap(func(l *lease) tick { return l.lateKey }, func(l *lease) *int32 { return &l.latePos }),
		ren:       newRenewals(),
	}
}

// Elected moves the table to "leader, not yet armed": Renew answers
// store.ErrNotArmed (retry later) instead of store.ErrNotLeader until Promote, and State
// shows a leader that has not re-armed. Call it as soon as this server wins
// an election, before the barrier. Optional: a new table starts answering
// store.ErrNotArmed.
func (l *Lessor) Elected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role != roleArmed {
		l.role = roleElected
	}
}

// Observe records what one Apply changed: new or changed TTLs, removed
// instances, status moves into or out of critical (reap deadlines). Called by
// the replication layer after every Apply, on every server, in log order.
// It costs a map lookup and at most a few heap operations per change.
func (l *Lessor) Observe(changes []registry.Change) {
	if len(changes) == 0 {
		return
	}
	now := l.tick(l.cfg.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range changes {
		l.observe(&changes[i], now)
	}
}

func (l *Lessor) observe(ch *registry.Change, now tick) {
	in := &ch.Instance
	le := l.leases[in.ID]
	if ch.Kind == registry.ChangeRemove {
		delete(l.outputs, in.ID)
		if le != nil {
			if le.reaping {
				l.reaped++
			}
			l.drop(le)
		}
		return
	}
	if !registry.Leased(in) {
		if le != nil {
			l.drop(le)
			if in.Output != "" {
				l.outputs[in.ID] = le.outputAt
			}
		}
		return
	}
	if le == nil {
		le = &lease{id: in.ID, service: in.Service, expPos: -1, duePos: -1, reapPos: -1, latePos: -1}
		l.leases[in.ID] = le
		if out, ok := l.outputs[in.ID]; ok {
			le.outputAt = out
			delete(l.outputs, in.ID)
		}
		l.update(le, in, now, true)
		return
	}
	l.update(le, in, now, false)
}

// update copies an instance's lease fields into le and, while armed, moves
// its deadlines: a new or changed TTL (or leaving critical) arms now + TTL,
// turning critical stops the TTL and arms the reap deadline.
func (l *Lessor) update(le *lease, in *registry.Instance, now tick, fresh bool) {
	if in.Output != le.output || fresh && in.Output != "" {
		le.outputAt = now
	}
	wasCritical := le.critical()
	ttlChanged := fresh || in.TTL != le.ttl
	reapChanged := fresh || in.DeregisterAfter != le.deregAfter || in.CriticalSince != le.criticalSince
	if (le.ttl > 0) != (in.TTL > 0) || fresh && in.TTL > 0 {
		if in.TTL > 0 {
			l.svcLeases[in.Service]++
		} else if !fresh {
			l.releaseService(le.service)
		}
	}
	le.ttl, le.deregAfter = in.TTL, in.DeregisterAfter
	le.status, le.output, le.criticalSince = statusOf(in.Status), in.Output, in.CriticalSince
	if le.critical() && !wasCritical && le.expiring {
		l.expired++
	}
	if le.critical() {
		le.expiring = false
	}
	if l.role != roleArmed {
		return
	}
	switch {
	case le.critical() || le.ttl == 0:
		l.unarmTTL(le)
		l.forgetRenewals(le)
	case ttlChanged || wasCritical:
		if !le.established {
			le.armedAt = now
		}
		l.armTTL(le, now+tick(le.ttl))
	}
	switch {
	case !le.critical() || le.deregAfter == 0:
		l.reap.remove(le)
		le.reaping = false
	case reapChanged || !wasCritical || !l.reap.has(le):
		le.reapAt = l.wallTick(now, registry.SatAdd(le.criticalSince, le.deregAfter))
		l.reap.push(le)
	}
}

func (l *Lessor) releaseService(svc string) {
	if n := l.svcLeases[svc] - 1; n > 0 {
		l.svcLeases[svc] = n
	} else {
		delete(l.svcLeases, svc)
	}
}

// drop forgets a lease entirely.
func (l *Lessor) drop(le *lease) {
	l.forgetRenewals(le)
	l.unarmTTL(le)
	l.reap.remove(le)
	if le.ttl > 0 {
		l.releaseService(le.service)
	}
	delete(l.leases, le.id)
}

// armTTL sets the TTL deadline and files the lease as not due.
func (l *Lessor) armTTL(le *lease, deadline tick) {
	l.due.remove(le)
	le.deadline = deadline
	switch {
	case !l.exp.has(le):
		le.heapAt = deadline
		l.exp.push(le)
	case deadline < le.heapAt:
		le.heapAt = deadline
		l.exp.fix(le)
	}
}

func (l *Lessor) unarmTTL(le *lease) {
	l.exp.remove(le)
	l.due.remove(le)
}

// tick is a reading of the table's clock: nanoseconds since Lessor.base
// (8 bytes where a time.Time takes 24, five times per lease).
type tick int64

func (l *Lessor) tick(t time.Time) tick { return tick(t.Sub(l.base)) }

// wallTick converts a leader wall-clock time (unix ns) to a tick: the tick
// now plus how far the wall time is from now's wall time. The wall time of
// tick now is base's wall time plus now.
func (l *Lessor) wallTick(now tick, wall int64) tick {
	return now + tick(wall-(l.base.UnixNano()+int64(now)))
}

// Reset rebuilds the table from the catalog after a restore, and makes the
// catalog the one Renew consults for instances without a lease. While armed
// every lease is re-armed as by Promote.
//
// The new leases are built before the table's lock is taken (never the
// catalog's lock and the table's together: Renew takes them the other way),
// and only they are kept, not a copy of every instance: at a million
// instances such a copy was 180 MB on top of the restored catalog.
func (l *Lessor) Reset(c *registry.Catalog) {
	var fresh []*lease
	c.ForEachLeased(func(in registry.Instance) {
		fresh = append(fresh, &lease{id: in.ID, service: in.Service, expPos: -1, duePos: -1, reapPos: -1, latePos: -1,
			ttl: in.TTL, deregAfter: in.DeregisterAfter, status: statusOf(in.Status), output: in.Output,
			criticalSince: in.CriticalSince})
	})
	leases := make(map[string]*lease, len(fresh))
	svcLeases := make(map[string]int)
	for _, le := range fresh {
		leases[le.id] = le
		if le.ttl > 0 {
			svcLeases[le.service]++
		}
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cat = c
	l.exp.clear()
	l.due.clear()
	l.reap.clear()
	l.late.clear()
	l.ren.reset()
	l.leases, l.svcLeases = leases, svcLeases
	clear(l.outputs)
	if l.role == roleArmed {
		l.armAll(l.tick(now))
	}
	l.log.Info("lease table rebuilt from the catalog", "leases", len(l.leases), "index", c.Index())
}

// Promote arms the table on a new leader, after its barrier: every lease is
// due at now + TTL and every reap at max(critical_since + deregister_after,
// now + TTL). From then on Renew works and Due hands out work.
func (l *Lessor) Promote() {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.role = roleArmed
	l.prot = protection{}
	l.forgetAllRenewals()
	l.armAll(l.tick(now))
	l.lastDue = now
	l.tokens, l.tokensAt = float64(l.cfg.RatePerSecond), now
	l.log.Info("lease table armed", "leases", l.exp.len(), "reaps", l.reap.len())
}

// armAll re-arms every lease at now + TTL and every reap at no earlier than
// that.
func (l *Lessor) armAll(now tick) {
	l.exp.clear()
	l.due.clear()
	l.reap.clear()
	exp := make([]*lease, 0, len(l.leases))
	var reap []*lease
	for _, le := range l.leases {
		le.expiring, le.reaping = false, false
		if !le.established {
			le.armedAt = now
		}
		if le.ttl > 0 && !le.critical() {
			le.deadline = now + tick(le.ttl)
			le.heapAt = le.deadline
			exp = append(exp, le)
		}
		if le.critical() && le.deregAfter > 0 {
			le.reapAt = max(l.wallTick(now, registry.SatAdd(le.criticalSince, le.deregAfter)), now+tick(le.ttl))
			reap = append(reap, le)
		}
	}
	l.exp.init(exp)
	l.reap.init(reap)
}

// Demote disarms the table when this server stops leading.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role == roleFollower {
		return
	}
	l.role = roleFollower
	l.exp.clear()
	l.due.clear()
	l.reap.clear()
	l.forgetAllRenewals()
	l.prot = protection{}
	for _, le := range l.leases {
		le.expiring, le.reaping = false, false
	}
	l.log.Info("lease table disarmed", "leases", len(l.leases))
}

// forgetAllRenewals drops every lease's renewal rhythm: a leadership
// change starts the history afresh.
func (l *Lessor) forgetAllRenewals() {
	l.late.clear()
	l.ren.reset()
	for _, le := range l.leases {
		le.established, le.late = false, false
		le.renewals, le.interval, le.lastRenew = 0, 0, 0
	}
}

// Renew is the renewal of Heartbeats for one id, without the service and
// tombstone checks (which need the caller's view of the catalog): it
// extends one lease to now + TTL and reports whether the renewal needs
// a Raft write: when status differs from the stored status, or when output
// differs and the last output write for the instance is 5 minutes old or
// more. Errors: store.ErrNotArmed before Promote (or after Demote: store.ErrNotLeader),
// registry.ErrNotFound for an id that holds no lease and is not registered.
//
// An empty status means passing, so renewing an instance that expired
// (critical) turns it passing again with one write. Output is compared as
// Apply stores it (cut to registry.MaxOutput). An invalid status is a
// *ValidationError.
func (l *Lessor) Renew(id string, status api.Status, output string) (write bool, err error) {
	if err := registry.ValidateStatus("status", status); err != nil {
		return false, err
	}
	if status == "" {
		status = api.StatusPassing
	}
	output = registry.CleanOutput(output)
	now := l.tick(l.cfg.Now())
	l.mu.Lock()
	if err := l.armedErr(); err != nil {
		l.mu.Unlock()
		return false, err
	}
	if le := l.leases[id]; le != nil {
		defer l.mu.Unlock()
		return l.renewLocked(&registry.Instance{ID: id}, status, output, now), nil
	}
	cat := l.cat
	l.mu.Unlock()

	// No lease: the catalog knows whether it is registered at all. Never
	// look it up while holding l.mu (Reset takes the locks the other way).
	if cat == nil {
		return true, nil
	}
	in, ok := cat.Instance(id)
	if !ok {
		return false, fmt.Errorf("renew %s: %w", id, registry.ErrNotFound)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewLocked(&in, status, output, now), nil
}

func (l *Lessor) armedErr() error {
	switch l.role {
	case roleNew, roleElected:
		return store.ErrNotArmed
	case roleFollower:
		return store.ErrNotLeader
	}
	return nil
}

// decideWrite says whether a renewal must be written: a status change at
// once, a change of output alone at most once per registry.OutputWriteInterval.
func decideWrite(stored api.Status, storedOut string, status api.Status, output string, outputAt *tick, now tick) bool {
	if status != stored {
		if output != storedOut {
			*outputAt = now
		}
		return true
	}
	if output != storedOut && (*outputAt == 0 || now-*outputAt >= tick(registry.OutputWriteInterval)) {
		*outputAt = now
		return true
	}
	return false
}

// Due returns the leases that expired (to be marked critical) and the
// instances whose deregister_after passed (to be reaped), at most BatchSize
// ids each and within the rate limit, unless protection holds expiry back or
// the clock jumped (then it re-arms and returns nothing). The caller confirms
// leadership before writing what Due returns.
//
// What Due hands out is expected back through Observe (the instance turns
// critical, or goes); if it has not come back after a few seconds (the
// write failed), Due hands it out again.
func (l *Lessor) Due() (expire []string, reap []string) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role != roleArmed {
		return nil, nil
	}
	if gap := now.Sub(l.lastDue); gap > l.cfg.ClockJump {
		l.lastDue = now
		l.jumps++
		l.lastJump = now
		l.armAll(l.tick(now))
		l.restartRhythms(l.tick(now))
		l.log.Warn("lease clock jumped: re-armed every lease instead of expiring",
			"gap", gap, "threshold", l.cfg.ClockJump, "leases", l.exp.len(), "reaps", l.reap.len())
		return nil, nil
	}
	l.lastDue = now
	l.refill(now)
	t := l.tick(now)

	for le := l.exp.peek(); le != nil && le.heapAt <= t; le = l.exp.peek() {
		if le.deadline > t { // renewed since it was filed
			le.heapAt = le.deadline
			l.exp.fix(le)
			continue
		}
		l.exp.remove(le)
		l.due.push(le)
	}
	l.markLate(t)
	if l.protect(now) {
		return nil, nil
	}

	budget := min(l.cfg.BatchSize, int(l.tokens))
	for l.due.len() > 0 && len(expire) < budget {
		le := l.due.peek()
		l.due.remove(le)
		le.expiring = true
		le.deadline = t + tick(expiryRetry)
		le.heapAt = le.deadline
		l.exp.push(le)
		expire = append(expire, le.id)
	}
	budget = min(l.cfg.BatchSize, int(l.tokens)-len(expire))
	for le := l.reap.peek(); le != nil && le.reapAt <= t && len(reap) < budget; le = l.reap.peek() {
		le.reaping = true
		le.reapAt = t + tick(expiryRetry)
		l.reap.fix(le)
		reap = append(reap, le.id)
	}
	l.tokens -= float64(len(expire) + len(reap))
	if len(expire) > 0 || len(reap) > 0 {
		l.log.Info("leases due", "expire", len(expire), "reap", len(reap), "still_due", l.due.len())
	}
	return expire, reap
}

// refill adds the tokens earned since the last call, up to one second's
// worth.
func (l *Lessor) refill(now time.Time) {
	rate := float64(l.cfg.RatePerSecond)
	if el := now.Sub(l.tokensAt); el > 0 {
		l.tokens = min(rate, l.tokens+el.Seconds()*rate)
	}
	l.tokensAt = now
}

// State reports the table for GET /v1/cluster/leases and metrics.
func (l *Lessor) State() api.LeaseState {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role == roleFollower || l.role == roleNew {
		return api.LeaseState{}
	}
	st := api.LeaseState{
		Leader:  true,
		Armed:   l.role == roleArmed,
		Expired: l.expired,
		Reaped:  l.reaped,
	}
	for _, n := range l.svcLeases {
		st.Leases += n
	}
	if st.Armed {
		t := l.tick(now)
		st.Pending = l.due.len() + l.exp.countDue(t, func(le *lease) bool { return le.deadline <= t }) +
			l.reap.countDue(t, nil)
	}
	if l.prot.paused {
		st.Paused = true
		st.PauseReason = l.prot.reason
		st.PausedSince = l.prot.since.UTC().Format(time.RFC3339)
	}
	return st
}

// Stats are the lease table's counters beyond api.LeaseState, for
// metrics and logs.
type Stats struct {
	// Tracked is every instance the table tracks (TTL leases and critical
	// instances waiting to be reaped).
	Tracked int
	// LeasedServices is the number of services holding TTL leases.
	LeasedServices int
	// Due is the number of leases that fell due and wait for expiry.
	Due int
	// ClockJumps counts the re-arms caused by a gap between Due calls;
	// LastClockJump is the latest (zero if none).
	ClockJumps    uint64
	LastClockJump time.Time
	// Pauses counts mass-expiry protection pauses since the table was made.
	Pauses uint64
}

// Stats reports counters for metrics.
func (l *Lessor) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Tracked:        len(l.leases),
		LeasedServices: len(l.svcLeases),
		Due:            l.due.len(),
		ClockJumps:     l.jumps,
		LastClockJump:  l.lastJump,
		Pauses:         l.pauses,
	}
}
