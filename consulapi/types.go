package consulapi

import "encoding/json"

// The JSON shapes of Consul 1.20's answers: field names, order, casing and
// zero values as Consul's own types encode them (agent/structs for catalog
// and health answers, api for agent answers; Community Edition, so no
// Namespace or Partition). testdata/golden holds the same shapes encoded
// by Consul's types, and the golden test compares them field by field.
// Field names double as ?filter selectors (go-bexpr reads Go field names),
// which is why they are the Consul names and not json tags.

// zeroProxy and zeroConnect are how Consul encodes an instance that is no
// Connect proxy and not Connect-native.
var (
	zeroProxy   = json.RawMessage(`{"Mode":"","MeshGateway":{},"Expose":{}}`)
	zeroConnect = json.RawMessage(`{}`)
)

// Node is a Consul catalog node (structs.Node).
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64 `bexpr:"-"`
	ModifyIndex     uint64 `bexpr:"-"`
}

// Weights are a service's DNS weights by status (structs.Weights).
type Weights struct {
	Passing int
	Warning int
}

// ServiceNode is one entry of GET /v1/catalog/service/{name}
// (structs.ServiceNode).
type ServiceNode struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceWeights           Weights
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceSocketPath        string
	ServiceEnableTagOverride bool
	ServiceProxy             json.RawMessage `bexpr:"-"`
	ServiceConnect           json.RawMessage `bexpr:"-"`
	ServiceLocality          *struct{}       `bexpr:"-"`
	CreateIndex              uint64          `bexpr:"-"`
	ModifyIndex              uint64          `bexpr:"-"`
}

// NodeService is a service as health and node answers carry it
// (structs.NodeService).
type NodeService struct {
	ID                string
	Service           string
	Tags              []string
	Address           string
	Meta              map[string]string
	Port              int `json:",omitempty"`
	Weights           *Weights
	EnableTagOverride bool
	Proxy             json.RawMessage `bexpr:"-"`
	Connect           json.RawMessage `bexpr:"-"`
	PeerName          string
	CreateIndex       uint64 `bexpr:"-"`
	ModifyIndex       uint64 `bexpr:"-"`
}

// HealthCheck is one check (structs.HealthCheck).
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Interval    string
	Timeout     string
	ExposedPort int
	Definition  struct{} `bexpr:"-"`
	CreateIndex uint64   `bexpr:"-"`
	ModifyIndex uint64   `bexpr:"-"`
}

// CheckServiceNode is one entry of GET /v1/health/service/{name}
// (structs.CheckServiceNode).
type CheckServiceNode struct {
	Node    *Node
	Service *NodeService
	Checks  []*HealthCheck
}

// NodeServices answers GET /v1/catalog/node/{node} (structs.NodeServices).
type NodeServices struct {
	Node     *Node
	Services map[string]*NodeService
}

// AgentService is a service as the agent endpoints answer it
// (api.AgentService as the agent builds it).
type AgentService struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	Weights           Weights
	EnableTagOverride bool
	CreateIndex       uint64 `json:",omitempty" bexpr:"-"`
	ModifyIndex       uint64 `json:",omitempty" bexpr:"-"`
	ContentHash       string `json:",omitempty" bexpr:"-"`
	Datacenter        string `json:",omitempty" bexpr:"-"`
}

// AgentMember is one gossip member (serf.Member, as api.AgentMember reads it).
type AgentMember struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// agentConfig is the "Config" section of GET /v1/agent/self.
type agentConfig struct {
	Datacenter        string
	PrimaryDatacenter string
	NodeName          string
	NodeID            string
	Revision          string
	Server            bool
	Version           string
	BuildDate         string
}

// agentSelf answers GET /v1/agent/self: the sections discovery tools read
// (Config for the datacenter and node name, Member, Meta).
type agentSelf struct {
	Config agentConfig
	Member AgentMember
	Meta   map[string]string
}
