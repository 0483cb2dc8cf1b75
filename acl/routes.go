package acl

import (
	"fmt"
	"net/http"
)

// Need is the permission a route requires before its handler runs.
type Need int

// What routes need.
const (
	// Public routes answer anyone: liveness, readiness and the ACL bootstrap
	// (which works once).
	Public Need = iota
	// ServiceRead needs service:read on the route's {service}.
	ServiceRead
	// ServiceWrite needs service:write on the route's {service}.
	ServiceWrite
	// ServiceWriteEach: the body or the id names the services; the store
	// checks service:write for each one (items of a batch are refused one
	// by one).
	ServiceWriteEach
	// ServiceList answers only the services the identity may read.
	ServiceList
	// ServiceReadAll needs service:read:* (lists not filtered per item).
	ServiceReadAll
	// OperatorRead needs operator:read.
	OperatorRead
	// OperatorWrite needs operator:write (snapshots, peers, leave, ACL admin).
	OperatorWrite
)

// Routes is the permission of every HTTP route of every front end, by
// "METHOD path-template" as the routers register them. A route missing here
// is refused when ACLs are on (and the routers' tests fail).
var Routes = map[string]Need{
	// native API
	"GET /v1/services":                                    ServiceList,
	"GET /v1/services/{service}/instances":                ServiceRead,
	"GET /v1/services/{service}/instances/{id}":           ServiceRead,
	"PUT /v1/services/{service}/instances/{id}":           ServiceWrite,
	"DELETE /v1/services/{service}/instances/{id}":        ServiceWrite,
	"PUT /v1/services/{service}/instances/{id}/heartbeat": ServiceWrite,
	"PUT /v1/heartbeats":                                  ServiceWriteEach,
	"GET /v1/cluster/leader":                              OperatorRead,
	"GET /v1/cluster/members":                             OperatorRead,
	"GET /v1/cluster/raft":                                OperatorRead,
	"GET /v1/cluster/leases":                              OperatorRead,
	"GET /v1/cluster/health":                              OperatorRead,
	"PUT /v1/cluster/leave":                               OperatorWrite,
	"DELETE /v1/cluster/raft/peers/{id}":                  OperatorWrite,
	"GET /v1/snapshot":                                    OperatorWrite,
	"PUT /v1/snapshot":                                    OperatorWrite,
	"GET /livez":                                          Public,
	"GET /readyz":                                         Public,
	"GET /metrics":                                        OperatorRead,
	"GET /v1/prometheus/sd":                               ServiceList,
	"PUT /v1/acl/bootstrap":                               Public,
	"PUT /v1/acl/tokens":                                  OperatorWrite,
	"GET /v1/acl/tokens":                                  OperatorWrite,
	"DELETE /v1/acl/tokens/{accessor}":                    OperatorWrite,
	"GET /v1/openapi.yaml":                                Public,
	// the web UI's static files (its pages call the API with the user's token)
	"GET /ui/":                Public,
	"HEAD /ui/":               Public,
	"GET /ui":                 Public,
	"HEAD /ui":                Public,
	"GET /":                   Public,
	"HEAD /":                  Public,
	"GET /v1/cluster/keyring": OperatorWrite,
	"PUT /v1/cluster/keyring": OperatorWrite,

	// maintenance mode, native and Consul (one block: gofmt aligns each
	// block alone)
	"PUT /v1/services/{service}/instances/{id}/maintenance": ServiceWrite,
	"PUT /v1/agent/service/maintenance/{id}":                ServiceWriteEach,

	// a follower's batch of forwarded writes (internal): each write is
	// checked as its own route, with its own client's token
	"PUT /v1/cluster/forward": ServiceWriteEach,

	// Consul-compatible subset
	"PUT /v1/agent/service/register":        ServiceWriteEach,
	"PUT /v1/agent/service/deregister/{id}": ServiceWriteEach,
	"PUT /v1/agent/check/pass/{id}":         ServiceWriteEach,
	"PUT /v1/agent/check/warn/{id}":         ServiceWriteEach,
	"PUT /v1/agent/check/fail/{id}":         ServiceWriteEach,
	"PUT /v1/agent/check/update/{id}":       ServiceWriteEach,
	"GET /v1/agent/services":                ServiceList,
	"GET /v1/agent/service/{id}":            ServiceReadAll,
	"GET /v1/agent/checks":                  ServiceList,
	"GET /v1/agent/self":                    OperatorRead,
	"GET /v1/agent/members":                 OperatorRead,
	"PUT /v1/catalog/register":              ServiceWriteEach,
	"PUT /v1/catalog/deregister":            ServiceWriteEach,
	"GET /v1/catalog/datacenters":           Public,
	"GET /v1/catalog/services":              ServiceList,
	"GET /v1/catalog/service/{service}":     ServiceRead,
	"GET /v1/catalog/nodes":                 ServiceList,
	"GET /v1/catalog/node/{node}":           ServiceList,
	"GET /v1/health/service/{service}":      ServiceRead,
	"GET /v1/health/checks/{service}":       ServiceRead,
	"GET /v1/health/state/{state}":          ServiceList,
	"GET /v1/health/node/{node}":            ServiceList,
	"GET /v1/status/leader":                 OperatorRead,
	"GET /v1/status/peers":                  OperatorRead,
}

// Check reports whether id may call the route "METHOD template" with the
// given {service} (empty when the route has none): nil, or an error
// naming the permission missing. A route not in Routes is refused.
func Check(id *Identity, method, template, service string) error {
	if id == nil {
		return nil
	}
	need, ok := Routes[method+" "+template]
	if !ok {
		return Denied(fmt.Sprintf("a permission rule for %s %s (none is defined)", method, template))
	}
	switch need {
	case Public, ServiceWriteEach, ServiceList:
		return nil
	case ServiceRead:
		if !id.ServiceRead(service) {
			return Denied("service:read:" + service)
		}
	case ServiceWrite:
		if !id.ServiceWrite(service) {
			return Denied("service:write:" + service)
		}
	case ServiceReadAll:
		if !id.ReadsAll() {
			return Denied("service:read:*")
		}
	case OperatorRead:
		if !id.Operator(false) {
			return Denied("operator:read")
		}
	case OperatorWrite:
		if !id.Operator(true) {
			return Denied("operator:write")
		}
	}
	return nil
}

// ReadsAll reports whether id may read every service (a rule for "*"), so
// lists need no filtering. Nil (ACLs off) may.
func (id *Identity) ReadsAll() bool {
	if id == nil {
		return true
	}
	for _, r := range id.rules {
		if !r.Operator && r.Pattern == "*" {
			return true
		}
	}
	return false
}

// IsWrite reports whether a request changes state (for the audit log).
func IsWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}
