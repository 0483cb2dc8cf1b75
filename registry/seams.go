// Package registry is the service catalog as a deterministic state machine:
// instances, health, per-service indexes, the commands that change them and
// their encoding, snapshot and restore, watch notification, and the TTL lease
// table that the leader drives. It knows nothing of networks or Raft.
package registry

import (
	"io"
	"time"

	"github.com/rosterhq/roster/api"
)

// Instance is one registered instance as the catalog holds it.
type Instance struct {
	Service         string
	ID              string
	Address         string
	Port            int
	Tags            []string
	Meta            map[string]string
	Weight          int
	Status          api.Status
	Output          string
	TTL             time.Duration // 0: no lease
	DeregisterAfter time.Duration // 0: never removed automatically
	// CriticalSince is the leader's wall clock (unix nanoseconds) when the
	// instance turned critical; 0 while it is not critical.
	CriticalSince int64
	CreateIndex   uint64
	ModifyIndex   uint64
}

// Filter selects instances by status for a listing.
type Filter uint8

// The status filters of a listing.
const (
	FilterHealthy  Filter = iota // passing and warning (the HTTP default)
	FilterPassing                // passing only (the DNS default)
	FilterWarning                // warning only
	FilterCritical               // critical only
	FilterAny                    // every instance
)

// ServiceView is an immutable picture of one service at one index. Readers
// share it without locks; the catalog replaces it on every change.
type ServiceView struct {
	Name  string
	Index uint64
	// Instances sorted by id. Never modify.
	Instances []Instance
	// unexported: lazily built encodings
}

// JSON returns the encoded api.InstanceList for the given status filter,
// built once per view on first use and shared after that.
func (v *ServiceView) JSON(f Filter) []byte { panic("unimplemented") }

// Select returns the instances matching the filter and, when tag is not
// empty, carrying that tag (case-sensitive exact match).
func (v *ServiceView) Select(f Filter, tag string) []Instance { panic("unimplemented") }

// ServicesView is an immutable picture of the service list.
type ServicesView struct {
	Index    uint64
	Services []api.ServiceSummary // sorted by name
}

// JSON returns the encoded api.ServiceList, built once per view.
func (v *ServicesView) JSON() []byte { panic("unimplemented") }

// Catalog is the state machine. Apply is called by one goroutine (the
// replication layer) in log order; the read methods are safe from any
// goroutine at any time and never block on Apply for long.
type Catalog struct{}

// New returns an empty catalog.
func New() *Catalog { panic("unimplemented") }

// Apply applies one encoded command at the given log index and returns its
// result. It is deterministic: the same commands at the same indexes give the
// same state on every server.
func (c *Catalog) Apply(index uint64, data []byte) *Result { panic("unimplemented") }

// Snapshot captures the state for persistence; cheap to take, safe to
// persist concurrently with later Applies.
func (c *Catalog) Snapshot() *Snapshot { panic("unimplemented") }

// Restore replaces the whole state with a persisted snapshot taken at
// snapshotIndex. Every service index (and the service-index table) rises to
// at least snapshotIndex so that watchers never go backwards; every watcher
// is woken.
func (c *Catalog) Restore(r io.Reader, snapshotIndex uint64) error { panic("unimplemented") }

// Index is the last applied log index.
func (c *Catalog) Index() uint64 { panic("unimplemented") }

// Service returns the view of one service; never nil. An unknown service
// gives an empty view whose index is the service-index table's entry for it
// or, if it never existed, the catalog's index.
func (c *Catalog) Service(name string) *ServiceView { panic("unimplemented") }

// Services returns the view of the service list; never nil.
func (c *Catalog) Services() *ServicesView { panic("unimplemented") }

// Instance returns one instance by id (ids are unique across the catalog).
func (c *Catalog) Instance(id string) (Instance, bool) { panic("unimplemented") }

// Tombstoned reports whether id was deregistered at or after the given
// leader wall-clock time (unix nanoseconds): used to answer 410 to
// heartbeats within the tombstone period.
func (c *Catalog) Tombstoned(id string, since int64) bool { panic("unimplemented") }

// WatchService returns a channel closed at the next change to the service
// (its index moves). Take the channel before reading the view to miss nothing.
func (c *Catalog) WatchService(name string) <-chan struct{} { panic("unimplemented") }

// WatchServices returns a channel closed at the next change to the service
// list (a service appears or goes, or counts by status or tags change).
func (c *Catalog) WatchServices() <-chan struct{} { panic("unimplemented") }

// ForEachLeased calls fn for every instance that holds a lease (TTL > 0)
// and every critical instance with DeregisterAfter > 0; used to re-arm the
// lease table when a server becomes leader.
func (c *Catalog) ForEachLeased(fn func(Instance)) { panic("unimplemented") }

// Result is what Apply returns for one command.
type Result struct {
	Index uint64
	Err   error // ErrConflict, *ValidationError, ErrUnknownVersion, or nil
	// Instance is the stored instance after a register (also when the
	// registration changed nothing).
	Instance Instance
	// Changed lists what the command changed, for the lease table.
	Changed []Change
	// Errs holds one result per sub-command of a Batch command.
	Errs []error
}

// ChangeKind says what happened to an instance.
type ChangeKind uint8

// The kinds of change Apply reports.
const (
	ChangeUpsert ChangeKind = iota + 1
	ChangeRemove
)

// Change is one instance changed by a command.
type Change struct {
	Kind     ChangeKind
	Instance Instance // after the change (the last state for ChangeRemove)
}

// Snapshot is a point-in-time copy of the catalog.
type Snapshot struct{}

// WriteTo persists the snapshot in the versioned snapshot format.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) { panic("unimplemented") }

// StatusUpdate sets the health of one instance.
type StatusUpdate struct {
	ID     string
	Status api.Status
	Output string
	// KeepOutput leaves the stored output unchanged (expiry sets only the status).
	KeepOutput bool
}

// Command encoders. Each returns the bytes to replicate. `now` is the
// leader's wall clock in unix nanoseconds, carried so Apply stays
// deterministic.

// EncodeRegister encodes a registration (register or replace).
func EncodeRegister(inst Instance, now int64) []byte { panic("unimplemented") }

// EncodeDeregister encodes a deregistration; it tombstones the id.
func EncodeDeregister(service, id string, now int64) []byte { panic("unimplemented") }

// EncodeStatus encodes a batch of status updates (heartbeat status changes,
// lease expiries).
func EncodeStatus(updates []StatusUpdate, now int64) []byte { panic("unimplemented") }

// EncodeReap encodes the removal of instances whose deregister_after passed
// (not tombstoned: their owners may register again).
func EncodeReap(ids []string, now int64) []byte { panic("unimplemented") }

// EncodeBatch encodes several commands into one log entry (registrations
// coalesced by the leader); Result.Errs holds each one's error.
func EncodeBatch(cmds [][]byte) []byte { panic("unimplemented") }

// Validate checks a registration against the rules of design.md (service
// name, id, address, port, weight, TTL bounds, tags, meta) and normalises
// it (service name lowercased, weight defaulted to 1, status defaulted to
// passing). minDeregister is the lowest deregister_after allowed (1m; 1s in
// dev mode).
func Validate(inst *Instance, minDeregister time.Duration) error { panic("unimplemented") }

// ValidateServiceName checks a service name: 1-63 letters, digits and
// hyphens (case-insensitive; callers lowercase it).
func ValidateServiceName(name string) error { panic("unimplemented") }

// ToAPI converts an instance to its wire form.
func (i Instance) ToAPI() api.Instance { panic("unimplemented") }
