package consulapi

import (
	"strings"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// The node model. Roster has no agents: an instance sits on a node named
// after its address (Consul's own convention for external services, one
// node per external host), and carries at most one health check, which
// holds the instance's status.

// Meta keys under Consul's reserved "consul-" prefix (no Consul client
// may set them) that keep what a Consul registration says about its check
// and Roster's instance has no field for. They are left out of every
// Consul answer's service meta.
const (
	reservedMetaPrefix = "consul-"
	metaCheckID        = "consul-check-id"
	metaCheckName      = "consul-check-name"
	metaCheckNotes     = "consul-check-notes"
)

// nodeName is the name of the node an instance sits on: its address.
func nodeName(in *registry.Instance) string { return in.Address }

// checkID is the instance's check id: the one given at registration, else
// Consul's default for a service's only check, "service:<id>".
func checkID(in *registry.Instance) string {
	if id := in.Meta[metaCheckID]; id != "" {
		return id
	}
	return "service:" + in.ID
}

// checkName is the check's name: the one given at registration, else
// Consul's default.
func checkName(in *registry.Instance) string {
	if n := in.Meta[metaCheckName]; n != "" {
		return n
	}
	return "Service '" + in.Service + "' check"
}

// hasCheck reports whether the instance shows a check: it holds a TTL
// lease, was registered with a check, or is not passing (its status needs
// a check to show in Consul's model). A passing instance without any is,
// as in Consul, a service without checks.
func hasCheck(in *registry.Instance) bool {
	return in.TTL > 0 || in.Status != api.StatusPassing || in.Meta[metaCheckID] != ""
}

// maintCheckPrefix begins the id of the check Consul adds to a service in
// maintenance: "_service_maintenance:<service id>".
const maintCheckPrefix = "_service_maintenance:"

// maintenanceCheck is the critical check an instance in maintenance shows
// beside its own, as Consul's agent registers one (Notes: the reason).
func maintenanceCheck(in *registry.Instance) *HealthCheck {
	return &HealthCheck{
		Node:        nodeName(in),
		CheckID:     maintCheckPrefix + in.ID,
		Name:        "Service Maintenance Mode",
		Status:      string(api.StatusCritical),
		Notes:       in.Maintenance,
		ServiceID:   in.ID,
		ServiceName: in.Service,
		ServiceTags: tagsOf(in),
		CreateIndex: in.ModifyIndex,
		ModifyIndex: in.ModifyIndex,
	}
}

// userMeta is the instance's meta without the reserved keys; never nil.
func userMeta(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		if !strings.HasPrefix(k, reservedMetaPrefix) {
			out[k] = v
		}
	}
	return out
}

func tagsOf(in *registry.Instance) []string {
	if in.Tags == nil {
		return []string{}
	}
	return in.Tags
}

func (h *Handler) node(in *registry.Instance) *Node {
	return &Node{
		Node:            nodeName(in),
		Address:         in.Address,
		Datacenter:      h.cfg.Datacenter,
		TaggedAddresses: map[string]string{},
		Meta:            map[string]string{},
		CreateIndex:     in.CreateIndex,
		ModifyIndex:     in.ModifyIndex,
	}
}

func (h *Handler) serviceNode(in *registry.Instance) *ServiceNode {
	return &ServiceNode{
		Node:            nodeName(in),
		Address:         in.Address,
		Datacenter:      h.cfg.Datacenter,
		TaggedAddresses: map[string]string{},
		NodeMeta:        map[string]string{},
		ServiceID:       in.ID,
		ServiceName:     in.Service,
		ServiceTags:     tagsOf(in),
		ServiceAddress:  in.Address,
		ServiceWeights:  Weights{Passing: in.Weight, Warning: 1},
		ServiceMeta:     userMeta(in.Meta),
		ServicePort:     in.Port,
		ServiceProxy:    zeroProxy,
		ServiceConnect:  zeroConnect,
		CreateIndex:     in.CreateIndex,
		ModifyIndex:     in.ModifyIndex,
	}
}

func nodeService(in *registry.Instance) *NodeService {
	return &NodeService{
		ID:          in.ID,
		Service:     in.Service,
		Tags:        tagsOf(in),
		Address:     in.Address,
		Meta:        userMeta(in.Meta),
		Port:        in.Port,
		Weights:     &Weights{Passing: in.Weight, Warning: 1},
		Proxy:       zeroProxy,
		Connect:     zeroConnect,
		CreateIndex: in.CreateIndex,
		ModifyIndex: in.ModifyIndex,
	}
}

// checks returns the instance's checks: its own (if it shows one) and,
// while it is in maintenance, the maintenance check.
func checks(in *registry.Instance) []*HealthCheck {
	out := make([]*HealthCheck, 0, 2)
	if hasCheck(in) {
		out = append(out, healthCheck(in))
	}
	if in.Maintenance != "" {
		out = append(out, maintenanceCheck(in))
	}
	return out
}

func healthCheck(in *registry.Instance) *HealthCheck {
	c := &HealthCheck{
		Node:        nodeName(in),
		CheckID:     checkID(in),
		Name:        checkName(in),
		Status:      string(in.Status),
		Notes:       in.Meta[metaCheckNotes],
		Output:      in.Output,
		ServiceID:   in.ID,
		ServiceName: in.Service,
		ServiceTags: tagsOf(in),
		CreateIndex: in.CreateIndex,
		ModifyIndex: in.ModifyIndex,
	}
	if in.TTL > 0 {
		c.Type = "ttl"
	}
	return c
}

func (h *Handler) checkServiceNode(in *registry.Instance) *CheckServiceNode {
	return &CheckServiceNode{Node: h.node(in), Service: nodeService(in), Checks: checks(in)}
}

func (h *Handler) agentService(in *registry.Instance) *AgentService {
	return &AgentService{
		ID:          in.ID,
		Service:     in.Service,
		Tags:        tagsOf(in),
		Meta:        userMeta(in.Meta),
		Port:        in.Port,
		Address:     in.Address,
		Weights:     Weights{Passing: in.Weight, Warning: 1},
		CreateIndex: in.CreateIndex,
		ModifyIndex: in.ModifyIndex,
		Datacenter:  h.cfg.Datacenter,
	}
}

// hasTags reports whether the instance carries every tag, compared
// case-insensitively as Consul does.
func hasTags(in *registry.Instance, tags []string) bool {
	for _, want := range tags {
		found := false
		for _, t := range in.Tags {
			if strings.EqualFold(t, want) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
