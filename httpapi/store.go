package httpapi

import (
	"context"
	"io"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// Store is what the HTTP front end needs from the replicated catalog. The
// replication layer (raftstore) implements it; tests may fake it. No Raft
// type crosses this seam. Every method taking a context gets the caller's
// identity in it (empty until ACLs exist).
//
// Write methods return store.ErrNotLeader on a follower (the front end
// forwards the request to Leader().HTTPAddr), store.ErrNoLeader when no
// leader is known, and return only after the write is applied locally.
type Store interface {
	// Catalog is the local applied state, read without going through Raft.
	Catalog() *registry.Catalog
	// Register validates and replicates a registration and returns the
	// stored instance and the index at which it was applied.
	Register(ctx context.Context, inst registry.Instance) (registry.Instance, uint64, error)
	// Deregister removes an instance (unknown ids succeed) and tombstones its id.
	Deregister(ctx context.Context, service, id string) (uint64, error)
	// SetMaintenance puts an instance in maintenance (enable, with reason)
	// or takes it out, and returns the stored instance and the index the
	// command was applied at; registry.ErrNotFound for an unknown instance.
	// An empty service names the instance by id alone.
	SetMaintenance(ctx context.Context, service, id string, enable bool, reason string) (registry.Instance, uint64, error)
	// Heartbeat renews leases on the leader. errs has one entry per
	// heartbeat: nil, registry.ErrNotFound or registry.ErrGone. err is
	// ErrNotLeader, ErrNoLeader or ErrNotArmed for the whole call. index is
	// the applied index after any status writes.
	Heartbeat(ctx context.Context, hbs []api.BatchHeartbeat) (errs []error, index uint64, err error)
	// ConsistentRead confirms leadership and waits until the local state has
	// applied everything committed before the call (linearizable reads).
	ConsistentRead(ctx context.Context) error
	// WaitApplied blocks until the local state has applied index.
	WaitApplied(ctx context.Context, index uint64) error
	// WaitLeaderApplied is WaitApplied for a forwarded write's answer: the
	// leader applied index, and its log's entry there has term (0: not
	// known). A follower uses that word to apply the entry sooner; a word
	// that does not match its own log changes nothing.
	WaitLeaderApplied(ctx context.Context, index, term uint64) error
	// EntryTerm is the term of the local log's entry at index, 0 when the
	// log does not hold it: what a leader tells with a forwarded answer.
	EntryTerm(index uint64) uint64
	// IsLeader reports whether this server is the Raft leader.
	IsLeader() bool
	// ReadStatus is the cheap view of leadership that every read answer
	// carries (X-Roster-Known-Leader, X-Roster-Last-Contact): whether a leader
	// is known, and milliseconds since this server last heard from it (0 on
	// the leader, -1 when it never has). It must not allocate.
	ReadStatus() (knownLeader bool, lastContactMs int64)
	// Leader describes the known leader, with its HTTP address from gossip.
	Leader() api.Leader
	// Members lists gossip members with their Raft roles.
	Members() []api.Member
	// Raft describes the Raft configuration and this server's progress.
	Raft() api.RaftInfo
	// Health describes every server as the leader judges it (healthy or
	// not and why, last contact, index, voter); ErrNotLeader on a follower.
	Health(ctx context.Context) (api.ClusterHealth, error)
	// Leases reports the lease table.
	Leases() api.LeaseState
	// Ready returns nil when this server can serve (leader known, last
	// contact under 2s, applied within 250 of the commit index), else why not.
	Ready() error
	// Backup writes a consistent snapshot of the catalog (with a checksum).
	Backup(ctx context.Context, w io.Writer) error
	// Restore replaces the catalog with a backup (leader only).
	Restore(ctx context.Context, r io.Reader) error
	// Leave makes this server leave the cluster gracefully.
	Leave(ctx context.Context) error
	// RemovePeer removes a server from the Raft configuration (leader only).
	RemovePeer(ctx context.Context, id string) error
}
