package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/store"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// Short names for the api error codes used here.
const (
	codeInvalid     = api.CodeInvalid
	codeNotFound    = api.CodeNotFound
	codeConflict    = api.CodeConflict
	codeGone        = api.CodeGone
	codeTooLarge    = api.CodeTooLarge
	codeTooMany     = api.CodeTooMany
	codeNoLeader    = api.CodeNoLeader
	codeUnavailable = api.CodeUnavailable
	codeInternal    = api.CodeInternal
	codeMethod      = api.CodeMethod
)

// apiError is an answer decided by the handler itself (bad query parameter,
// forwarded-twice refusal, watcher limit) or relayed from the leader.
type apiError struct {
	status int
	code   string
	msg    string
	field  string
}

func (e *apiError) Error() string { return e.msg }

// invalidf builds a 400 naming the offending field.
func invalidf(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalid, field: field, msg: fmt.Sprintf(format, args...)}
}

var (
	errForwardedTwice = &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader,
		msg: "request was already forwarded once and this server is not the leader"}
	errShuttingDown = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
		msg: "server is shutting down"}
	errTooManyWatchers = &apiError{status: http.StatusTooManyRequests, code: codeTooMany,
		msg: "too many concurrent watches on this server; retry later or use another server"}
)

// classify maps an error to its answer. It is the one place where store and
// registry errors become HTTP statuses.
func classify(err error) (status int, body api.Error) {
	var ae *apiError
	var ve *registry.ValidationError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.status, api.Error{Message: ae.msg, Code: ae.code, Field: ae.field}
	case errors.As(err, &ve):
		return http.StatusBadRequest, api.Error{Message: ve.Error(), Code: codeInvalid, Field: ve.Field}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, api.Error{
			Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit), Code: codeTooLarge}
	case errors.Is(err, acl.ErrDenied):
		return http.StatusForbidden, api.Error{Message: deniedMessage(err), Code: codeDenied}
	case errors.Is(err, registry.ErrACLUnsupported), errors.Is(err, registry.ErrACLBootstrapped),
		errors.Is(err, registry.ErrMaintenanceUnsupported):
		return http.StatusConflict, api.Error{Message: err.Error(), Code: codeConflict}
	case errors.Is(err, registry.ErrConflict):
		return http.StatusConflict, api.Error{Message: err.Error(), Code: codeConflict}
	case errors.Is(err, registry.ErrNotFound):
		return http.StatusNotFound, api.Error{Message: err.Error(), Code: codeNotFound}
	case errors.Is(err, registry.ErrGone):
		return http.StatusGone, api.Error{Message: err.Error(), Code: codeGone}
	case errors.Is(err, store.ErrNoLeader), errors.Is(err, store.ErrNotLeader), errors.Is(err, store.ErrNotArmed):
		return http.StatusServiceUnavailable, api.Error{Message: err.Error(), Code: codeNoLeader}
	case errors.Is(err, registry.ErrUnknownVersion), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, api.Error{Message: err.Error(), Code: codeUnavailable}
	default:
		return http.StatusInternalServerError, api.Error{Message: err.Error(), Code: codeInternal}
	}
}

// writeError answers err as {"error","code"[,"field"]}; 429 and 503 carry
// Retry-After. Unexpected (500) errors are logged.
func (h *Handler) writeError(w http.ResponseWriter, err error) {
	status, body := classify(err)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header()["Retry-After"] = retryAfterHdr
	}
	if status == http.StatusInternalServerError {
		h.log.Error("internal error answering request", "err", err)
	}
	// Errors carry the headers of every answer too (404 route errors, 503
	// no_leader, ...): the catalog's index unless the handler set one.
	if _, ok := w.Header()[api.HeaderIndex]; !ok {
		h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	}
	writeJSON(w, status, body)
}

// deniedMessage is a refusal's message: the permission missing, without the
// context a wrapped error would add.
func deniedMessage(err error) string {
	var de *acl.DeniedError
	if errors.As(err, &de) {
		return de.Error()
	}
	return err.Error()
}
