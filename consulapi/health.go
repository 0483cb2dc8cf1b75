package consulapi

import (
	"iter"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

// healthService answers GET /v1/health/service/{name}: every instance with
// its node and check; ?passing keeps the passing ones (Consul's
// only-passing filter, which drops warning too), ?tag (repeatable, all
// must match) and ?filter on the entry (Service.Tags, Service.Meta.k,
// Node.Node, Checks…).
func (h *Handler) healthService(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	passing := false
	if vals := r.URL.Query(); vals.Has("passing") {
		passing = true
		if s := vals.Get("passing"); s != "" {
			if passing, err = strconv.ParseBool(s); err != nil {
				h.native.WriteError(w, httpapi.InvalidField("passing", "Invalid value for ?passing"))
				return
			}
		}
	}
	filter, enc := registry.FilterAny, h.health
	if passing {
		filter, enc = registry.FilterPassing, h.healthPassing
	}
	h.readService(w, r, q, serviceVar(r), enc, func(v *registry.ServiceView) (any, error) {
		out := []*CheckServiceNode{}
		for _, in := range v.Select(filter, "") {
			if !hasTags(&in, q.tags) {
				continue
			}
			e := h.checkServiceNode(&in)
			if ok, err := q.match(e); err != nil {
				return nil, err
			} else if ok {
				out = append(out, e)
			}
		}
		return out, nil
	})
}

// healthChecks answers GET /v1/health/checks/{name} (?filter on the check).
func (h *Handler) healthChecks(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.readService(w, r, q, serviceVar(r), nil, func(v *registry.ServiceView) (any, error) {
		return filterChecks(q, v.All(), func(*registry.Instance, *HealthCheck) bool { return true })
	})
}

// filterChecks returns the checks of the instances that keep selects and
// that pass the query's filter.
func filterChecks(q query, insts iter.Seq[*registry.Instance], keep func(*registry.Instance, *HealthCheck) bool) ([]*HealthCheck, error) {
	out := []*HealthCheck{}
	for in := range insts {
		for _, c := range checks(in) {
			if !keep(in, c) {
				continue
			}
			if ok, err := q.match(c); err != nil {
				return nil, err
			} else if ok {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// healthState answers GET /v1/health/state/{state}: any, passing, warning
// or critical.
func (h *Handler) healthState(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	state := mux.Vars(r)["state"]
	if state != "any" && !api.Status(state).Valid() {
		h.native.WriteError(w, httpapi.InvalidField("state", "Bad check state %q: any, passing, warning or critical", state))
		return
	}
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		out := []*HealthCheck{}
		for _, v := range s.views {
			part, err := filterChecks(q, v.All(), func(_ *registry.Instance, c *HealthCheck) bool {
				return state == "any" || c.Status == state
			})
			if err != nil {
				return nil, err
			}
			out = append(out, part...)
		}
		return out, nil
	})
}

// healthNode answers GET /v1/health/node/{node}: the checks of the
// instances on the node.
func (h *Handler) healthNode(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	node := mux.Vars(r)["node"]
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		out := []*HealthCheck{}
		for _, v := range s.views {
			part, err := filterChecks(q, v.All(), func(in *registry.Instance, _ *HealthCheck) bool { return nodeName(in) == node })
			if err != nil {
				return nil, err
			}
			out = append(out, part...)
		}
		return out, nil
	})
}

// statusLeader answers GET /v1/status/leader: the leader's Raft address,
// "" when none is known.
func (h *Handler) statusLeader(w http.ResponseWriter, r *http.Request) {
	leader := h.store.Leader()
	addr := ""
	if leader.Known {
		addr = leader.RaftAddr
	}
	h.writeJSON(w, addr, false)
}

// statusPeers answers GET /v1/status/peers: the Raft addresses of the
// voters.
func (h *Handler) statusPeers(w http.ResponseWriter, r *http.Request) {
	out := []string{}
	for _, s := range h.store.Raft().Servers {
		if s.Suffrage == "" || s.Suffrage == "voter" || s.Suffrage == "Voter" {
			out = append(out, s.Address)
		}
	}
	h.writeJSON(w, out, false)
}
