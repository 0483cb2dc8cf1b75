package consulapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/acl"

	"github.com/gorilla/mux"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

// catalogDatacenters answers GET /v1/catalog/datacenters.
func (h *Handler) catalogDatacenters(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.writeJSON(w, []string{h.cfg.Datacenter}, q.pretty)
}

// catalogServices answers GET /v1/catalog/services: every service with at
// least one instance and its tags, whatever their health. ?tag keeps the
// services with an instance carrying every tag; ?filter is evaluated on
// each instance as a ServiceNode and keeps the services with one that
// matches (and only the matching instances' tags). Without either it
// watches the service list alone.
func (h *Handler) catalogServices(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	cat := h.store.Catalog()
	if q.filter == nil && len(q.tags) == 0 {
		id := acl.FromContext(r.Context())
		h.read(w, r, q, cat.WatchServices, func() uint64 { return cat.Services().Index },
			func() (uint64, any, error) {
				list := cat.Services()
				out := make(map[string][]string, len(list.Services))
				for _, s := range list.Services {
					if id.ServiceRead(s.Name) {
						out[s.Name] = s.Tags
					}
				}
				return list.Index, out, nil
			})
		return
	}
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		out := map[string][]string{}
		for _, v := range s.views {
			var tags []string
			found := false
			for in := range v.All() {
				if !hasTags(in, q.tags) {
					continue
				}
				if ok, err := q.match(h.serviceNode(in)); err != nil {
					return nil, err
				} else if !ok {
					continue
				}
				found = true
				tags = append(tags, in.Tags...)
			}
			if found {
				slices.Sort(tags)
				out[v.Name] = append([]string{}, slices.Compact(tags)...)
			}
		}
		return out, nil
	})
}

// serviceVar is the {service} path variable, lowercased (Roster's service
// names are case-insensitive). A name Roster could never hold answers an
// empty list, as an unknown service does.
func serviceVar(r *http.Request) string {
	return strings.ToLower(mux.Vars(r)["service"])
}

// catalogService answers GET /v1/catalog/service/{name} (?tag repeatable,
// ?filter on ServiceNode): every instance, whatever its health.
func (h *Handler) catalogService(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.readService(w, r, q, serviceVar(r), h.catalog, func(v *registry.ServiceView) (any, error) {
		out := []*ServiceNode{}
		for in := range v.All() {
			if !hasTags(in, q.tags) {
				continue
			}
			sn := h.serviceNode(in)
			if ok, err := q.match(sn); err != nil {
				return nil, err
			} else if ok {
				out = append(out, sn)
			}
		}
		return out, nil
	})
}

// nodes groups the snapshot's instances by node, sorted by node name.
func (h *Handler) nodes(s snapshot) []*Node {
	byName := map[string]*Node{}
	for _, v := range s.views {
		for in := range v.All() {
			n, ok := byName[nodeName(in)]
			if !ok {
				byName[nodeName(in)] = h.node(in)
				continue
			}
			n.CreateIndex = min(n.CreateIndex, in.CreateIndex)
			n.ModifyIndex = max(n.ModifyIndex, in.ModifyIndex)
		}
	}
	out := make([]*Node, 0, len(byName))
	for _, n := range byName {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// catalogNodes answers GET /v1/catalog/nodes (?filter on Node): one node
// per instance address.
func (h *Handler) catalogNodes(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		out := []*Node{}
		for _, n := range h.nodes(s) {
			if ok, err := q.match(n); err != nil {
				return nil, err
			} else if ok {
				out = append(out, n)
			}
		}
		return out, nil
	})
}

// onNode returns the snapshot's instances on the named node.
func onNode(s snapshot, node string) []*registry.Instance {
	var out []*registry.Instance
	for _, v := range s.views {
		for in := range v.All() {
			if nodeName(in) == node {
				out = append(out, in)
			}
		}
	}
	return out
}

// catalogNode answers GET /v1/catalog/node/{node}: the node and its
// services keyed by id, or null for an unknown node (as Consul answers).
func (h *Handler) catalogNode(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	node := mux.Vars(r)["node"]
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		insts := onNode(s, node)
		if len(insts) == 0 {
			return nil, nil
		}
		out := &NodeServices{Node: h.node(insts[0]), Services: map[string]*NodeService{}}
		for _, in := range insts {
			out.Node.CreateIndex = min(out.Node.CreateIndex, in.CreateIndex)
			out.Node.ModifyIndex = max(out.Node.ModifyIndex, in.ModifyIndex)
			ns := nodeService(in)
			if ok, err := q.match(ns); err != nil {
				return nil, err
			} else if ok {
				out.Services[ns.ID] = ns
			}
		}
		return out, nil
	})
}

// catalogRegistration is the body of PUT /v1/catalog/register
// (structs.RegisterRequest): how tools register services on external
// nodes. Roster keeps no node apart from its instances: the node is the
// service's address (or the node's Address when the service has none).
type catalogRegistration struct {
	Datacenter      string
	ID              string
	Node            string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *catalogService
	Check           *catalogCheck
	Checks          []*catalogCheck
	SkipNodeUpdate  bool
}

type catalogService struct {
	Kind              string
	ID                string
	Service           string
	Tags              []string
	Address           string
	Meta              map[string]string
	Port              int
	Weights           *Weights
	EnableTagOverride bool
	Proxy             *struct{ DestinationServiceName string }
	Connect           *connectDefinition
}

type catalogCheck struct {
	Node       string
	CheckID    string
	Name       string
	Status     string
	Notes      string
	Output     string
	ServiceID  string
	Definition struct {
		DeregisterCriticalServiceAfter string
	}
}

// catalogRegister answers PUT /v1/catalog/register with true. A service's
// checks (those naming its ServiceID, or naming none) give its status,
// the worst of them, critical when a check has none (Consul's default);
// none means passing. A body with checks but no Service updates the status
// of the instance its check names.
func (h *Handler) catalogRegister(w http.ResponseWriter, r *http.Request) {
	var req catalogRegistration
	if !h.leaderDecode(w, r, &req) {
		return
	}
	if req.Datacenter != "" && req.Datacenter != h.cfg.Datacenter {
		h.native.WriteError(w, httpapi.InvalidField("Datacenter", "No path to datacenter %q: Roster serves one datacenter, %q", req.Datacenter, h.cfg.Datacenter))
		return
	}
	checks := req.Checks
	if req.Check != nil {
		checks = append([]*catalogCheck{req.Check}, checks...)
	}
	var inst registry.Instance
	switch {
	case req.Service != nil:
		var err error
		if inst, err = h.instanceFromCatalog(&req); err != nil {
			h.native.WriteError(w, err)
			return
		}
	case len(checks) > 0 && checks[0] != nil && checks[0].ServiceID != "":
		cur, ok := h.lookupInstance(checks[0].ServiceID)
		if !ok {
			h.native.WriteError(w, httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "Unknown service ID %q for check %q", checks[0].ServiceID, checks[0].CheckID))
			return
		}
		inst = cur
		inst.Meta = userMetaWithChecks(cur.Meta)
	default:
		h.native.WriteError(w, httpapi.InvalidField("Service", "Roster keeps no nodes without services: register a Service"))
		return
	}
	if err := applyCatalogChecks(&inst, checks); err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.register(w, r, inst, true)
}

// userMetaWithChecks copies meta (including the reserved check keys) for
// a re-registration.
func userMetaWithChecks(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		out[k] = v
	}
	return out
}

func (h *Handler) instanceFromCatalog(req *catalogRegistration) (registry.Instance, error) {
	s := req.Service
	switch {
	case s.Service == "":
		return registry.Instance{}, httpapi.InvalidField("Service.Service", "Must provide service name with ID")
	case s.Kind != "" || s.Proxy != nil && s.Proxy.DestinationServiceName != "" ||
		s.Connect != nil && (s.Connect.Native || len(s.Connect.SidecarService) > 0 && string(s.Connect.SidecarService) != "null"):
		return registry.Instance{}, httpapi.InvalidField("Service.Kind", "Roster does not serve Connect")
	}
	meta, err := consulMeta(s.Meta)
	if err != nil {
		return registry.Instance{}, err
	}
	id := s.ID
	if id == "" {
		id = s.Service
	}
	addr := s.Address
	if addr == "" {
		addr = req.Address
	}
	inst := registry.Instance{Service: s.Service, ID: id, Address: addr, Port: s.Port, Tags: s.Tags, Meta: meta, Status: api.StatusPassing}
	if s.Weights != nil {
		inst.Weight = s.Weights.Passing
	}
	return inst, nil
}

// statusRank orders statuses from best to worst.
func statusRank(s api.Status) int {
	switch s {
	case api.StatusPassing:
		return 0
	case api.StatusWarning:
		return 1
	}
	return 2
}

// applyCatalogChecks sets the instance's status and output from the
// checks that belong to it.
func applyCatalogChecks(inst *registry.Instance, checks []*catalogCheck) error {
	first := true
	for _, c := range checks {
		if c == nil || c.ServiceID != "" && c.ServiceID != inst.ID {
			continue
		}
		status := api.Status(c.Status)
		if status == "" {
			status = api.StatusCritical
		}
		if !status.Valid() {
			return httpapi.InvalidField("Check.Status", "Invalid check status: '%s'", c.Status)
		}
		if first || statusRank(status) > statusRank(inst.Status) {
			inst.Status = status
			inst.Output = c.Output
		}
		if first {
			id := c.CheckID
			if id == "" {
				id = c.Name
			}
			if id == "" {
				id = "service:" + inst.ID
			}
			inst.Meta[metaCheckID] = id
			setCheckMeta(inst, "", c.Name, c.Notes)
			if d := c.Definition.DeregisterCriticalServiceAfter; d != "" {
				dur, err := time.ParseDuration(d)
				if err != nil {
					return httpapi.InvalidField("Check.Definition.DeregisterCriticalServiceAfter", "%q is not a duration such as 1m", d)
				}
				inst.DeregisterAfter = dur
			}
		}
		first = false
	}
	return nil
}

// catalogDeregistration is the body of PUT /v1/catalog/deregister.
type catalogDeregistration struct {
	Datacenter string
	Node       string
	ServiceID  string
	CheckID    string
}

// catalogDeregister answers PUT /v1/catalog/deregister with true: a
// ServiceID removes that instance (when it is on Node), a Node alone
// removes every instance on it.
func (h *Handler) catalogDeregister(w http.ResponseWriter, r *http.Request) {
	var req catalogDeregistration
	if !h.leaderDecode(w, r, &req) {
		return
	}
	switch {
	case req.Node == "":
		h.native.WriteError(w, httpapi.InvalidField("Node", "Must provide node"))
		return
	case req.CheckID != "" && req.ServiceID == "":
		h.native.WriteError(w, httpapi.InvalidField("CheckID", "Roster keeps one health check per instance and cannot remove it alone: deregister the service"))
		return
	}
	var targets []registry.Instance
	if req.ServiceID != "" {
		if inst, ok := h.lookupInstance(req.ServiceID); ok && nodeName(&inst) == req.Node {
			targets = append(targets, inst)
		}
	} else {
		for _, in := range onNode(h.snapshot(), req.Node) {
			targets = append(targets, *in)
		}
	}
	h.deregister(w, r, targets, true)
}
