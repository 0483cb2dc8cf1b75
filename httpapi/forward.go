package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
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

// forward proxies r to the leader's HTTP address (net/http/httputil's
// ReverseProxy over the pooled client's transport: same method, path,
// query and body, hop-by-hop headers dropped), marked with
// X-Roster-Forwarded so that it is never forwarded twice, and copies the
// leader's answer back. When the answer carries X-Roster-Index, it is held
// until this server has applied that index, so a client reads its own
// writes from the server it wrote to. bodyLimit caps the body (0: the
// request has none worth reading).
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
	in := r.WithContext(ctx)
	if bodyLimit > 0 && r.Body != nil && r.Body != http.NoBody {
		in.Body = http.MaxBytesReader(w, r.Body, bodyLimit)
	} else {
		in.Body, in.ContentLength = http.NoBody, 0
	}
	client := clientKey(r)
	proxy := &httputil.ReverseProxy{
		Transport: h.client.Transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = h.scheme, leader.HTTPAddr, ""
			pr.Out.Header[api.HeaderForwarded] = forwardedHdrOnce
			pr.Out.Header[headerClient] = []string{client}
		},
		ModifyResponse: func(resp *http.Response) error {
			if s := resp.Header.Get(api.HeaderIndex); s != "" {
				if index, err := strconv.ParseUint(s, 10, 64); err == nil {
					if err := h.waitApplied(r.Context(), index); err != nil {
						return err
					}
				}
			}
			h.setLeaderHeaders(resp.Header)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			var mbe *http.MaxBytesError
			var ae *apiError
			switch {
			case errors.As(err, &mbe):
				h.writeError(w, mbe)
			case errors.As(err, &ae): // from ModifyResponse: not caught up
				h.writeError(w, err)
			default:
				h.metrics.forwardErrors.Inc()
				h.log.Warn("forward to leader failed", "method", r.Method, "path", r.URL.Path, "leader", leader.HTTPAddr, "err", err)
				h.writeError(w, &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader,
					msg: fmt.Sprintf("forward to leader %s: %v", leader.HTTPAddr, err)})
			}
		},
		ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	h.metrics.forwarded[kind].Inc()
	proxy.ServeHTTP(w, in)
}

// waitApplied waits, within ApplyWait, for the local state to apply index.
func (h *Handler) waitApplied(ctx context.Context, index uint64) error {
	return h.waitLeaderApplied(ctx, index, 0)
}

// waitLeaderApplied is waitApplied with the term of the leader's entry at
// index (0 when not known), see Store.WaitLeaderApplied.
func (h *Handler) waitLeaderApplied(ctx context.Context, index, term uint64) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ApplyWait)
	defer cancel()
	if err := h.store.WaitLeaderApplied(ctx, index, term); err != nil {
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
