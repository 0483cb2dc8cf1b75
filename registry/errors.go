package registry

import (
	"errors"
	"fmt"
)

// Errors that callers branch on. Front ends map them to answers in one place.
var (
	// ErrNotFound: the instance is not registered (never was, or expired and
	// was removed). A heartbeat answers 404 and the client registers again.
	ErrNotFound = errors.New("instance not registered")
	// ErrConflict: the instance id is held by another service.
	ErrConflict = errors.New("instance id held by another service")
	// ErrGone: the instance was deregistered within the tombstone period; a
	// heartbeat answers 410 and the client stops renewing.
	ErrGone = errors.New("instance was deregistered")
	// ErrUnknownVersion: a command or snapshot has a version this server does
	// not know; it stops applying rather than skip an entry.
	ErrUnknownVersion = errors.New("unknown command or snapshot version")
)

// ValidationError says which field of a request is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

// Error implements the error interface.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrCorrupt: a command or snapshot is truncated, malformed or fails its
// checksum. Like ErrUnknownVersion, Apply leaves the state unchanged and the
// replication layer must stop applying rather than skip the entry.
var ErrCorrupt = errors.New("corrupt command or snapshot")
