package api

import "fmt"

// Error codes, the "code" field of an error answer. Clients branch on these,
// never on the message.
const (
	CodeInvalid        = "invalid"     // 400: bad input
	CodeNotFound       = "not_found"   // 404: unknown instance or route
	CodeConflict       = "conflict"    // 409: the id belongs to another service
	CodeGone           = "gone"        // 410: deliberately deregistered
	CodeTooLarge       = "too_large"   // 413: body over the limit
	CodeTooMany        = "too_many"    // 429: over a limit
	CodeNoLeader       = "no_leader"   // 503: no leader, or leases not yet re-armed
	CodeUnavailable    = "unavailable" // 503: server not able to answer now
	CodeInternal       = "internal"    // 500
	CodeMethod         = "method_not_allowed"
	CodeNotAcceptable  = "not_acceptable"
	CodeNotImplemented = "not_implemented"   // 501: a Consul endpoint Roster does not serve
	CodeDenied         = "permission_denied" // 403: the ACL token lacks the permission the message names
	// CodeUnsupportedMediaType answers 415: a body that is not JSON.
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// Error is the body of every error answer: {"error": "...", "code": "..."}.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	// Field names the offending request field for validation errors.
	Field string `json:"field,omitempty"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}
