// Package api defines Roster's wire contract: the JSON request and response
// types of the native HTTP API, its error codes and its header names. It
// depends on nothing beyond the standard library so that clients can import it
// without pulling in the server.
package api

// Header names every server sets on reads (and on write answers where noted).
const (
	// HeaderIndex carries the index that an answer reflects. On a write answer
	// it is the Raft index at which the write was applied.
	HeaderIndex = "X-Roster-Index"
	// HeaderKnownLeader is "true" when the answering server knows a leader.
	HeaderKnownLeader = "X-Roster-Known-Leader"
	// HeaderLastContact is the time in milliseconds since the answering
	// server last heard from the leader (0 on the leader itself).
	HeaderLastContact = "X-Roster-Last-Contact"
	// HeaderForwarded marks a request that a follower forwarded to the leader,
	// so that it is never forwarded twice.
	HeaderForwarded = "X-Roster-Forwarded"
)

// Status is the health of an instance.
type Status string

// The three health states of an instance.
const (
	StatusPassing  Status = "passing"
	StatusWarning  Status = "warning"
	StatusCritical Status = "critical"
)

// Valid reports whether s is one of the three known states.
func (s Status) Valid() bool {
	return s == StatusPassing || s == StatusWarning || s == StatusCritical
}

// Instance is one registered instance of a service as the API returns it.
// Durations are Go duration strings ("10s"); an empty TTL means no lease.
type Instance struct {
	Service         string            `json:"service"`
	ID              string            `json:"id"`
	Address         string            `json:"address"`
	Port            int               `json:"port"`
	Tags            []string          `json:"tags"`
	Meta            map[string]string `json:"meta"`
	Weight          int               `json:"weight"`
	Status          Status            `json:"status"`
	Output          string            `json:"output"`
	TTL             string            `json:"ttl"`
	DeregisterAfter string            `json:"deregister_after"`
	CreateIndex     uint64            `json:"create_index"`
	ModifyIndex     uint64            `json:"modify_index"`
	// Maintenance is the reason an operator put the instance in
	// maintenance; absent when it is not. While it is set, Status is
	// critical whatever the instance's heartbeats say.
	Maintenance string `json:"maintenance,omitempty"`
}

// MaintenanceRequest is the body of
// PUT /v1/services/{service}/instances/{id}/maintenance. Enable puts the
// instance in maintenance (critical for discovery until disabled); an empty
// Reason becomes "maintenance mode".
// Enable is required (a pointer, so that a body without it is refused
// rather than read as "off").
type MaintenanceRequest struct {
	Enable *bool  `json:"enable"`
	Reason string `json:"reason,omitempty"`
}

// RegisterRequest is the body of PUT /v1/services/{service}/instances/{id}.
// Weight defaults to 1; Status defaults to passing; TTL empty means the
// instance holds no lease and stays until deregistered.
type RegisterRequest struct {
	Address         string            `json:"address"`
	Port            int               `json:"port"`
	Tags            []string          `json:"tags,omitempty"`
	Meta            map[string]string `json:"meta,omitempty"`
	Weight          *int              `json:"weight,omitempty"`
	Status          Status            `json:"status,omitempty"`
	Output          string            `json:"output,omitempty"`
	TTL             string            `json:"ttl,omitempty"`
	DeregisterAfter string            `json:"deregister_after,omitempty"`
}

// HeartbeatRequest is the optional body of
// PUT /v1/services/{service}/instances/{id}/heartbeat. An empty status means
// passing.
type HeartbeatRequest struct {
	Status Status `json:"status,omitempty"`
	Output string `json:"output,omitempty"`
}

// InstanceRef names one instance.
type InstanceRef struct {
	Service string `json:"service"`
	ID      string `json:"id"`
}

// BatchHeartbeat is one lease renewal inside a HeartbeatsRequest.
type BatchHeartbeat struct {
	Service string `json:"service"`
	ID      string `json:"id"`
	Status  Status `json:"status,omitempty"`
	Output  string `json:"output,omitempty"`
}

// HeartbeatsRequest is the body of PUT /v1/heartbeats: many renewals at once.
type HeartbeatsRequest struct {
	Instances []BatchHeartbeat `json:"instances"`
}

// HeartbeatsResponse answers PUT /v1/heartbeats. Missing lists the instances
// that are not registered, so that the client registers them again; Gone
// lists the ones an operator deregistered recently (tombstoned), which the
// client must stop renewing.
type HeartbeatsResponse struct {
	Renewed int           `json:"renewed"`
	Missing []InstanceRef `json:"missing"`
	Gone    []InstanceRef `json:"gone,omitempty"`
	// Denied lists the instances the request's token may not renew
	// (service:write missing); the rest of the batch is renewed.
	Denied []InstanceRef `json:"denied,omitempty"`
}

// InstanceList is the answer of GET /v1/services/{service}/instances.
type InstanceList struct {
	Service   string     `json:"service"`
	Index     uint64     `json:"index"`
	Instances []Instance `json:"instances"`
}

// ServiceSummary is one service in a ServiceList.
type ServiceSummary struct {
	Name      string   `json:"name"`
	Instances int      `json:"instances"`
	Passing   int      `json:"passing"`
	Warning   int      `json:"warning"`
	Critical  int      `json:"critical"`
	Tags      []string `json:"tags"`
}

// ServiceList is the answer of GET /v1/services.
type ServiceList struct {
	Index    uint64           `json:"index"`
	Services []ServiceSummary `json:"services"`
}

// WriteResult answers a deregistration and other writes that return no
// instance.
type WriteResult struct {
	Index uint64 `json:"index"`
}

// Leader answers GET /v1/cluster/leader.
type Leader struct {
	ID          string `json:"id"`
	RaftAddr    string `json:"raft_addr"`
	HTTPAddr    string `json:"http_addr"`
	Known       bool   `json:"known"`
	LastContact string `json:"last_contact"`
}

// Member is one server as gossip and Raft see it.
type Member struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	GossipAddr string `json:"gossip_addr"`
	HTTPAddr   string `json:"http_addr"`
	DNSAddr    string `json:"dns_addr"`
	RaftAddr   string `json:"raft_addr"`
	// State is the gossip state: alive, leaving, left (departed
	// gracefully) or failed.
	State string `json:"state"`
	// RaftRole is leader, follower (a voter), nonvoter, or none when the
	// server is not in the Raft configuration.
	RaftRole string `json:"raft_role"`
	Version  string `json:"version"`
}

// MemberList answers GET /v1/cluster/members.
type MemberList struct {
	Members []Member `json:"members"`
}

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// RaftInfo answers GET /v1/cluster/raft.
type RaftInfo struct {
	Servers      []RaftServer `json:"servers"`
	Index        uint64       `json:"index"`
	State        string       `json:"state"`
	Term         uint64       `json:"term"`
	CommitIndex  uint64       `json:"commit_index"`
	AppliedIndex uint64       `json:"applied_index"`
	LastContact  string       `json:"last_contact"`
}

// LeaseState answers GET /v1/cluster/leases: the lease table as the leader
// holds it. On a follower Leader is false and the counts are zero.
type LeaseState struct {
	Leader bool `json:"leader"`
	// Armed is false until a new leader has re-armed every lease.
	Armed   bool `json:"armed"`
	Leases  int  `json:"leases"`
	Pending int  `json:"pending"`
	// Paused is true while mass-expiry protection holds expiries back.
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	PausedSince string `json:"paused_since,omitempty"`
	Expired     uint64 `json:"expired_total"`
	Reaped      uint64 `json:"reaped_total"`
}

// RegisterResponse answers a registration: the stored instance and the index
// at which the registration was applied.
type RegisterResponse struct {
	Instance
	Index uint64 `json:"index"`
}

// ClusterHealth answers GET /v1/cluster/health: every server as the
// leader's autopilot judges it.
type ClusterHealth struct {
	// Healthy is true when every server is healthy.
	Healthy bool `json:"healthy"`
	// FailureTolerance is how many more voters the cluster can lose and
	// keep a quorum of healthy voters.
	FailureTolerance int `json:"failure_tolerance"`
	// CanLoseOne is FailureTolerance >= 1.
	CanLoseOne bool `json:"can_lose_one"`
	// Leader is the leader's Raft id.
	Leader  string         `json:"leader"`
	Servers []ServerHealth `json:"servers"`
}

// ServerHealth is one server in ClusterHealth.
type ServerHealth struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RaftAddr string `json:"raft_addr"`
	// Gossip is the server's gossip status: alive, failed, left or unknown.
	Gossip string `json:"gossip"`
	// Role is leader, follower (a voter), nonvoter or none.
	Role    string `json:"role"`
	Voter   bool   `json:"voter"`
	Healthy bool   `json:"healthy"`
	// Reason says why a server is not healthy (empty when it is).
	Reason string `json:"reason,omitempty"`
	// StableSince is when Healthy last changed (RFC 3339).
	StableSince string `json:"stable_since"`
	// LastContact is how long ago the leader last heard from the server.
	LastContact string `json:"last_contact"`
	LastTerm    uint64 `json:"last_term"`
	LastIndex   uint64 `json:"last_index"`
}

// ACLTokenRequest is the body of PUT /v1/acl/tokens.
type ACLTokenRequest struct {
	Description string   `json:"description"`
	Rules       []string `json:"rules"`
}

// ACLToken answers the ACL endpoints. Secret is set only in the answer that
// created the token: it is shown once and stored only as a hash.
type ACLToken struct {
	Accessor    string   `json:"accessor"`
	Secret      string   `json:"secret,omitempty"`
	Description string   `json:"description"`
	Rules       []string `json:"rules"`
}

// ACLTokenList answers GET /v1/acl/tokens.
type ACLTokenList struct {
	Tokens []ACLToken `json:"tokens"`
}

// HeaderToken carries a native API request's ACL token (or use
// Authorization: Bearer).
const HeaderToken = "X-Roster-Token"

// Keyring answers GET and PUT /v1/cluster/keyring: each gossip key
// (base64) with the number of servers that hold it, and that use it as
// primary; Servers is how many servers gossip knows; Errors maps a server
// to what it answered when it failed.
type Keyring struct {
	Keys        map[string]int    `json:"keys"`
	PrimaryKeys map[string]int    `json:"primary_keys"`
	Servers     int               `json:"servers"`
	Errors      map[string]string `json:"errors,omitempty"`
}

// KeyringRequest is the body of PUT /v1/cluster/keyring.
type KeyringRequest struct {
	// Op is install, use (make primary) or remove.
	Op  string `json:"op"`
	Key string `json:"key"`
}
