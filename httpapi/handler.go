// Package httpapi serves Roster's native HTTP API (v1) over a Store: it
// translates requests to store calls and catalog reads, forwards what only the
// leader may do, and serves blocking queries and Server-Sent Events watches.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/rosterhq/roster/acl"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults of Config, the values design.md pins or suggests.
const (
	// DefaultAddr is where the HTTP API listens by default (design.md's
	// --http-addr), and where the CLI and client look first.
	DefaultAddr              = "127.0.0.1:8500"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxRestoreBytes   = 1 << 30
	DefaultMaxWatchers       = 20000
	DefaultMaxWait           = 5 * time.Minute
	DefaultHeartbeatCoalesce = 10 * time.Millisecond
	DefaultCoalesceMax       = 1000
	DefaultSSEKeepAlive      = 15 * time.Second
	DefaultMembersPoll       = time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultForwardTimeout    = 30 * time.Second
	DefaultApplyWait         = 5 * time.Second
	DefaultRestoreTimeout    = 30 * time.Minute
)

// Config configures a Handler. Zero values take the defaults above.
type Config struct {
	// Store is the replicated catalog; required.
	Store Store
	// Logger receives write-path and background decisions; nothing is logged
	// per read. Defaults to slog.Default().
	Logger *slog.Logger
	// Metrics is where the handler registers its collectors. When nil and
	// Gatherer is nil, the handler uses a private registry for both.
	Metrics prometheus.Registerer
	// Gatherer is served at /metrics. When nil, Metrics is used if it is
	// also a Gatherer, else a private registry.
	Gatherer prometheus.Gatherer
	// MaxBodyBytes caps request bodies (413 beyond), except snapshot restores.
	MaxBodyBytes int64
	// MaxRestoreBytes caps the body of PUT /v1/snapshot.
	MaxRestoreBytes int64
	// MaxWatchers caps concurrent blocking queries and SSE streams on this
	// server; past it a watch answers 429 with Retry-After.
	MaxWatchers int
	// MaxWait caps (and is the default of) a blocking query's wait; up to
	// 1/16 of jitter is added.
	MaxWait time.Duration
	// ForwardClient carries requests a follower forwards to the leader. The
	// default is a pooled keep-alive client owned (and closed) by the handler.
	ForwardClient *http.Client
	// ForwardTLS, when set, makes forwarding to the leader HTTPS with this
	// configuration (the default client's transport gets it).
	ForwardTLS *tls.Config
	// ACL enables access control (acl.go); the zero value disables it.
	ACL ACLConfig
	// Keyring serves /v1/cluster/keyring (keyring.go) when set.
	Keyring KeyringStore
	// HeartbeatCoalesce is how long a follower gathers single heartbeats
	// into one PUT /v1/heartbeats to the leader (which carries no token:
	// with ACLs, heartbeats are not gathered). Negative disables
	// coalescing: each heartbeat is forwarded as any write is.
	HeartbeatCoalesce time.Duration
	// CoalesceMax flushes a gathered batch early once it holds this many.
	CoalesceMax int
	// ForwardBatches is how many batches of forwarded writes (PUT
	// /v1/cluster/forward) a follower may have on their way to the leader
	// (sent, not yet taken): a write that finds fewer goes at once, the
	// others go together in the next batch. Negative disables batching:
	// each write is forwarded as its own request. Default
	// DefaultForwardBatches.
	ForwardBatches int
	// SSEKeepAlive is the interval of ": keep-alive" comments on idle streams.
	SSEKeepAlive time.Duration
	// MembersPoll is how often GET /v1/cluster/members blocking queries
	// look for membership changes (the store offers no watch for members).
	MembersPoll time.Duration
	// WriteTimeout bounds each write of a streamed or long-lived answer
	// (SSE events, blocking query answers). A stream's write deadline moves
	// at keep-alive ticks, not per event, so a consumer that stops reading is
	// dropped after between WriteTimeout and WriteTimeout + SSEKeepAlive.
	WriteTimeout time.Duration
	// ForwardTimeout bounds one forwarded request (plus the wait of a
	// forwarded blocking query).
	ForwardTimeout time.Duration
	// ApplyWait bounds how long a server waits for its own state to apply
	// the index of a write it forwarded (read-your-writes).
	ApplyWait time.Duration
	// RestoreTimeout bounds a snapshot download or restore.
	RestoreTimeout time.Duration
	// BodyReadTimeout is the base time allowed to read a request body
	// (plus its length at MinBodyRate); 408 past it.
	BodyReadTimeout time.Duration
	// WriteRate and WriteBurst limit write requests (registrations,
	// deregistrations, heartbeat requests) per second per client address;
	// HeartbeatRate and HeartbeatBurst limit renewals (single or batched).
	// Zero takes the default (a zero burst with a rate set: two seconds'
	// worth of it); a negative rate turns the limit off. Past it: 429 with
	// Retry-After.
	WriteRate      float64
	WriteBurst     int
	HeartbeatRate  float64
	HeartbeatBurst int
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("httpapi: Config.Store is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil && c.Gatherer == nil {
		reg := prometheus.NewRegistry()
		c.Metrics, c.Gatherer = reg, reg
	}
	if c.Gatherer == nil {
		if g, ok := c.Metrics.(prometheus.Gatherer); ok {
			c.Gatherer = g
		} else {
			c.Gatherer = prometheus.NewRegistry()
		}
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxRestoreBytes, DefaultMaxRestoreBytes)
	setDefault(&c.MaxWatchers, DefaultMaxWatchers)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.HeartbeatCoalesce, DefaultHeartbeatCoalesce)
	setDefault(&c.CoalesceMax, DefaultCoalesceMax)
	setDefault(&c.ForwardBatches, DefaultForwardBatches)
	setDefault(&c.SSEKeepAlive, DefaultSSEKeepAlive)
	setDefault(&c.MembersPoll, DefaultMembersPoll)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.ForwardTimeout, DefaultForwardTimeout)
	setDefault(&c.ApplyWait, DefaultApplyWait)
	setDefault(&c.RestoreTimeout, DefaultRestoreTimeout)
	setDefault(&c.BodyReadTimeout, DefaultBodyReadTimeout)
	// A rate given without its burst allows two seconds' worth at once.
	setDefault(&c.WriteBurst, burstOf(c.WriteRate))
	setDefault(&c.HeartbeatBurst, burstOf(c.HeartbeatRate))
	setDefault(&c.WriteRate, DefaultWriteRate)
	setDefault(&c.WriteBurst, DefaultWriteBurst)
	setDefault(&c.HeartbeatRate, DefaultHeartbeatRate)
	setDefault(&c.HeartbeatBurst, DefaultHeartbeatBurst)
	if c.MaxBodyBytes < 0 || c.MaxRestoreBytes < 0 || c.MaxWatchers < 0 || c.MaxWait < 0 ||
		c.CoalesceMax < 0 || c.SSEKeepAlive < 0 || c.MembersPoll < 0 || c.WriteTimeout < 0 ||
		c.ForwardTimeout < 0 || c.ApplyWait < 0 || c.RestoreTimeout < 0 {
		return errors.New("httpapi: negative limit or duration in Config")
	}
	return nil
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Handler is the native HTTP API. It implements http.Handler; Close ends its
// watches and stops its background goroutines.
type Handler struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	router  *mux.Router
	metrics *metrics
	hdrs    headerCache

	client    *http.Client
	ownClient bool
	scheme    string // of the leader's address when forwarding: http or https
	coal      *coalescer
	fwd       *writeBatcher
	workers   *workerPool // runs the writes of forwarded batches
	// fwdBinary is the leader (HTTP address) last seen answering a batch
	// in the binary form (fwdwire.go); nil before any.
	fwdBinary atomic.Pointer[string]
	root      atomic.Pointer[http.Handler] // the whole server's handler (SetRoot)
	audit     *auditor
	members   *memberWatch
	sdAll     atomic.Pointer[sdAnswer]

	// noFastPath routes the hot lookup through mux too (benchmarks compare).
	noFastPath bool

	watchers atomic.Int64
	mu       sync.Mutex // guards closed and streams.Add
	closed   bool
	closing  chan struct{}
	streams  sync.WaitGroup // blocking queries and SSE streams in flight
	baseCtx  context.Context
	cancel   context.CancelFunc

	// restoring: a snapshot restore is running through this server.
	restoring atomic.Bool
	// writeLim and hbLim: per-client rate limits (nil: off); tarpits
	// counts refusals being held back.
	writeLim, hbLim *clientLimits
	tarpits         atomic.Int64
	memberIPs       memberIPs
}

// New builds a Handler from cfg and starts its background goroutines (the
// heartbeat coalescer's flushes and the members poller); Close stops them.
func New(cfg Config) (*Handler, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		metrics: m,
		client:  cfg.ForwardClient,
		closing: make(chan struct{}),
		scheme:  "http",
	}
	if cfg.ForwardTLS != nil {
		h.scheme = "https"
	}
	if h.client == nil {
		tr := newForwardTransport()
		tr.TLSClientConfig = cfg.ForwardTLS
		h.client = &http.Client{Transport: tr}
		h.ownClient = true
	}
	if h.audit, err = newAuditor(cfg.Logger, cfg.Metrics); err != nil {
		return nil, err
	}
	h.baseCtx, h.cancel = context.WithCancel(context.Background())
	h.coal = newCoalescer(h)
	h.fwd = newWriteBatcher(h)
	h.workers = newWorkerPool()
	h.members = newMemberWatch(h)
	m.watchers(func() float64 { return float64(h.watchers.Load()) })
	h.writeLim, h.hbLim = cfg.clientLimits()
	h.router = h.routes()
	return h, nil
}

// newForwardTransport is a keep-alive pool sized for a follower that
// forwards every write and heartbeat batch to one leader.
func newForwardTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func (h *Handler) routes() *mux.Router {
	r := mux.NewRouter()
	handle := func(path string, id routeID, fn http.HandlerFunc, methods ...string) {
		r.Handle(path, h.instrument(id, fn)).Methods(methods...)
	}
	handle("/v1/services", routeServices, h.listServices, http.MethodGet)
	handle("/v1/services/{service}/instances", routeLookup, h.listInstances, http.MethodGet)
	handle("/v1/services/{service}/instances/{id}", routeInstance, h.getInstance, http.MethodGet)
	handle("/v1/services/{service}/instances/{id}", routeRegister, h.register, http.MethodPut)
	handle("/v1/services/{service}/instances/{id}", routeDeregister, h.deregister, http.MethodDelete)
	handle("/v1/services/{service}/instances/{id}/heartbeat", routeHeartbeat, h.heartbeat, http.MethodPut)
	handle("/v1/services/{service}/instances/{id}/maintenance", routeMaintenance, h.maintenance, http.MethodPut)
	handle("/v1/heartbeats", routeHeartbeats, h.heartbeats, http.MethodPut)
	handle(ForwardBatchPath, routeForwardBatch, h.forwardedWrites, http.MethodPut)
	handle("/v1/cluster/leader", routeLeader, h.clusterLeader, http.MethodGet)
	handle("/v1/cluster/members", routeMembers, h.clusterMembers, http.MethodGet)
	handle("/v1/cluster/raft", routeRaft, h.clusterRaft, http.MethodGet)
	handle("/v1/cluster/leases", routeLeases, h.clusterLeases, http.MethodGet)
	handle("/v1/cluster/health", routeHealth, h.clusterHealth, http.MethodGet)
	handle("/v1/cluster/leave", routeLeave, h.leave, http.MethodPut)
	handle("/v1/cluster/raft/peers/{id}", routeRemovePeer, h.removePeer, http.MethodDelete)
	handle("/v1/snapshot", routeSnapshotSave, h.snapshotSave, http.MethodGet)
	handle("/v1/snapshot", routeSnapshotRestore, h.snapshotRestore, http.MethodPut)
	handle("/livez", routeLivez, h.livez, http.MethodGet)
	handle("/readyz", routeReadyz, h.readyz, http.MethodGet)
	prom := promhttp.HandlerFor(h.cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPromLogger{h.log}})
	handle("/metrics", routeMetrics, func(w http.ResponseWriter, r *http.Request) {
		h.setReadHeaders(w.Header(), h.store.Catalog().Index())
		prom.ServeHTTP(w, r)
	}, http.MethodGet)
	handle("/v1/prometheus/sd", routePrometheusSD, h.prometheusSD, http.MethodGet)
	handle("/v1/openapi.yaml", routeOpenAPI, h.openAPI, http.MethodGet)
	h.uiRoutes(r)
	handle("/v1/acl/bootstrap", routeACL, h.aclBootstrap, http.MethodPut)
	handle("/v1/acl/tokens", routeACL, h.aclCreate, http.MethodPut)
	handle("/v1/acl/tokens", routeACL, h.aclList, http.MethodGet)
	handle("/v1/acl/tokens/{accessor}", routeACL, h.aclDelete, http.MethodDelete)
	handle("/v1/cluster/keyring", routeKeyring, h.keyringList, http.MethodGet)
	handle("/v1/cluster/keyring", routeKeyring, h.keyringChange, http.MethodPut)
	r.Use(h.authorize)
	r.NotFoundHandler = h.instrument(routeNotFound, func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound,
			msg: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
	})
	r.MethodNotAllowedHandler = h.instrument(routeMethodNotAllowed, func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: codeMethod,
			msg: fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)})
	})
	return r
}

// ServeHTTP answers one request. The default instance listing (GET
// /v1/services/{service}/instances with no query and no event-stream
// Accept) is served before mux: it is the hot path, and routing it through
// mux costs more than the rest of the lookup (see docs/http-api.md).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ACL.Resolver != nil {
		var ok bool
		if r, ok = h.authenticate(w, r, acl.NativeToken(r)); !ok {
			return
		}
	}
	if !h.noFastPath && r.Method == http.MethodGet && r.URL.RawQuery == "" {
		// With ACLs, a caller that may not read the service goes through
		// the router, which answers the 403.
		if name, ok := fastLookupName(r.URL.Path); ok && !wantsEventStream(r) &&
			(h.cfg.ACL.Resolver == nil || acl.FromContext(r.Context()).ServiceRead(name)) && h.fastLookup(w, name) {
			return
		}
	}
	h.bodyDeadline(w, r)
	h.router.ServeHTTP(w, r)
}

// fastLookupName extracts {service} from /v1/services/{service}/instances.
func fastLookupName(path string) (string, bool) {
	const prefix, suffix = "/v1/services/", "/instances"
	if len(path) <= len(prefix)+len(suffix) || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		return "", false
	}
	name := path[len(prefix) : len(path)-len(suffix)]
	if strings.IndexByte(name, '/') >= 0 {
		return "", false
	}
	return name, true
}

// Close ends every SSE stream and blocking query (blocking queries answer
// with their current state, streams end cleanly), fails heartbeats waiting in
// the coalescer with 503, stops the background goroutines and waits for all
// of them. Call it before http.Server.Shutdown, which does not end streams.
func (h *Handler) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.closing)
	h.mu.Unlock()
	h.cancel()
	h.coal.close()
	h.fwd.close()
	h.workers.close()
	h.members.close()
	h.streams.Wait()
	if h.ownClient {
		h.client.CloseIdleConnections()
	}
}

// NewServer returns an http.Server for h on addr with only ReadHeaderTimeout
// and IdleTimeout set: blocking queries and SSE streams live for minutes, so
// each request sets its own write deadline instead of a server-wide one.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// slogPromLogger adapts slog to promhttp's error logger.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Error("serve metrics", "err", fmt.Sprint(v...))
}
