package gateway

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

// Gateway is an HTTP reverse proxy routing to instances resolved from
// Roster. It is an http.Handler (the proxy alone); Handler adds /healthz
// and /metrics. Close it to stop its watches.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	client  *client.Client
	contact *contactTracker
	metrics *metrics
	disc    *discovery
	proxy   *httputil.ReverseProxy
	table   atomic.Pointer[table]
	// idHeader is Config.RequestIDHeader in canonical form, so the request
	// path indexes header maps directly.
	idHeader string
	// startedAt bounds how long requests wait for the first lists.
	startedAt time.Time

	closeOnce sync.Once
}

// New starts a gateway: it starts watching the configured routes' services
// and, unless Config.NoTagRoutes, the service list for tag routes. It does
// not wait for the first lists (requests do, up to ResolveTimeout; WaitReady
// waits for all of them).
func New(cfg Config) (*Gateway, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, idHeader: textproto.CanonicalMIMEHeaderKey(cfg.RequestIDHeader), startedAt: time.Now()}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 16
	addrs := cfg.Addrs
	if cfg.TLS != nil {
		base.TLSClientConfig = cfg.TLS
		addrs = make([]string, len(cfg.Addrs))
		for i, a := range cfg.Addrs {
			if !strings.Contains(a, "://") {
				a = "https://" + a
			}
			addrs[i] = a
		}
	}
	g.contact = &contactTracker{base: base, log: cfg.Logger}
	c, err := client.New(client.Config{
		Addrs:      addrs,
		HTTPClient: &http.Client{Transport: g.contact},
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.client = c
	g.table.Store(newTable(nil))
	g.metrics = newMetrics(g)
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      roundTripper{g},
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		BufferPool:     newBufferPool(),
		ErrorLog:       log.New(slogWriter{cfg.Logger}, "", 0),
	}
	g.disc = newDiscovery(g)
	g.disc.start()
	return g, nil
}

// Close stops the watches and closes idle connections to the instances.
// Requests in flight are the HTTP server's to drain (http.Server.Shutdown).
func (g *Gateway) Close() error {
	var err error
	g.closeOnce.Do(func() {
		g.disc.stop()
		err = g.client.Close()
		if tr, ok := g.contact.base.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	return err
}

// WaitReady waits until every configured route's service and every tagged
// service known at start have delivered their first instance lists, or ctx
// ends.
func (g *Gateway) WaitReady(ctx context.Context) error {
	select {
	case <-g.disc.tagsReady:
	case <-ctx.Done():
		return fmt.Errorf("gateway: waiting for the service list: %w", ctx.Err())
	}
	for _, r := range g.table.Load().all {
		if !r.static {
			continue
		}
		select {
		case <-r.pool.ready:
		case <-ctx.Done():
			return fmt.Errorf("gateway: waiting for the instances of %s: %w", r.Service, ctx.Err())
		}
	}
	return nil
}

// Handler returns the proxy with the admin endpoints, /healthz and
// /metrics, taking those two paths before any route.
func (g *Gateway) Handler() http.Handler {
	admin := g.AdminHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			admin.ServeHTTP(w, r)
			return
		}
		g.ServeHTTP(w, r)
	})
}

// AdminHandler serves /healthz (the routes and whether they are fresh, as
// JSON) and /metrics (Prometheus), for a listener of their own.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", g.serveHealth)
	mux.Handle("/metrics", promhttp.HandlerFor(g.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no admin endpoint "+r.URL.Path+" (try /healthz or /metrics)")
	})
	return mux
}

// slogWriter turns the standard logger's lines (ReverseProxy's copy errors)
// into debug records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("gateway proxy", "msg", string(p))
	return len(p), nil
}

// bufferPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }
