package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/store"
)

// hopHeaders are connection-level headers that a proxy must not pass on
// (RFC 9110, section 7.6.1).
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Proxy-Connection":    true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// forwardWrite forwards a write to the leader when this server is not the
// leader, in a batch with the others forwarded meanwhile (fwdbatch.go)
// unless batching is off, and reports whether it did (the request is then
// answered).
func (h *Handler) forwardWrite(w http.ResponseWriter, r *http.Request) bool {
	if h.store.IsLeader() {
		return false
	}
	if h.cfg.ForwardBatches < 0 {
		h.forward(w, r, forwardWrite, h.cfg.MaxBodyBytes, h.cfg.ForwardTimeout)
	} else {
		h.forwardBatched(w, r)
	}
	return true
}

// forward proxies r to the leader's HTTP address with the same method, path,
// query and body, marked with X-Roster-Forwarded so that it is never
// forwarded twice, and copies the leader's answer back. When the answer
// carries X-Roster-Index, it is held until this server has applied that
// index, so a client reads its own writes from the server it wrote to.
// bodyLimit caps the body (0: the request has none worth reading).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, kind forwardKind, bodyLimit int64, timeout time.Duration) {
	if r.Header.Get(api.HeaderForwarded) != "" {
		h.writeError(w, errForwardedTwice)
		return
	}
	leader := h.store.Leader()
	if !leader.Known || leader.HTTPAddr == "" {
		h.writeError(w, store.ErrNoLeader)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var body io.Reader
	if bodyLimit > 0 && r.Body != nil && r.Body != http.NoBody {
		body = http.MaxBytesReader(w, r.Body, bodyLimit)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, h.scheme+"://"+leader.HTTPAddr+r.URL.RequestURI(), body)
	if err != nil {
		h.writeError(w, fmt.Errorf("forward %s %s to leader %s: %w", r.Method, r.URL.Path, leader.HTTPAddr, err))
		return
	}
	if body != nil {
		out.ContentLength = r.ContentLength
	}
	copyHeaders(out.Header, r.Header)
	out.Header[api.HeaderForwarded] = forwardedHdrOnce
	out.Header[headerClient] = []string{clientKey(r)}
	h.metrics.forwarded[kind].Inc()
	resp, err := h.client.Do(out)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeError(w, mbe)
			return
		}
		h.metrics.forwardErrors.Inc()
		h.log.Warn("forward to leader failed", "method", r.Method, "path", r.URL.Path, "leader", leader.HTTPAddr, "err", err)
		h.writeError(w, &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader,
			msg: fmt.Sprintf("forward to leader %s: %v", leader.HTTPAddr, err)})
		return
	}
	defer resp.Body.Close()
	if s := resp.Header.Get(api.HeaderIndex); s != "" {
		if index, perr := strconv.ParseUint(s, 10, 64); perr == nil {
			if err := h.waitApplied(r.Context(), index); err != nil {
				h.writeError(w, err)
				return
			}
		}
	}
	copyHeaders(w.Header(), resp.Header)
	h.setLeaderHeaders(w.Header())
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		h.log.Debug("copy forwarded answer", "path", r.URL.Path, "err", err)
	}
}

// waitApplied waits, within ApplyWait, for the local state to apply index.
func (h *Handler) waitApplied(ctx context.Context, index uint64) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ApplyWait)
	defer cancel()
	if err := h.store.WaitApplied(ctx, index); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			msg: fmt.Sprintf("the leader applied the request at index %d but this server has not caught up: %v", index, err)}
	}
	return nil
}

// copyHeaders adds src's end-to-end headers to dst.
func copyHeaders(dst, src http.Header) {
	for k, vv := range src {
		if hopHeaders[k] {
			continue
		}
		dst[k] = append(dst[k][:0:0], vv...)
	}
}
