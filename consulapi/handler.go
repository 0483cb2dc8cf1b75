// Package consulapi serves the subset of Consul's HTTP API that discovery
// tools use (agent service registration and TTL checks, catalog, health,
// status, blocking queries, ?filter), mapped onto Roster's catalog through
// the same store, validation, forwarding and limits as the native API.
package consulapi

import (
	"errors"
	"fmt"
	"github.com/rosterhq/roster/acl"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

// DefaultDatacenter is the one datacenter a Roster cluster serves.
const DefaultDatacenter = "dc1"

// ConsulVersion is the Consul version whose API shapes the subset follows;
// GET /v1/agent/self reports it as Config.Version (tools compare it to
// decide which features to use) and Roster's own version in Meta.
const ConsulVersion = "1.20.6"

// Config configures a Handler.
type Config struct {
	// Store is the replicated catalog; required.
	Store httpapi.Store
	// Native is the native API handler on the same server: its forwarder,
	// watch budget, body limit and error answers are shared; required.
	Native *httpapi.Handler
	// Datacenter is the name every answer gives; default "dc1".
	Datacenter string
	// NodeID is this server's Raft id: GET /v1/agent/self describes the
	// gossip member with that id.
	NodeID string
	// Version is Roster's version, in /v1/agent/self's Meta.
	Version string
	// Logger receives write-path decisions; defaults to slog.Default().
	Logger *slog.Logger
	// Metrics is where the request counter is registered; nil: none.
	Metrics prometheus.Registerer
}

// Handler serves the Consul-compatible subset. It implements http.Handler.
type Handler struct {
	cfg      Config
	store    httpapi.Store
	native   *httpapi.Handler
	log      *slog.Logger
	router   *mux.Router
	requests *prometheus.CounterVec

	// The one-service answers kept with the catalog's views (encoders).
	health, healthPassing, catalog *listEncoder

	checkMu    sync.Mutex
	checkIndex uint64            // catalog index checkIDs was built at
	checkIDs   map[string]string // custom check id -> instance id
}

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Native == nil {
		return nil, errors.New("consulapi: Config.Store and Config.Native are required")
	}
	if cfg.Datacenter == "" {
		cfg.Datacenter = DefaultDatacenter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, store: cfg.Store, native: cfg.Native, log: cfg.Logger}
	h.health = &listEncoder{filter: registry.FilterAny, elem: func(in *registry.Instance) any { return h.checkServiceNode(in) }}
	h.healthPassing = &listEncoder{filter: registry.FilterPassing, elem: h.health.elem}
	h.catalog = &listEncoder{filter: registry.FilterAny, elem: func(in *registry.Instance) any { return h.serviceNode(in) }}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roster_consul_http_requests_total",
		Help: "Requests to the Consul-compatible API by endpoint and status class.",
	}, []string{"endpoint", "code"})
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(h.requests); err != nil {
			return nil, fmt.Errorf("consulapi: register metrics: %w", err)
		}
	}
	h.router = h.routes()
	return h, nil
}

func (h *Handler) routes() *mux.Router {
	r := mux.NewRouter()
	handle := func(path, name string, fn http.HandlerFunc, methods ...string) {
		r.Handle(path, h.instrument(name, fn)).Methods(methods...)
	}
	put := http.MethodPut
	get := http.MethodGet

	handle("/v1/agent/service/register", "agent_service_register", h.agentRegister, put)
	handle("/v1/agent/service/deregister/{id}", "agent_service_deregister", h.agentDeregister, put)
	handle("/v1/agent/service/maintenance/{id}", "agent_service_maintenance", h.agentMaintenance, put)
	handle("/v1/agent/check/pass/{id}", "agent_check_pass", h.checkStatus(api.StatusPassing), put)
	handle("/v1/agent/check/warn/{id}", "agent_check_warn", h.checkStatus(api.StatusWarning), put)
	handle("/v1/agent/check/fail/{id}", "agent_check_fail", h.checkStatus(api.StatusCritical), put)
	handle("/v1/agent/check/update/{id}", "agent_check_update", h.checkUpdate, put)
	handle("/v1/agent/services", "agent_services", h.agentServices, get)
	handle("/v1/agent/service/{id}", "agent_service", h.agentServiceByID, get)
	handle("/v1/agent/checks", "agent_checks", h.agentChecks, get)
	handle("/v1/agent/self", "agent_self", h.agentSelf, get)
	handle("/v1/agent/members", "agent_members", h.agentMembers, get)

	handle("/v1/catalog/register", "catalog_register", h.catalogRegister, put)
	handle("/v1/catalog/deregister", "catalog_deregister", h.catalogDeregister, put)
	handle("/v1/catalog/datacenters", "catalog_datacenters", h.catalogDatacenters, get)
	handle("/v1/catalog/services", "catalog_services", h.catalogServices, get)
	handle("/v1/catalog/service/{service}", "catalog_service", h.catalogService, get)
	handle("/v1/catalog/nodes", "catalog_nodes", h.catalogNodes, get)
	handle("/v1/catalog/node/{node}", "catalog_node", h.catalogNode, get)

	handle("/v1/health/service/{service}", "health_service", h.healthService, get)
	handle("/v1/health/checks/{service}", "health_checks", h.healthChecks, get)
	handle("/v1/health/state/{state}", "health_state", h.healthState, get)
	handle("/v1/health/node/{node}", "health_node", h.healthNode, get)

	handle("/v1/status/leader", "status_leader", h.statusLeader, get)
	handle("/v1/status/peers", "status_peers", h.statusPeers, get)

	unsupported := h.instrument("unsupported", h.unsupported)
	r.NotFoundHandler = unsupported
	r.MethodNotAllowedHandler = h.instrument("method_not_allowed", func(w http.ResponseWriter, r *http.Request) {
		h.native.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, api.CodeMethod,
			"method %s not allowed on %s", r.Method, r.URL.Path))
	})
	r.Use(h.authorize)
	return r
}

// ServeHTTP answers one request of the Consul subset. The caller's token
// (X-Consul-Token, ?token= or the native headers) becomes the identity in
// the request context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, ok := h.native.Authenticate(w, r, acl.ConsulToken(r))
	if !ok {
		return
	}
	h.router.ServeHTTP(w, r)
}

// authorize checks every matched route's permission (acl.Routes) through
// the native handler, so both front ends refuse and audit alike.
func (h *Handler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tmpl := ""
		if rt := mux.CurrentRoute(r); rt != nil {
			tmpl, _ = rt.GetPathTemplate()
		}
		done, ok := h.native.Authorize(w, r, tmpl, strings.ToLower(mux.Vars(r)["service"]))
		if !ok {
			return
		}
		sw := httpapi.NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		done(sw.Status())
	})
}

// Mount returns the handler for a whole server: requests under Consul's
// path prefixes (IsConsulPath) go to h, everything else to native.
// The native handler of this server (Config.Native) learns the mounted
// handler (httpapi.Handler.SetRoot), so the writes a follower forwards to
// it in a batch reach the front end their client called.
func (h *Handler) Mount(native http.Handler) http.Handler {
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsConsulPath(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		native.ServeHTTP(w, r)
	})
	h.native.SetRoot(root)
	return root
}

// consulPrefixes are the first path segments after /v1/ that belong to
// Consul's API. The native API owns /v1/services, /v1/heartbeats,
// /v1/cluster, /v1/snapshot and /v1/prometheus; every Consul endpoint
// Roster does not serve answers 501 naming it rather than the router's 404.
var consulPrefixes = map[string]string{
	"agent":             "the agent API",
	"catalog":           "the catalog API",
	"health":            "the health API",
	"status":            "the status API",
	"kv":                "Consul's key-value store",
	"session":           "sessions (Roster has no key-value store to lock)",
	"connect":           "Connect (service mesh)",
	"coordinate":        "network coordinates",
	"event":             "user events",
	"txn":               "transactions (Roster has no key-value store)",
	"query":             "prepared queries",
	"operator":          "Consul's operator API (use /v1/cluster)",
	"config":            "configuration entries (Connect)",
	"discovery-chain":   "discovery chains (Connect)",
	"internal":          "Consul's internal UI endpoints",
	"peering":           "cluster peering",
	"peerings":          "cluster peering",
	"namespace":         "namespaces (Consul Enterprise)",
	"namespaces":        "namespaces (Consul Enterprise)",
	"partition":         "admin partitions (Consul Enterprise)",
	"partitions":        "admin partitions (Consul Enterprise)",
	"exported-services": "exported services (cluster peering)",
	"imported-services": "imported services (cluster peering)",
}

// IsConsulPath reports whether path belongs to the Consul-compatible API.
func IsConsulPath(path string) bool {
	seg, ok := v1Segment(path)
	if !ok {
		return false
	}
	_, ok = consulPrefixes[seg]
	return ok
}

// v1Segment returns the path segment after "/v1/".
func v1Segment(path string) (string, bool) {
	const v1 = "/v1/"
	if !strings.HasPrefix(path, v1) {
		return "", false
	}
	rest := path[len(v1):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest, true
}

// unsupported answers a Consul endpoint Roster does not serve: 501 naming
// what is missing, so that a tool fails loudly instead of reading a 404 as
// "no such key" or "no such service".
func (h *Handler) unsupported(w http.ResponseWriter, r *http.Request) {
	seg, _ := v1Segment(r.URL.Path)
	what := consulPrefixes[seg]
	switch seg {
	case "agent", "catalog", "health", "status":
		what = "this endpoint of " + what
	}
	h.native.WriteError(w, httpapi.Errorf(http.StatusNotImplemented, api.CodeNotImplemented,
		"Roster does not serve %s (%s %s); see docs/consul-compatibility.md for the endpoints it serves",
		what, r.Method, r.URL.Path))
}

var codeClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// instrument counts a route's answers by status class; the counters are
// resolved once here, not per request.
func (h *Handler) instrument(name string, fn http.HandlerFunc) http.Handler {
	var counters [len(codeClasses)]prometheus.Counter
	for i, c := range codeClasses {
		counters[i] = h.requests.WithLabelValues(name, c)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := httpapi.NewStatusWriter(w)
		fn(sw, r)
		status := sw.Status()
		if c := status/100 - 1; c >= 0 && c < len(counters) {
			counters[c].Inc()
		}
	})
}

// lookupInstance finds an instance by id in the local catalog.
func (h *Handler) lookupInstance(id string) (registry.Instance, bool) {
	return h.store.Catalog().Instance(id)
}
