package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Body reads are bounded in time as well as size (issue #15): a client
// sending its body a byte a second must not hold a connection for minutes.
// A request with a body gets a read deadline of BodyReadTimeout plus its
// declared length (or the size cap, when chunked) at MinBodyRate; reading
// the body completely clears it, so the connection's wait for the client's
// close during a long answer is not cut.
const (
	// DefaultBodyReadTimeout is the base time allowed to read a body.
	DefaultBodyReadTimeout = 10 * time.Second
	// MinBodyRate is the slowest body upload accepted, in bytes per second
	// beyond the base time (a 1 MiB body gets 10 s + 16 s).
	MinBodyRate = 64 << 10
)

// bodyDeadline arms the read deadline of a request that carries a body.
func (h *Handler) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	n := r.ContentLength
	if n < 0 || n > h.cfg.MaxBodyBytes {
		n = h.cfg.MaxBodyBytes
	}
	d := h.cfg.BodyReadTimeout + time.Duration(n)*time.Second/MinBodyRate
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// readBody reads the whole body, capped at MaxBodyBytes (413 beyond) and
// within the body deadline (408 past it), then clears the deadline.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &apiError{status: http.StatusRequestTimeout, code: codeInvalid,
			msg: "the request body was not received in time: " + err.Error(), field: "body"}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return data, nil
}

// restoreGate admits one snapshot restore at a time on this server and
// refuses, before reading a byte, a body whose declared length is over
// MaxRestoreBytes. The restore's own read deadline replaces the body
// deadline. release ends the restore.
func (h *Handler) restoreGate(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if r.ContentLength > h.cfg.MaxRestoreBytes {
		return nil, &http.MaxBytesError{Limit: h.cfg.MaxRestoreBytes}
	}
	if !h.restoring.CompareAndSwap(false, true) {
		w.Header()["Retry-After"] = retryAfterHdr
		return nil, &apiError{status: http.StatusConflict, code: codeConflict,
			msg: "a snapshot restore is already running on this server; retry when it ends", field: "snapshot"}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.RestoreTimeout))
	return func() { h.restoring.Store(false) }, nil
}
