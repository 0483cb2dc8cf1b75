package gateway

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/api"
)

// backend is one instance the gateway sends requests to: its keep-alive
// pool, its requests in flight and its passive health. Every route to the
// instance's service shares it.
type backend struct {
	key     string // id@host:port: a re-registration elsewhere is a new backend
	id      string
	service string
	addr    string
	svc     *serviceState
	rt      http.RoundTripper
	tr      *http.Transport // own keep-alive pool; nil with Config.Transport

	weight   atomic.Int64
	inflight atomic.Int64
	// fails counts consecutive failed attempts; a success resets it.
	fails atomic.Int32
	// ejectedUntil is the end of the current ejection (unix nanoseconds),
	// 0 when never ejected.
	ejectedUntil atomic.Int64
	// ejections counts ejections in a row (no success in between): each
	// one lasts longer.
	ejections atomic.Int32
	// gone is set once the instance left the catalog (or turned critical):
	// no new request goes to it and its idle connections close when the
	// last one in flight ends.
	gone atomic.Bool

	ejected prometheus.Counter
}

func backendKey(inst *api.Instance) string {
	return inst.ID + "@" + net.JoinHostPort(inst.Address, strconv.Itoa(inst.Port))
}

func newBackend(g *Gateway, inst *api.Instance, svc *serviceState) *backend {
	b := &backend{
		key:     backendKey(inst),
		id:      inst.ID,
		service: svc.name,
		addr:    net.JoinHostPort(inst.Address, strconv.Itoa(inst.Port)),
		svc:     svc,
		ejected: g.metrics.ejections.WithLabelValues(svc.name, inst.ID),
	}
	b.weight.Store(int64(max(inst.Weight, 1)))
	if g.cfg.Transport != nil {
		b.rt = g.cfg.Transport
	} else {
		b.tr = &http.Transport{
			DialContext: (&net.Dialer{
				Timeout:   g.cfg.ConnectTimeout,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConnsPerHost:   g.cfg.MaxIdlePerInstance,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: g.cfg.ResponseTimeout,
			ExpectContinueTimeout: time.Second,
			// A proxy passes encodings through untouched.
			DisableCompression: true,
		}
		b.rt = b.tr
	}
	return b
}

// isEjected reports whether the backend sits out an ejection at now
// (unix nanoseconds; 0 reads the clock only when needed).
func (b *backend) isEjected(now int64) bool {
	until := b.ejectedUntil.Load()
	if until == 0 {
		return false
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	return now < until
}

// succeeded records an answer below 500.
func (b *backend) succeeded() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	if b.ejections.Load() != 0 && !b.isEjected(0) {
		b.ejections.Store(0)
	}
}

// failed records a refused or broken connection, a timeout or a 5xx
// answer, and ejects the backend after enough of them in a row, unless the
// service's cap forbids it.
func (b *backend) failed(g *Gateway) {
	if int(b.fails.Add(1)) < g.cfg.EjectAfter {
		return
	}
	now := time.Now()
	if b.isEjected(now.UnixNano()) || b.gone.Load() {
		return
	}
	if !b.svc.mayEject(b, now.UnixNano(), g.cfg.MaxEjectPercent) {
		return
	}
	n := min(b.ejections.Add(1), 8)
	d := g.cfg.EjectFor * time.Duration(n)
	b.ejectedUntil.Store(now.Add(d).UnixNano())
	b.fails.Store(0)
	b.ejected.Inc()
	g.log.Info("gateway ejected an instance", "service", b.service, "instance", b.id, "addr", b.addr,
		"for", d.String(), "after_failures", g.cfg.EjectAfter)
}

// release ends one request in flight; the last one out of a gone backend
// closes its pool.
func (b *backend) release() {
	if b.inflight.Add(-1) == 0 && b.gone.Load() {
		b.closeIdle()
	}
}

// retire takes a backend out of service: requests in flight finish (it is
// drained, not cut), then its connections close.
func (b *backend) retire(log *slog.Logger) {
	b.gone.Store(true)
	log.Info("gateway draining an instance", "service", b.service, "instance", b.id, "addr", b.addr,
		"in_flight", b.inflight.Load())
	if b.inflight.Load() == 0 {
		b.closeIdle()
	}
}

func (b *backend) closeIdle() {
	if b.tr != nil {
		b.tr.CloseIdleConnections()
	}
}

// serviceState is what the ejection cap needs: a service's live backends.
type serviceState struct {
	name string
	mu   sync.Mutex
	live []*backend
}

// mayEject decides under the service's lock whether b may be ejected: at
// most pct percent of the service's live instances (but at least one of two
// or more) sit out at once, and never the last one.
func (s *serviceState) mayEject(b *backend, now int64, pct int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.live)
	ejected := 0
	for _, o := range s.live {
		if o != b && o.isEjected(now) {
			ejected++
		}
	}
	limit := n * pct / 100
	if limit < 1 && n >= 2 {
		limit = 1
	}
	return ejected < limit && ejected+1 < n
}

func (s *serviceState) setLive(live []*backend) {
	s.mu.Lock()
	s.live = live
	s.mu.Unlock()
}
