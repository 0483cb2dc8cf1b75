package registry

import "github.com/rosterhq/roster/api"

// Result is what Apply returns for one command.
type Result struct {
	Index uint64
	Err   error // ErrConflict, *ValidationError, ErrUnknownVersion, ErrCorrupt, or nil
	// Instance is the stored instance after a register (also when the
	// registration changed nothing).
	Instance Instance
	// Changed lists what the command changed, for the lease table, in the
	// order the changes happened.
	Changed []Change
	// Errs holds one result per sub-command of a Batch command.
	Errs []error
	// Stored holds, per sub-command of a Batch command, the instance a
	// registration stored (also when it changed nothing) and nil for the
	// others: a coalesced registration's answer. The catalog's views share
	// these instances: never modify them.
	Stored []*Instance

	stored *Instance // the instance a register stored (for Stored)
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

// StatusUpdate sets the health of one instance.
type StatusUpdate struct {
	ID string
	// Status is the new status; empty means passing.
	Status api.Status
	// Output replaces the stored output (cut to MaxOutput bytes).
	Output string
	// KeepOutput leaves the stored output unchanged (expiry sets only the status).
	KeepOutput bool
}
