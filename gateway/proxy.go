package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/api"
)

// Error codes of the gateway's own answers, beside the API's.
const (
	CodeBadGateway     = "bad_gateway"     // 502: every try failed
	CodeGatewayTimeout = "gateway_timeout" // 504: the instance did not answer in time
)

// errNoInstance: the route has no instance to try.
var errNoInstance = errors.New("no instance")

// reqState follows one request through the proxy: the route, the
// instances tried, and the one that answered.
type reqState struct {
	route    *route
	answered *member // holds one in-flight count until the answer is written
	last     *member // the last one tried
	status   int
	retries  int
	tried    []*backend
	triedBuf [4]*backend
}

type stateKey struct{}

// ServeHTTP routes and proxies one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := g.table.Load().match(r.Host, r.URL.Path)
	if rt == nil && !g.disc.isTagsReady() {
		// Right after start the tag routes may still be on their way.
		g.waitTags(r.Context())
		rt = g.table.Load().match(r.Host, r.URL.Path)
	}
	// One slice for both headers: the id costs one allocation, not three.
	key := g.idHeader
	ids := r.Header[key]
	if len(ids) != 1 || ids[0] == "" || len(ids[0]) > 200 {
		ids = []string{newRequestID()}
		r.Header[key] = ids
	}
	id := ids[0]
	w.Header()[key] = ids
	if rt == nil {
		g.metrics.unrouted.Inc()
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no route for %s%s", r.Host, r.URL.Path))
		g.accessLog(r, nil, http.StatusNotFound, start, id)
		return
	}
	st := &reqState{route: rt}
	st.tried = st.triedBuf[:0]
	if len(rt.pool.list()) == 0 && !rt.pool.isReady() {
		g.waitPool(r.Context(), rt.pool)
	}
	// Deferred: ReverseProxy aborts a response whose body copy failed (the
	// client or the instance went away) by panicking with
	// http.ErrAbortHandler, and the in-flight count must still drop.
	defer g.finish(r, st, start, id)
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// finish releases the instance that answered and accounts for the request.
func (g *Gateway) finish(r *http.Request, st *reqState, start time.Time, id string) {
	took := time.Since(start).Seconds()
	if m := st.answered; m != nil {
		m.b.release()
		m.requests[classOf(st.status)].Inc()
		m.latency.Observe(took)
	} else if st.last != nil {
		st.last.requests[classOf(st.status)].Inc()
		st.last.latency.Observe(took)
	} else {
		st.route.counters.noInstance.Inc()
		st.route.counters.latency.Observe(took)
	}
	g.accessLog(r, st, st.status, start, id)
}

func (d *discovery) isTagsReady() bool {
	select {
	case <-d.tagsReady:
		return true
	default:
		return false
	}
}

// waitTags and waitPool hold a request until the first lists are in, but
// only within ResolveTimeout of the start: a registry unreachable from the
// start must not delay every request.
func (g *Gateway) waitTags(ctx context.Context) { g.waitStart(ctx, g.disc.tagsReady) }

func (g *Gateway) waitPool(ctx context.Context, p *pool) { g.waitStart(ctx, p.ready) }

func (g *Gateway) waitStart(ctx context.Context, ready <-chan struct{}) {
	d := time.Until(g.startedAt.Add(g.cfg.ResolveTimeout))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-ctx.Done():
	}
}

// rewrite is the ReverseProxy's Rewrite: the instance is chosen per try by
// the round tripper; here the path, Host and forwarding headers are set.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = st.route.Service // replaced by the instance on each try
	if st.route.Strip {
		out.URL.Path = stripPrefix(st.route.Prefix, pr.In.URL.Path)
		if raw := pr.In.URL.RawPath; raw != "" && matches(st.route.Prefix, raw) {
			out.URL.RawPath = stripPrefix(st.route.Prefix, raw)
		} else {
			out.URL.RawPath = ""
		}
	}
	out.Host = pr.In.Host
	if g.cfg.TrustForwarded {
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v, ok := pr.In.Header[h]; ok {
				out.Header[h] = append([]string(nil), v...)
			}
		}
		host, proto := out.Header.Get("X-Forwarded-Host"), out.Header.Get("X-Forwarded-Proto")
		pr.SetXForwarded()
		if host != "" {
			out.Header.Set("X-Forwarded-Host", host)
		}
		if proto != "" {
			out.Header.Set("X-Forwarded-Proto", proto)
		}
		return
	}
	pr.SetXForwarded()
}

func (g *Gateway) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(stateKey{}).(*reqState)
	st.status = resp.StatusCode
	// The client gets the gateway's id, once.
	delete(resp.Header, g.idHeader)
	return nil
}

// roundTripper sends a request to the route's instances: one per try,
// moving to another when one fails in a way that makes sending again safe.
type roundTripper struct{ g *Gateway }

// RoundTrip implements http.RoundTripper. A try is sent again to another
// instance when the connection could not be made (nothing was sent), and,
// for idempotent requests without a body, when the connection broke or the
// instance answered 502, 503 or 504. A response timeout is not retried.
func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	g := t.g
	st := req.Context().Value(stateKey{}).(*reqState)
	p := st.route.pool
	hasBody := req.Body != nil && req.Body != http.NoBody
	var body *replayBody
	if hasBody {
		body = &replayBody{rc: req.Body}
		req.Body = body
	}
	untouched := func() bool { return body == nil || !body.touched.Load() }
	safe := !hasBody && idempotent(req)
	var lastErr error
	m := p.pick(st.tried)
	for try := 0; m != nil; try++ {
		st.tried = append(st.tried, m.b)
		st.last = m
		m.b.inflight.Add(1)
		out := req
		if try > 0 {
			out = retryCopy(req)
		}
		out.URL.Host = m.b.addr
		resp, err := m.b.rt.RoundTrip(out)
		more := try+1 < g.cfg.MaxTries
		if err != nil {
			m.b.release()
			if req.Context().Err() != nil {
				return nil, err
			}
			m.b.failed(g)
			lastErr = err
			dial := isDialError(err)
			if !more || !(dial && untouched() || safe && !isTimeout(err)) {
				return nil, err
			}
			if m = p.pick(st.tried); m != nil {
				st.retries++
				st.last.retries.Inc()
			}
			continue
		}
		if resp.StatusCode >= 500 {
			m.b.failed(g)
			if more && safe && retryableStatus(resp.StatusCode) {
				if next := p.pick(st.tried); next != nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
					resp.Body.Close()
					m.b.release()
					st.retries++
					m.retries.Inc()
					m = next
					continue
				}
			}
		} else {
			m.b.succeeded()
		}
		st.answered = m
		return resp, nil
	}
	if lastErr == nil {
		return nil, errNoInstance
	}
	return nil, lastErr
}

// retryCopy is a shallow copy of the outgoing request with its own URL, for
// a try on another instance (the transport may still hold the first).
func retryCopy(req *http.Request) *http.Request {
	out := *req
	u := *req.URL
	out.URL = &u
	return &out
}

func retryableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// isDialError reports whether err happened before a connection existed, so
// that nothing of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// replayBody lets a request body go to a second instance when the first
// try never read it (its connection was refused): the transport's Close is
// ignored and the server closes the real body after the handler.
type replayBody struct {
	rc      io.ReadCloser
	touched atomic.Bool // the transport reads from its own goroutine
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	return b.rc.Read(p)
}

func (b *replayBody) Close() error { return nil }

// proxyError answers a request no instance answered.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(stateKey{}).(*reqState)
	switch {
	case errors.Is(err, errNoInstance):
		st.status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
		writeError(w, st.status, api.CodeUnavailable, "no instance of "+st.route.Service+" for "+st.route.name)
	case r.Context().Err() != nil:
		// The client went away: nobody reads an answer. 499 as nginx logs it.
		st.status = 499
	case isTimeout(err) && !isDialError(err):
		st.status = http.StatusGatewayTimeout
		writeError(w, st.status, CodeGatewayTimeout, fmt.Sprintf("%s: instance did not answer in time", st.route.Service))
	default:
		st.status = http.StatusBadGateway
		tries := len(st.tried)
		writeError(w, st.status, CodeBadGateway, fmt.Sprintf("%s: %d tries failed, last: %v", st.route.Service, tries, err))
	}
}

// writeError writes the API's error shape, {"error","code"}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(api.Error{Message: msg, Code: code})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// accessLog writes one record for a sampled request, and for every failed
// one while the access log is on.
func (g *Gateway) accessLog(r *http.Request, st *reqState, status int, start time.Time, id string) {
	if g.cfg.AccessLogSample <= 0 {
		return
	}
	if status < 500 && g.cfg.AccessLogSample < 1 && rand.Float64() >= g.cfg.AccessLogSample {
		return
	}
	attrs := []any{
		"method", r.Method, "host", r.Host, "path", r.URL.Path, "status", status,
		"duration", time.Since(start).String(), "request_id", id, "remote", r.RemoteAddr,
	}
	if st != nil {
		instance := ""
		if st.answered != nil {
			instance = st.answered.b.id
		} else if st.last != nil {
			instance = st.last.b.id
		}
		attrs = append(attrs, "route", st.route.name, "service", st.route.Service, "instance", instance, "retries", st.retries)
	}
	if status >= 500 {
		g.cfg.AccessLog.Warn("gateway request", attrs...)
		return
	}
	g.cfg.AccessLog.Info("gateway request", attrs...)
}
