package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rosterhq/roster/api"
)

// Errors callers branch on with errors.Is. An *APIError matches the sentinel
// of its code, so errors.Is(err, client.ErrNoLeader) holds for any 503
// no_leader answer however deeply it is wrapped.
var (
	// ErrNotFound: the server answered 404 (unknown instance).
	ErrNotFound = errors.New("roster: not found")
	// ErrNotRegistered: a heartbeat found no such instance (404). It is the
	// same condition as ErrNotFound seen from a registration; both match.
	ErrNotRegistered = errors.New("roster: instance not registered")
	// ErrGone: the instance was deregistered by someone else recently (410);
	// its registration stops renewing instead of registering again.
	ErrGone = errors.New("roster: instance was deregistered")
	// ErrNoLeader: the cluster has no leader, or a new leader has not re-armed
	// its leases yet (503 no_leader). Retry later.
	ErrNoLeader = errors.New("roster: no leader")
	// ErrUnavailable: a server answered 503 for another reason.
	ErrUnavailable = errors.New("roster: server unavailable")
	// ErrConflict: the instance id belongs to another service (409).
	ErrConflict = errors.New("roster: conflict")
	// ErrInvalid: the server rejected the request as invalid (400, 413).
	ErrInvalid = errors.New("roster: invalid request")
	// ErrTooMany: the server is over a limit (429).
	ErrTooMany = errors.New("roster: too many requests")
	// ErrUnreachable: no server could be reached (connection errors on every
	// address tried).
	ErrUnreachable = errors.New("roster: no server reachable")
	// ErrNotHTTP: a server accepted a new connection and closed or reset
	// it, or answered something other than HTTP, before any answer: the
	// address is probably not a Roster HTTP address (the DNS or Raft port).
	// It matches ErrUnreachable too. With a single server it is not retried.
	// (On a reused keep-alive connection the same failure is the usual race
	// with the server's idle timeout, and is retried.)
	ErrNotHTTP = errors.New("roster: the server closed a new connection without an HTTP answer")
	// ErrClosed: the Client, Registration or Watcher was closed.
	ErrClosed = errors.New("roster: closed")
	// ErrNoInstances: a Picker has no live instance to offer.
	ErrNoInstances = errors.New("roster: no live instance")
	// ErrDenied: the token lacks the permission the message names (403).
	ErrDenied = errors.New("roster: permission denied")
)

// APIError is an error answer from a server: the HTTP status and the decoded
// {"error", "code", "field"} body.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the machine-readable code (api.CodeInvalid, api.CodeNoLeader...).
	Code string
	// Message is the human-readable explanation.
	Message string
	// Field names the offending request field of a validation error.
	Field string
	// RetryAfter is the server's Retry-After hint, zero when absent.
	RetryAfter time.Duration
	// Server is the address of the server that answered.
	Server string
}

// Error implements the error interface.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s (field %s)", e.Status, e.Code, msg, e.Field)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, msg)
}

// Is maps the answer onto the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound, ErrNotRegistered:
		return e.Status == http.StatusNotFound
	case ErrGone:
		return e.Status == http.StatusGone
	case ErrNoLeader:
		return e.Status == http.StatusServiceUnavailable && (e.Code == api.CodeNoLeader || e.Code == "")
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable && e.Code != api.CodeNoLeader && e.Code != ""
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge
	case ErrTooMany:
		return e.Status == http.StatusTooManyRequests
	case ErrDenied:
		return e.Status == http.StatusForbidden
	}
	return false
}

// IsInvalid reports whether err is the server rejecting a request as invalid
// (a bad service name, a TTL out of range, a body too large...).
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsNotFound reports whether err says the instance is not registered.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
