package httpapi

import (
	"fmt"
	"net/http"
	"time"
)

// What another front end on the same server (the Consul-compatible subset
// in consulapi) shares with the native API, so that it follows the same
// forwarding, limits and error answers instead of a copy of them.

// ForwardWrite forwards a write to the leader when this server is not the
// leader (marked so that it is forwarded at most once, answered only after
// this server applied the index the leader's answer carries in
// X-Roster-Index), and reports whether it did: the request is then answered.
// A write handled here counts against its client's write rate limit; past
// it ForwardWrite answers 429 and reports true as well.
func (h *Handler) ForwardWrite(w http.ResponseWriter, r *http.Request) bool {
	return h.forwardWrite(w, r) || h.rateLimited(w, r, h.writeLim, 1, "write requests")
}

// ForwardRead forwards a read to the leader (a ?consistent read on a
// follower); wait is how long a forwarded blocking query may block on top of
// the forwarding timeout.
func (h *Handler) ForwardRead(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	h.forward(w, r, forwardRead, 0, h.cfg.ForwardTimeout+wait)
}

// WriteError answers err the way every native answer does: the status and
// {"error","code"[,"field"]} body of the one error mapping (see classify),
// with Retry-After on 429 and 503.
func (h *Handler) WriteError(w http.ResponseWriter, err error) {
	h.writeError(w, err)
}

// Errorf builds an error that WriteError answers with status and code.
func Errorf(status int, code, format string, args ...any) error {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// InvalidField builds a 400 that names the offending field or parameter.
func InvalidField(field, format string, args ...any) error {
	return invalidf(field, format, args...)
}

// DecodeBody decodes a JSON request body into dst within MaxBodyBytes.
// Unlike the native API's own bodies, unknown fields are allowed: a foreign
// client sends fields Roster does not model, and the caller refuses the ones
// that matter. Malformed JSON is a 400 naming the field.
func (h *Handler) DecodeBody(w http.ResponseWriter, r *http.Request, dst any, required bool) error {
	return h.decode(w, r, dst, required, false)
}

// BlockingWait caps a requested blocking wait at MaxWait (also the default
// for 0) and adds up to 1/16 of jitter.
func (h *Handler) BlockingWait(d time.Duration) time.Duration {
	return h.blockingWait(d)
}

// BlockUntil runs a blocking query on this server's watch budget: it takes
// a watch slot (429 past MaxWatchers, 503 while closing), then waits until
// ready reports true, re-checked after every close of the channel watch
// returns (taken before each check, so no change is missed), or until wait
// passes, the request ends or the handler closes. The returned done bounds
// the answer's writes by WriteTimeout; call it after answering to lift the
// bound and free the slot.
func (h *Handler) BlockUntil(w http.ResponseWriter, r *http.Request, wait time.Duration, watch func() <-chan struct{}, ready func() bool) (done func(), err error) {
	release, err := h.acquireWatch()
	if err != nil {
		return nil, err
	}
	waitFor(h, r, wait, watch, func() (struct{}, bool) { return struct{}{}, ready() })
	clear := h.writeDeadline(w, h.cfg.WriteTimeout)
	return func() {
		clear()
		release()
	}, nil
}
