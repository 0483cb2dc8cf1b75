package registry

import (
	"time"

	"github.com/rosterhq/roster/api"
)

// LeaseConfig tunes the lease table. Zero values take the defaults of
// design.md.
type LeaseConfig struct {
	// Now is the clock (monotonic readings); time.Now by default.
	Now func() time.Time
	// ProtectMinServices and ProtectMinLeases: mass-expiry protection only
	// trips when leases fall due, within one TTL window, across more than
	// half of the services holding leases and at least this many services
	// (3) and leases (10).
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
}

// Lessor is the TTL lease table: deadlines held in memory by the leader only
// (never replicated), an expiry min-heap, re-arm on promotion, mass-expiry
// protection and rate-limited, batched expiry. Every server feeds it the
// catalog's changes (Observe) so a new leader's table is complete; only the
// leader arms deadlines (Promote) and hands out due work (Due). Safe for
// concurrent use.
type Lessor struct{}

// NewLessor returns an empty, demoted lease table.
func NewLessor(cfg LeaseConfig) *Lessor { panic("unimplemented") }

// Observe records what one Apply changed: new or changed TTLs, removed
// instances, status moves into or out of critical (reap deadlines). Called by
// the replication layer after every Apply, on every server, in log order.
func (l *Lessor) Observe(changes []Change) { panic("unimplemented") }

// Reset rebuilds the table from the catalog after a restore.
func (l *Lessor) Reset(c *Catalog) { panic("unimplemented") }

// Promote arms the table on a new leader, after its barrier: every lease is
// due at now + TTL and every reap at max(critical_since + deregister_after,
// now + TTL). From then on Renew works and Due hands out work.
func (l *Lessor) Promote() { panic("unimplemented") }

// Demote disarms the table when this server stops leading.
func (l *Lessor) Demote() { panic("unimplemented") }

// Renew extends one lease to now + TTL and reports whether the renewal needs
// a Raft write: when status differs from the stored status, or when output
// differs and the last output write for the instance is 5 minutes old or
// more. Errors: ErrNotArmed before Promote (or after Demote: ErrNotLeader),
// ErrNotFound for an id that holds no lease and is not registered.
func (l *Lessor) Renew(id string, status api.Status, output string) (write bool, err error) { panic("unimplemented") }

// Due returns the leases that expired (to be marked critical) and the
// instances whose deregister_after passed (to be reaped), at most BatchSize
// ids each and within the rate limit, unless protection holds expiry back or
// the clock jumped (then it re-arms and returns nothing). The caller confirms
// leadership before writing what Due returns.
func (l *Lessor) Due() (expire []string, reap []string) { panic("unimplemented") }

// State reports the table for GET /v1/cluster/leases and metrics.
func (l *Lessor) State() api.LeaseState { panic("unimplemented") }
