package consulapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

// serviceDefinition is the body of PUT /v1/agent/service/register
// (Consul's structs.ServiceDefinition; field names match
// case-insensitively, as in Consul).
type serviceDefinition struct {
	Kind              string                     `json:",omitempty"`
	ID                string                     `json:",omitempty"`
	Name              string                     `json:",omitempty"`
	Tags              []string                   `json:",omitempty"`
	Address           string                     `json:",omitempty"`
	TaggedAddresses   map[string]json.RawMessage `json:",omitempty"`
	Meta              map[string]string          `json:",omitempty"`
	Port              int                        `json:",omitempty"`
	SocketPath        string                     `json:",omitempty"`
	Weights           *Weights                   `json:",omitempty"`
	EnableTagOverride bool                       `json:",omitempty"`
	Check             *checkDefinition           `json:",omitempty"`
	Checks            []*checkDefinition         `json:",omitempty"`
	Proxy             json.RawMessage            `json:",omitempty"`
	Connect           *connectDefinition         `json:",omitempty"`
	Namespace         string                     `json:",omitempty"`
	Partition         string                     `json:",omitempty"`
}

type connectDefinition struct {
	Native         bool            `json:",omitempty"`
	SidecarService json.RawMessage `json:",omitempty"`
}

// checkDefinition is a check in a service registration (Consul's
// api.AgentServiceCheck). Roster runs no checks itself: only TTL checks
// (the service renews them) are accepted.
type checkDefinition struct {
	CheckID                        string              `json:",omitempty"`
	Name                           string              `json:",omitempty"`
	Notes                          string              `json:",omitempty"`
	Status                         string              `json:",omitempty"`
	TTL                            string              `json:",omitempty"`
	DeregisterCriticalServiceAfter string              `json:",omitempty"`
	Interval                       string              `json:",omitempty"`
	Timeout                        string              `json:",omitempty"`
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	UDP                            string              `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	H2PING                         string              `json:",omitempty"`
	OSService                      string              `json:",omitempty"`
	ScriptArgs                     []string            `json:",omitempty"`
	DockerContainerID              string              `json:",omitempty"`
	AliasNode                      string              `json:",omitempty"`
	AliasService                   string              `json:",omitempty"`
}

// active names the kind of check that Roster would have to run itself,
// or "" for a TTL check.
func (c *checkDefinition) active() string {
	switch {
	case c.HTTP != "":
		return "HTTP"
	case c.TCP != "":
		return "TCP"
	case c.UDP != "":
		return "UDP"
	case c.GRPC != "":
		return "gRPC"
	case c.H2PING != "":
		return "H2PING"
	case c.OSService != "":
		return "OSService"
	case len(c.ScriptArgs) > 0 || c.DockerContainerID != "":
		return "script"
	case c.AliasNode != "" || c.AliasService != "":
		return "alias"
	}
	return ""
}

// agentRegister answers PUT /v1/agent/service/register. The registration
// becomes a native one (registry.Validate's rules, the same store write);
// on a follower it is forwarded to the leader with the address filled in,
// since an empty Address means the registering host, which only the
// server it spoke to sees.
func (h *Handler) agentRegister(w http.ResponseWriter, r *http.Request) {
	var def serviceDefinition
	if err := h.native.DecodeBody(w, r, &def, true); err != nil {
		h.native.WriteError(w, err)
		return
	}
	if def.Address == "" {
		def.Address = remoteHost(r)
	}
	inst, err := instanceFromDefinition(&def)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	if !h.store.IsLeader() {
		body, err := json.Marshal(&def)
		if err != nil {
			h.native.WriteError(w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if h.native.ForwardWrite(w, r) {
			return
		}
	}
	h.register(w, r, inst, nil)
}

// remoteHost is the address of the host that sent r.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// instanceFromDefinition maps a Consul service definition onto an
// instance; registry.Validate (in the store) checks the rest.
func instanceFromDefinition(def *serviceDefinition) (registry.Instance, error) {
	switch {
	case def.Name == "":
		return registry.Instance{}, httpapi.InvalidField("Name", "Missing service name")
	case def.Kind != "":
		return registry.Instance{}, httpapi.InvalidField("Kind", "Roster does not serve Connect: service kind %q is not supported", def.Kind)
	case len(bytes.TrimSpace(def.Proxy)) > 0 && !bytes.Equal(bytes.TrimSpace(def.Proxy), []byte("null")) && !bytes.Equal(bytes.TrimSpace(def.Proxy), []byte("{}")):
		return registry.Instance{}, httpapi.InvalidField("Proxy", "Roster does not serve Connect: proxies are not supported")
	case def.Connect != nil && (def.Connect.Native || len(def.Connect.SidecarService) > 0 && string(def.Connect.SidecarService) != "null"):
		return registry.Instance{}, httpapi.InvalidField("Connect", "Roster does not serve Connect: Connect-native services and sidecars are not supported")
	case def.SocketPath != "":
		return registry.Instance{}, httpapi.InvalidField("SocketPath", "Roster registers network addresses only, not Unix sockets")
	case def.Namespace != "" && def.Namespace != "default", def.Partition != "" && def.Partition != "default":
		return registry.Instance{}, httpapi.InvalidField("Namespace", "Roster has no namespaces or partitions (Consul Enterprise)")
	}
	if ip := net.ParseIP(def.Address); ip != nil && ip.IsUnspecified() {
		return registry.Instance{}, httpapi.InvalidField("Address", "Invalid service address %q", def.Address)
	}
	id := def.ID
	if id == "" {
		id = def.Name
	}
	meta, err := consulMeta(def.Meta)
	if err != nil {
		return registry.Instance{}, err
	}
	inst := registry.Instance{
		Service: def.Name,
		ID:      id,
		Address: def.Address,
		Port:    def.Port,
		Tags:    def.Tags,
		Meta:    meta,
		Status:  api.StatusPassing,
	}
	if def.Weights != nil {
		inst.Weight = def.Weights.Passing
	}
	var defs []*checkDefinition
	if def.Check != nil {
		defs = append(defs, def.Check)
	}
	for _, c := range def.Checks {
		if c != nil {
			defs = append(defs, c)
		}
	}
	if len(defs) > 1 {
		return registry.Instance{}, httpapi.InvalidField("Checks", "Roster keeps one health check per instance; this registration has %d", len(defs))
	}
	if len(defs) == 1 {
		if err := applyCheck(&inst, defs[0]); err != nil {
			return registry.Instance{}, err
		}
	}
	return inst, nil
}

// consulMeta copies the user's meta, refusing keys under Consul's reserved
// "consul-" prefix (Consul's own rule, which also keeps Roster's check keys
// out of users' hands).
func consulMeta(meta map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		if strings.HasPrefix(k, reservedMetaPrefix) {
			return nil, httpapi.InvalidField("Meta", "Invalid Service Meta: Key prefix '%s' is reserved for internal use", reservedMetaPrefix)
		}
		out[k] = v
	}
	return out, nil
}

// applyCheck maps a service's only check onto the instance: its TTL is the
// lease, DeregisterCriticalServiceAfter is deregister_after, and it starts
// in its Status, or critical, as a new Consul check does.
func applyCheck(inst *registry.Instance, c *checkDefinition) error {
	if kind := c.active(); kind != "" {
		return httpapi.InvalidField("Check", "Roster runs no %s checks: register a TTL check and renew it (PUT /v1/agent/check/pass/<id>), or use the native heartbeat", kind)
	}
	if c.TTL == "" {
		return httpapi.InvalidField("Check.TTL", "Invalid check: a TTL is required (Roster runs no active checks)")
	}
	ttl, err := time.ParseDuration(c.TTL)
	if err != nil {
		return httpapi.InvalidField("Check.TTL", "Invalid check: TTL %q is not a duration such as 10s", c.TTL)
	}
	inst.TTL = ttl
	if c.DeregisterCriticalServiceAfter != "" {
		d, err := time.ParseDuration(c.DeregisterCriticalServiceAfter)
		if err != nil {
			return httpapi.InvalidField("Check.DeregisterCriticalServiceAfter", "%q is not a duration such as 1m", c.DeregisterCriticalServiceAfter)
		}
		inst.DeregisterAfter = d
	}
	inst.Status = api.StatusCritical
	if c.Status != "" {
		inst.Status = api.Status(c.Status)
		if !inst.Status.Valid() {
			return httpapi.InvalidField("Check.Status", "Status for checks must 'passing', 'warning', 'critical'")
		}
	}
	setCheckMeta(inst, c.CheckID, c.Name, c.Notes)
	return nil
}

// setCheckMeta keeps a check's id, name and notes in the instance's
// reserved meta keys when they differ from the defaults.
func setCheckMeta(inst *registry.Instance, id, name, notes string) {
	if inst.Meta == nil {
		inst.Meta = map[string]string{}
	}
	if id != "" && id != "service:"+inst.ID {
		inst.Meta[metaCheckID] = id
	}
	if name != "" && name != "Service '"+strings.ToLower(inst.Service)+"' check" {
		inst.Meta[metaCheckName] = name
	}
	if notes != "" {
		inst.Meta[metaCheckNotes] = notes
	}
}

// agentDeregister answers PUT /v1/agent/service/deregister/{id}. Ids are
// unique across the catalog, so the id alone names the instance; an
// unknown id succeeds, as a native DELETE does.
func (h *Handler) agentDeregister(w http.ResponseWriter, r *http.Request) {
	if h.native.ForwardWrite(w, r) {
		return
	}
	var targets []registry.Instance
	if inst, ok := h.lookupInstance(mux.Vars(r)["id"]); ok {
		targets = append(targets, inst)
	}
	h.deregister(w, r, targets, nil)
}

// agentMaintenance answers PUT
// /v1/agent/service/maintenance/{id}?enable=true|false&reason=: Consul's
// service maintenance mode, stored as the instance's maintenance.
func (h *Handler) agentMaintenance(w http.ResponseWriter, r *http.Request) {
	if h.native.ForwardWrite(w, r) {
		return
	}
	vals := r.URL.Query()
	if !vals.Has("enable") {
		h.native.WriteError(w, httpapi.InvalidField("enable", "Missing value for enable"))
		return
	}
	enable, err := strconv.ParseBool(vals.Get("enable"))
	if err != nil {
		h.native.WriteError(w, httpapi.InvalidField("enable", "Invalid value for enable: %q", vals.Get("enable")))
		return
	}
	id := mux.Vars(r)["id"]
	inst, ok := h.lookupInstance(id)
	if !ok {
		h.native.WriteError(w, httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "Unknown service ID %q", id))
		return
	}
	_, index, err := h.store.SetMaintenance(r.Context(), inst.Service, id, enable, vals.Get("reason"))
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			err = httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "Unknown service ID %q", id)
		}
		h.native.WriteError(w, err)
		return
	}
	h.writeDone(w, index, nil)
}

// checkStatus answers PUT /v1/agent/check/pass|warn|fail/{id}?note=.
func (h *Handler) checkStatus(status api.Status) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.updateCheck(w, r, status, r.URL.Query().Get("note"))
	}
}

// checkUpdate answers PUT /v1/agent/check/update/{id} with body
// {"Status","Output"}.
func (h *Handler) checkUpdate(w http.ResponseWriter, r *http.Request) {
	if h.native.ForwardWrite(w, r) {
		return
	}
	var body struct{ Status, Output string }
	if err := h.native.DecodeBody(w, r, &body, true); err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.updateCheck(w, r, api.Status(body.Status), body.Output)
}

// updateCheck renews the lease of the check's instance with a status and
// output: a heartbeat, which writes to Raft only when the status changes
// (an output change alone at most every 5 minutes).
func (h *Handler) updateCheck(w http.ResponseWriter, r *http.Request, status api.Status, output string) {
	if h.native.ForwardWrite(w, r) {
		return
	}
	if !status.Valid() {
		h.native.WriteError(w, httpapi.InvalidField("Status", "Invalid check status: '%s'", status))
		return
	}
	id := mux.Vars(r)["id"]
	inst, ok := h.instanceForCheck(id)
	if !ok {
		h.native.WriteError(w, httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "CheckID %q does not have associated TTL", id))
		return
	}
	errs, index, err := h.store.Heartbeat(r.Context(), []api.BatchHeartbeat{{Service: inst.Service, ID: inst.ID, Status: status, Output: output}})
	if err == nil && len(errs) == 1 {
		err = errs[0]
	}
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			err = httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "CheckID %q does not have associated TTL", id)
		}
		h.native.WriteError(w, err)
		return
	}
	h.writeDone(w, index, nil)
}

// instanceForCheck finds the instance a check id belongs to:
// "service:<id>" directly, a custom id through an index of the reserved
// meta key, rebuilt when the catalog moved since it was built.
func (h *Handler) instanceForCheck(checkIDArg string) (registry.Instance, bool) {
	if id, ok := strings.CutPrefix(checkIDArg, "service:"); ok {
		if inst, ok := h.lookupInstance(id); ok && checkID(&inst) == checkIDArg {
			return inst, true
		}
	}
	cat := h.store.Catalog()
	h.checkMu.Lock()
	if h.checkIDs == nil || h.checkIndex != cat.Index() {
		idx := cat.Index()
		ids := map[string]string{}
		for _, v := range h.snapshot().views {
			for in := range v.All() {
				if c := in.Meta[metaCheckID]; c != "" {
					ids[c] = in.ID
				}
			}
		}
		h.checkIDs, h.checkIndex = ids, idx
	}
	id, ok := h.checkIDs[checkIDArg]
	h.checkMu.Unlock()
	if !ok {
		return registry.Instance{}, false
	}
	inst, ok := h.lookupInstance(id)
	return inst, ok && checkID(&inst) == checkIDArg
}

// agentServices answers GET /v1/agent/services: with no agents, the
// "agent" is the cluster, and its services are every instance, keyed by id.
func (h *Handler) agentServices(w http.ResponseWriter, r *http.Request) {
	agentList(h, w, r, func(in *registry.Instance) []*AgentService { return []*AgentService{h.agentService(in)} },
		func(as *AgentService) string { return as.ID })
}

// agentList answers an agent listing (never blocking): what each readable
// instance gives that matches ?filter, keyed by key.
func agentList[T any](h *Handler, w http.ResponseWriter, r *http.Request, items func(*registry.Instance) []T, key func(T) string) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	q.blocking = false
	h.readAll(w, r, q, func(s snapshot) (any, error) {
		out := map[string]T{}
		for _, v := range s.views {
			for in := range v.All() {
				for _, x := range items(in) {
					if ok, err := q.match(x); err != nil {
						return nil, err
					} else if ok {
						out[key(x)] = x
					}
				}
			}
		}
		return out, nil
	})
}

// agentServiceByID answers GET /v1/agent/service/{id} with its
// ContentHash (body and X-Consul-ContentHash).
func (h *Handler) agentServiceByID(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	id := mux.Vars(r)["id"]
	inst, ok := h.lookupInstance(id)
	if !ok {
		h.native.WriteError(w, httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "unknown service ID: %s", id))
		return
	}
	as := h.agentService(&inst)
	b, _ := json.Marshal(as)
	f := fnv.New64a()
	_, _ = f.Write(b)
	as.ContentHash = fmt.Sprintf("%x", f.Sum64())
	w.Header()[headerContentHash] = []string{as.ContentHash}
	h.writeJSON(w, as, q.pretty)
}

// agentChecks answers GET /v1/agent/checks: every instance's check, keyed
// by check id.
func (h *Handler) agentChecks(w http.ResponseWriter, r *http.Request) {
	agentList(h, w, r, checks, func(c *HealthCheck) string { return c.CheckID })
}

// agentSelf answers GET /v1/agent/self with the sections tools read.
func (h *Handler) agentSelf(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	self := agentSelf{
		Config: agentConfig{
			Datacenter:        h.cfg.Datacenter,
			PrimaryDatacenter: h.cfg.Datacenter,
			NodeID:            h.cfg.NodeID,
			Revision:          "roster",
			Server:            true,
			Version:           ConsulVersion,
			BuildDate:         "1970-01-01T00:00:00Z",
		},
		Meta: map[string]string{"roster-version": h.cfg.Version},
	}
	for _, m := range h.members() {
		if m.Tags["id"] == h.cfg.NodeID {
			self.Member = m
			self.Config.NodeName = m.Name
		}
	}
	h.writeJSON(w, self, q.pretty)
}

// agentMembers answers GET /v1/agent/members: the servers, as gossip sees
// them, in serf's member shape.
func (h *Handler) agentMembers(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	out := []AgentMember{}
	for _, m := range h.members() {
		if ok, err := q.match(&m); err != nil {
			h.native.WriteError(w, err)
			return
		} else if ok {
			out = append(out, m)
		}
	}
	h.writeJSON(w, out, q.pretty)
}

// serf's member statuses.
const (
	serfAlive   = 1
	serfLeaving = 2
	serfLeft    = 3
	serfFailed  = 4
)

// members maps the gossip members onto serf members with the tags Consul
// servers carry (role=consul marks a server for Consul's clients).
func (h *Handler) members() []AgentMember {
	var out []AgentMember
	for _, m := range h.store.Members() {
		host, port := splitHostPort(m.GossipAddr)
		_, raftPort := splitHostPort(m.RaftAddr)
		status := serfAlive
		switch m.State {
		case "left":
			status = serfLeft
		case "leaving":
			status = serfLeaving
		case "dead", "failed":
			status = serfFailed
		}
		out = append(out, AgentMember{
			Name: m.Name, Addr: host, Port: port, Status: status,
			Tags: map[string]string{
				"role": "consul", "dc": h.cfg.Datacenter, "id": m.ID, "port": fmt.Sprint(raftPort),
				"build": m.Version, "vsn": "2", "vsn_min": "2", "vsn_max": "3", "raft_vsn": "3",
				"roster_http": m.HTTPAddr, "roster_raft_role": m.RaftRole,
			},
			ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2,
			DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
		})
	}
	return out
}

func splitHostPort(addr string) (string, uint16) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	var p uint16
	_, _ = fmt.Sscan(port, &p)
	return host, p
}
