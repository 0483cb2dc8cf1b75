// Package store names the errors by which a Roster server's store refuses
// work for reasons of leadership and membership, not of the request: this
// server is not the leader, no leader is known, the new leader has not
// re-armed its leases, no such server. The replication layer (raftstore)
// returns them; the lease table returns ErrNotArmed; every front end
// (native HTTP, Consul API, DNS, CLI client) maps them to answers without
// importing the replication layer.
package store

import (
	"errors"

	"github.com/rosterhq/roster/registry"
)

var (
	// ErrNotLeader: this server is not the leader; the request must go to the
	// leader (front ends forward it).
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader: no leader is known; the caller retries later (503).
	ErrNoLeader = errors.New("no leader")
	// ErrNotArmed: this server just became leader and has not re-armed the
	// lease table yet; heartbeats retry later (503), never re-register.
	ErrNotArmed = errors.New("leases not yet re-armed after leader election")
)

// ErrUnknownPeer: the server id is not in the Raft configuration. It
// matches registry.ErrNotFound with errors.Is, so front ends answer 404.
var ErrUnknownPeer error = unknownPeer{}

type unknownPeer struct{}

func (unknownPeer) Error() string        { return "no such server in the raft configuration" }
func (unknownPeer) Is(target error) bool { return target == registry.ErrNotFound }
