package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// ACLStore is what the ACL endpoints need of the store beyond Store.
type ACLStore interface {
	ACLBootstrap(ctx context.Context, t registry.Token, resetIndex uint64) (uint64, error)
	ACLSetToken(ctx context.Context, t registry.Token) (uint64, error)
	ACLDeleteToken(ctx context.Context, accessor string) (uint64, error)
}

// ACLConfig enables access control on the handler.
type ACLConfig struct {
	// Resolver turns tokens into identities; nil disables ACLs.
	Resolver *acl.Resolver
	// Store replicates tokens.
	Store ACLStore
	// ResetFile is the operator's bootstrap reset file (Consul's
	// acl-bootstrap-reset): when it holds the index of the last bootstrap,
	// one more bootstrap is allowed, and the file is removed.
	ResetFile string
}

// ResetFileName is the bootstrap reset file in the data dir.
const ResetFileName = "acl-bootstrap-reset"

const codeDenied = api.CodeDenied

// auditor logs and counts writes, operator actions and denials
// (component=audit), with the token's accessor id and the client address,
// never the secret.
type auditor struct {
	log    *slog.Logger
	events *prometheus.CounterVec
}

func newAuditor(log *slog.Logger, reg prometheus.Registerer) (*auditor, error) {
	a := &auditor{
		log: log.With("component", "audit"),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_audit_events_total",
			Help: "Audited requests: writes, operator actions and denied requests, by kind.",
		}, []string{"kind"}),
	}
	if reg != nil {
		if err := reg.Register(a.events); err != nil {
			// A second handler on one registry shares the counter.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("register audit metrics: %w", err)
			}
			a.events = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return a, nil
}

// record logs one audited request. kind is write, operator or denied.
func (a *auditor) record(r *http.Request, kind string, status int, detail string) {
	accessor := "-" // ACLs disabled
	if id := acl.FromContext(r.Context()); id != nil {
		accessor = id.Accessor
	}
	a.events.WithLabelValues(kind).Inc()
	level := slog.LevelInfo
	if kind == "denied" {
		level = slog.LevelWarn
	}
	a.log.Log(r.Context(), level, "audit", "kind", kind, "method", r.Method, "path", r.URL.Path,
		"status", status, "accessor", accessor, "client", r.RemoteAddr, "detail", detail)
}

// authenticate puts the caller's identity in the request context; a
// secret no token has is refused (403) rather than taken as anonymous.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, secret string) (*http.Request, bool) {
	id, err := h.cfg.ACL.Resolver.Resolve(secret)
	if err != nil {
		h.audit.record(r, "denied", http.StatusForbidden, err.Error())
		h.writeError(w, err)
		return nil, false
	}
	return r.WithContext(acl.WithIdentity(r.Context(), id)), true
}

// Authenticate is authenticate for another front end, which reads the
// secret its own way (acl.ConsulToken). Without ACLs it returns r.
func (h *Handler) Authenticate(w http.ResponseWriter, r *http.Request, secret string) (*http.Request, bool) {
	if h.cfg.ACL.Resolver == nil {
		return r, true
	}
	return h.authenticate(w, r, secret)
}

// Authorize checks the route's permission (acl.Routes) for the identity
// in r's context and answers 403 naming the missing permission when it
// is not held; service is the route's {service}, if any. It also audits
// the request once answered: call the returned done with the status.
func (h *Handler) Authorize(w http.ResponseWriter, r *http.Request, template, service string) (done func(status int), ok bool) {
	if err := acl.Check(acl.FromContext(r.Context()), r.Method, template, service); err != nil {
		h.audit.record(r, "denied", http.StatusForbidden, err.Error())
		h.writeError(w, err)
		return nil, false
	}
	return func(status int) { h.auditDone(r, template, status) }, true
}

// auditDone records an answered request that changed state or was an
// operator action. Successful heartbeats are not logged (every instance
// sends one per interval); refused ones are.
func (h *Handler) auditDone(r *http.Request, template string, status int) {
	if r.Header.Get(api.HeaderForwarded) != "" {
		return // audited where the client connected
	}
	need := acl.Routes[r.Method+" "+template]
	switch {
	case status == http.StatusForbidden:
		h.audit.record(r, "denied", status, "")
	case need == acl.OperatorWrite || need == acl.OperatorRead && template != "/metrics":
		if acl.IsWrite(r.Method) || need == acl.OperatorWrite {
			h.audit.record(r, "operator", status, "")
		}
	case acl.IsWrite(r.Method):
		if strings.HasSuffix(template, "/heartbeat") || template == "/v1/heartbeats" || strings.HasPrefix(template, "/v1/agent/check/") {
			if status < 400 {
				return
			}
		}
		h.audit.record(r, "write", status, "")
	}
}

// authorize is the native router's middleware: every matched route passes
// its permission check, then is audited.
func (h *Handler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tmpl := ""
		if rt := mux.CurrentRoute(r); rt != nil {
			tmpl, _ = rt.GetPathTemplate()
		}
		if h.cfg.ACL.Resolver == nil && r.Method == http.MethodGet && tmpl != "/v1/snapshot" {
			next.ServeHTTP(w, r) // nothing to check or audit
			return
		}
		done, ok := h.Authorize(w, r, tmpl, strings.ToLower(mux.Vars(r)["service"]))
		if !ok {
			return
		}
		sw := NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		done(sw.Status())
	})
}

// restricted reports whether r's identity may not read every service, so
// lists must be filtered.
func restricted(r *http.Request) bool {
	return !acl.FromContext(r.Context()).ReadsAll()
}

// writeServices answers the service list, filtered to what the caller may read.
func (h *Handler) writeServices(w http.ResponseWriter, r *http.Request, view *registry.ServicesView) {
	if !restricted(r) {
		h.writeBody(w, http.StatusOK, view.Encode(serviceList{}))
		return
	}
	id := acl.FromContext(r.Context())
	list := api.ServiceList{Index: view.Index, Services: []api.ServiceSummary{}}
	for _, s := range view.Services {
		if id.ServiceRead(s.Name) {
			list.Services = append(list.Services, s)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// readable keeps the names r's identity may read.
func readable(r *http.Request, names []string) []string {
	id := acl.FromContext(r.Context())
	out := names[:0:0]
	for _, n := range names {
		if id.ServiceRead(n) {
			out = append(out, n)
		}
	}
	return out
}

// errACLDisabled answers the ACL endpoints on a server without --acl.
var errACLDisabled = &apiError{status: http.StatusNotFound, code: codeNotFound, msg: "ACLs are not enabled on this server (roster server --acl)"}

// newToken makes a token's accessor and secret; the secret is returned
// once and only its hash is stored.
func newToken(description string, rules []string) (registry.Token, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return registry.Token{}, "", fmt.Errorf("token secret: %w", err)
	}
	secret := hex.EncodeToString(b)
	return registry.Token{Accessor: uuid.NewString(), SecretHash: acl.HashSecret(secret), Description: description, Rules: rules}, secret, nil
}

// aclBootstrap answers PUT /v1/acl/bootstrap: the management token, once.
func (h *Handler) aclBootstrap(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ACL.Resolver == nil {
		h.writeError(w, errACLDisabled)
		return
	}
	if h.forwardWrite(w, r) {
		return
	}
	var reset uint64
	if h.cfg.ACL.ResetFile != "" {
		if b, err := os.ReadFile(h.cfg.ACL.ResetFile); err == nil {
			reset, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
	}
	t, secret, err := newToken("bootstrap token (management)", acl.BootstrapRules)
	if err != nil {
		h.writeError(w, err)
		return
	}
	index, err := h.cfg.ACL.Store.ACLBootstrap(r.Context(), t, reset)
	if errors.Is(err, registry.ErrACLBootstrapped) {
		h.writeError(w, &apiError{status: http.StatusConflict, code: codeConflict,
			msg: fmt.Sprintf("ACLs are already bootstrapped; to bootstrap again, write %d to %s on the leader", h.store.Catalog().ACLBootstrapIndex(), resetFileHint(h.cfg.ACL.ResetFile))})
		return
	}
	if err != nil {
		h.writeError(w, err)
		return
	}
	if reset != 0 {
		_ = os.Remove(h.cfg.ACL.ResetFile)
	}
	if err := h.store.WaitApplied(r.Context(), index); err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, tokenAnswer(t, secret))
}

func resetFileHint(path string) string {
	if path == "" {
		return "<data-dir>/" + ResetFileName
	}
	return filepath.Clean(path)
}

func tokenAnswer(t registry.Token, secret string) api.ACLToken {
	rules := t.Rules
	if rules == nil {
		rules = []string{}
	}
	return api.ACLToken{Accessor: t.Accessor, Secret: secret, Description: t.Description, Rules: rules}
}

// aclCreate answers PUT /v1/acl/tokens.
func (h *Handler) aclCreate(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ACL.Resolver == nil {
		h.writeError(w, errACLDisabled)
		return
	}
	if h.forwardWrite(w, r) {
		return
	}
	var req api.ACLTokenRequest
	if err := h.decodeBody(w, r, &req, true); err != nil {
		h.writeError(w, err)
		return
	}
	if len(req.Rules) == 0 {
		h.writeError(w, invalidf("rules", "a token needs at least one rule"))
		return
	}
	if len(req.Description) > 256 {
		h.writeError(w, invalidf("description", "description is longer than 256 bytes"))
		return
	}
	if _, err := acl.ParseRules(req.Rules); err != nil {
		h.writeError(w, invalidf("rules", "%v", err))
		return
	}
	t, secret, err := newToken(req.Description, req.Rules)
	if err != nil {
		h.writeError(w, err)
		return
	}
	index, err := h.cfg.ACL.Store.ACLSetToken(r.Context(), t)
	if err == nil {
		err = h.store.WaitApplied(r.Context(), index)
	}
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, tokenAnswer(t, secret))
}

// aclList answers GET /v1/acl/tokens: every token without its secret.
func (h *Handler) aclList(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ACL.Resolver == nil {
		h.writeError(w, errACLDisabled)
		return
	}
	out := api.ACLTokenList{Tokens: []api.ACLToken{}}
	for _, t := range h.store.Catalog().Tokens() {
		out.Tokens = append(out.Tokens, tokenAnswer(t, ""))
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, out)
}

// aclDelete answers DELETE /v1/acl/tokens/{accessor}.
func (h *Handler) aclDelete(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ACL.Resolver == nil {
		h.writeError(w, errACLDisabled)
		return
	}
	if h.forwardWrite(w, r) {
		return
	}
	accessor := mux.Vars(r)["accessor"]
	index, err := h.cfg.ACL.Store.ACLDeleteToken(r.Context(), accessor)
	if errors.Is(err, registry.ErrTokenNotFound) {
		h.writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound, msg: fmt.Sprintf("no token with accessor %q", accessor)})
		return
	}
	if err == nil {
		err = h.store.WaitApplied(r.Context(), index)
	}
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, api.WriteResult{Index: index})
}
