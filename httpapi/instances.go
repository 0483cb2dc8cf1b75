package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// fastLookup serves the default listing straight from the view's cached
// encoding. It reports false (serve through mux) for a name that needs the
// full error handling.
func (h *Handler) fastLookup(w http.ResponseWriter, name string) bool {
	if registry.ValidateServiceName(name) != nil {
		return false
	}
	view := h.store.Catalog().Service(lowerASCII(name))
	body := view.Encode(instanceList{}, registry.FilterHealthy)
	hdr := w.Header()
	h.setReadHeaders(hdr, view.Index)
	h.writeEncoded(w, http.StatusOK, body)
	h.metrics.count(routeLookup, http.StatusOK)
	return true
}

// lowerASCII lowercases a validated service name, without allocating when
// it is lowercase already.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// serviceQuery reads the {service} path variable and the listing query
// parameters, answering 400 itself when either is bad.
func (h *Handler) serviceQuery(w http.ResponseWriter, r *http.Request) (string, listQuery, bool) {
	name, err := serviceVar(r)
	if err == nil {
		var q listQuery
		if q, err = h.parseListQuery(r); err == nil {
			return name, q, true
		}
	}
	h.writeError(w, err)
	return "", listQuery{}, false
}

// listInstances answers GET /v1/services/{service}/instances: a plain or
// consistent listing, a blocking query, or an SSE stream.
func (h *Handler) listInstances(w http.ResponseWriter, r *http.Request) {
	name, q, ok := h.serviceQuery(w, r)
	if !ok {
		return
	}
	if wantsEventStream(r) {
		h.serveSSE(w, r, name, q)
		return
	}
	if q.consistent && !h.consistentRead(w, r, q) {
		return
	}
	cat := h.store.Catalog()
	if !q.blocking {
		h.writeList(w, cat.Service(name), q)
		return
	}
	release, err := h.acquireWatch()
	if err != nil {
		h.writeError(w, err)
		return
	}
	defer release()
	view := waitFor(h, r, q.wait,
		func() <-chan struct{} { return cat.WatchService(name) },
		func() (*registry.ServiceView, bool) {
			v := cat.Service(name)
			return v, v.Index > q.index || q.index > cat.Index()
		})
	defer h.writeDeadline(w, h.cfg.WriteTimeout)()
	h.writeList(w, view, q)
}

// consistentRead makes a ?consistent read linearizable: a follower forwards
// it to the leader, the leader confirms leadership and catches up. It
// reports whether the caller should go on and answer from local state.
func (h *Handler) consistentRead(w http.ResponseWriter, r *http.Request, q listQuery) bool {
	if !h.store.IsLeader() {
		timeout := h.cfg.ForwardTimeout
		if q.blocking {
			timeout += q.wait
		}
		h.forward(w, r, forwardRead, 0, timeout)
		return false
	}
	if err := h.store.ConsistentRead(r.Context()); err != nil {
		h.writeError(w, err)
		return false
	}
	return true
}

// writeList answers a service view with the query's filters.
func (h *Handler) writeList(w http.ResponseWriter, view *registry.ServiceView, q listQuery) {
	h.setReadHeaders(w.Header(), view.Index)
	h.writeEncoded(w, http.StatusOK, listBody(view, q))
}

// getInstance answers GET /v1/services/{service}/instances/{id} from one
// view, so the instance and the index agree.
func (h *Handler) getInstance(w http.ResponseWriter, r *http.Request) {
	name, q, ok := h.serviceQuery(w, r)
	if !ok {
		return
	}
	if q.consistent && !h.consistentRead(w, r, listQuery{}) {
		return
	}
	id := mux.Vars(r)["id"]
	view := h.store.Catalog().Service(name)
	h.setReadHeaders(w.Header(), view.Index)
	in, ok := view.Get(id)
	if !ok {
		h.writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound,
			msg: "instance " + id + " of service " + name + " is not registered"})
		return
	}
	writeJSON(w, http.StatusOK, in.ToAPI())
}

// register answers PUT /v1/services/{service}/instances/{id}.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	if h.ForwardWrite(w, r) {
		return
	}
	name, err := serviceVar(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	var req api.RegisterRequest
	if err := h.decodeBody(w, r, &req, true); err != nil {
		h.writeError(w, err)
		return
	}
	inst, err := instanceFromRequest(name, mux.Vars(r)["id"], &req)
	if err != nil {
		h.writeError(w, err)
		return
	}
	stored, index, err := h.store.Register(r.Context(), inst)
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, api.RegisterResponse{Instance: stored.ToAPI(), Index: index})
}

// instanceFromRequest converts a registration body; the store validates
// the rules of design.md.
func instanceFromRequest(service, id string, req *api.RegisterRequest) (registry.Instance, error) {
	ttl, err := parseDuration("ttl", req.TTL)
	if err != nil {
		return registry.Instance{}, err
	}
	dereg, err := parseDuration("deregister_after", req.DeregisterAfter)
	if err != nil {
		return registry.Instance{}, err
	}
	if req.Status != "" && !req.Status.Valid() {
		return registry.Instance{}, invalidf("status", "status must be passing, warning or critical, not %q", req.Status)
	}
	inst := registry.Instance{
		Service:         service,
		ID:              id,
		Address:         req.Address,
		Port:            req.Port,
		Tags:            req.Tags,
		Meta:            req.Meta,
		Status:          req.Status,
		Output:          req.Output,
		TTL:             ttl,
		DeregisterAfter: dereg,
	}
	if req.Weight != nil {
		inst.Weight = *req.Weight
	}
	return inst, nil
}

// deregister answers DELETE /v1/services/{service}/instances/{id}.
func (h *Handler) deregister(w http.ResponseWriter, r *http.Request) {
	if h.ForwardWrite(w, r) {
		return
	}
	name, err := serviceVar(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	index, err := h.store.Deregister(r.Context(), name, mux.Vars(r)["id"])
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, api.WriteResult{Index: index})
}

// listServices answers GET /v1/services, plain, consistent or blocking.
func (h *Handler) listServices(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseListQuery(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	if q.consistent && !h.consistentRead(w, r, q) {
		return
	}
	cat := h.store.Catalog()
	view := cat.Services()
	if q.blocking {
		release, err := h.acquireWatch()
		if err != nil {
			h.writeError(w, err)
			return
		}
		defer release()
		view = waitFor(h, r, q.wait, cat.WatchServices, func() (*registry.ServicesView, bool) {
			v := cat.Services()
			return v, v.Index > q.index || q.index > cat.Index()
		})
		defer h.writeDeadline(w, h.cfg.WriteTimeout)()
	}
	h.setReadHeaders(w.Header(), view.Index)
	h.writeServices(w, r, view)
}
