package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// gossipLabel keeps Roster's gossip apart from any other memberlist user
// (Consul, Nomad) that might share a network: memberlist drops packets and
// streams whose label differs. The cluster id (below) keeps two Roster
// clusters apart.
const gossipLabel = "roster"

// memberPruneAge is how long a dead or departed member stays in the member
// table after its last state change.
const memberPruneAge = 24 * time.Hour

// nodeMeta is what each server gossips about itself (memberlist's node meta,
// at most 512 bytes: short keys).
type nodeMeta struct {
	ID      string `json:"id"`
	Raft    string `json:"raft"`
	HTTP    string `json:"http,omitempty"`
	DNS     string `json:"dns,omitempty"`
	Version string `json:"version,omitempty"`
	// Cluster is the cluster id; empty until this server belongs to a
	// bootstrapped cluster.
	Cluster string `json:"cluster,omitempty"`
	// Expect is the server's --bootstrap-expect (0: it does not bootstrap).
	Expect int `json:"bx,omitempty"`
	// HasState is true once the server has Raft state, so it takes no part
	// in a bootstrap.
	HasState bool `json:"st,omitempty"`
	// Leaving is set by a server that is leaving the cluster gracefully,
	// just before its gossip leave: memberlist's events do not tell a
	// departure from a failure, so the leader learns it from here and
	// removes the server from the Raft configuration at once.
	Leaving bool `json:"lv,omitempty"`
	// Applied is the last log index this server's catalog applied, as of
	// its last publication (runPublishApplied): the leader promotes a
	// non-voter only once this is close to its commit index.
	Applied uint64 `json:"ap,omitempty"`
}

func parseMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("node meta: %w", err)
	}
	if m.ID == "" || m.Raft == "" {
		return m, errors.New("node meta: no server id or raft address")
	}
	return m, nil
}

// member is one server as gossip knows it.
type member struct {
	Name  string
	Addr  string // gossip address host:port
	Meta  nodeMeta
	State memberlist.NodeStateType
	Since time.Time // last state change
	// AppliedAt is when this server's table last saw Meta.Applied change,
	// and AppliedCommit this server's Raft commit index at that moment: on
	// the leader, the lag the member had when it published (its applied
	// index cannot be fresher than the gossip that carried it).
	AppliedAt     time.Time
	AppliedCommit uint64
}

// gossip is the memberlist delegate: it publishes this server's meta, keeps
// the member table (including dead and departed servers, which memberlist
// forgets), and enforces the cluster identity: a peer whose cluster id
// differs from ours is refused, so two clusters never merge. A server that
// has no cluster id yet (fresh, joining) adopts the first one it meets.
type gossip struct {
	log  *slog.Logger
	name string

	mu      sync.RWMutex
	self    nodeMeta
	members map[string]*member

	// changed is signalled (non-blocking) when the member table changes.
	changed chan struct{}
	// metaChanged is signalled when this server's own meta changed (cluster
	// id adopted) and must be persisted and re-broadcast.
	metaChanged chan struct{}
	// now is the clock (tests).
	now func() time.Time
	// commitIndex is this server's Raft commit index, stamped on each
	// member's applied index as it arrives; nil stamps 0.
	commitIndex func() uint64
}

func newGossip(log *slog.Logger, name string, self nodeMeta) *gossip {
	return &gossip{
		log:         log,
		name:        name,
		self:        self,
		members:     map[string]*member{},
		changed:     make(chan struct{}, 1),
		metaChanged: make(chan struct{}, 1),
		now:         time.Now,
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (g *gossip) selfMeta() nodeMeta {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.self
}

func (g *gossip) clusterID() string {
	return g.selfMeta().Cluster
}

// setCluster records the cluster id (after bootstrapping or adopting it).
func (g *gossip) setCluster(id string) {
	g.mu.Lock()
	changed := g.self.Cluster != id
	g.self.Cluster = id
	g.mu.Unlock()
	if changed {
		signal(g.metaChanged)
	}
}

func (g *gossip) setLeaving() {
	g.mu.Lock()
	g.self.Leaving = true
	g.mu.Unlock()
}

// setApplied records the applied index to publish with the next meta
// update; it reports whether it changed. It does not signal metaChanged:
// runPublishApplied broadcasts it on its own schedule.
func (g *gossip) setApplied(idx uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := g.self.Applied != idx
	g.self.Applied = idx
	return changed
}

func (g *gossip) setHasState() {
	g.mu.Lock()
	changed := !g.self.HasState
	g.self.HasState = true
	g.mu.Unlock()
	if changed {
		signal(g.metaChanged)
	}
}

// NodeMeta implements memberlist.Delegate.
func (g *gossip) NodeMeta(limit int) []byte {
	b, err := json.Marshal(g.selfMeta())
	if err != nil || len(b) > limit {
		g.log.Error("node meta does not fit the gossip limit", "bytes", len(b), "limit", limit, "err", err)
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate; Roster sends no user messages.
func (g *gossip) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (g *gossip) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (g *gossip) MergeRemoteState(buf []byte, join bool) {}

// checkPeer refuses a peer that is not a Roster server or belongs to
// another cluster, and adopts the peer's cluster id when we have none.
func (g *gossip) checkPeer(n *memberlist.Node) error {
	if n.Name == g.name {
		return nil
	}
	m, err := parseMeta(n.Meta)
	if err != nil {
		return fmt.Errorf("peer %s (%s): %w", n.Name, n.Address(), err)
	}
	g.mu.Lock()
	ours := g.self.Cluster
	if ours == "" && m.Cluster != "" {
		g.self.Cluster = m.Cluster
		g.mu.Unlock()
		g.log.Info("adopted the cluster id of a peer", "cluster", m.Cluster, "peer", n.Name)
		signal(g.metaChanged)
		return nil
	}
	g.mu.Unlock()
	if ours != "" && m.Cluster != "" && m.Cluster != ours {
		return fmt.Errorf("peer %s (%s) belongs to cluster %s, not %s", n.Name, n.Address(), m.Cluster, ours)
	}
	return nil
}

// NotifyAlive implements memberlist.AliveDelegate.
func (g *gossip) NotifyAlive(n *memberlist.Node) error {
	err := g.checkPeer(n)
	if err != nil {
		g.log.Warn("refused gossip peer", "err", err)
	}
	return err
}

// NotifyMerge implements memberlist.MergeDelegate: a push/pull with a node
// of another cluster is refused as a whole.
func (g *gossip) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := g.checkPeer(n); err != nil {
			g.log.Warn("refused to merge with a gossip peer's member list", "err", err)
			return err
		}
	}
	return nil
}

// NotifyJoin implements memberlist.EventDelegate.
func (g *gossip) NotifyJoin(n *memberlist.Node) { g.record(n, memberlist.StateAlive) }

// NotifyUpdate implements memberlist.EventDelegate.
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.record(n, memberlist.StateAlive) }

// effectiveState is a member's state for membership decisions: an alive
// server that announced it is leaving counts as left.
func (m *member) effectiveState() memberlist.NodeStateType {
	if m.Meta.Leaving && m.State == memberlist.StateAlive {
		return memberlist.StateLeft
	}
	return m.State
}

// NotifyLeave implements memberlist.EventDelegate. A server that announced
// it was leaving has left; any other has failed.
func (g *gossip) NotifyLeave(n *memberlist.Node) {
	st := memberlist.StateDead
	if m, err := parseMeta(n.Meta); err == nil && m.Leaving {
		st = memberlist.StateLeft
	}
	g.mu.RLock()
	if m, ok := g.members[n.Name]; ok && m.Meta.Leaving {
		st = memberlist.StateLeft
	}
	g.mu.RUnlock()
	g.record(n, st)
}

func (g *gossip) record(n *memberlist.Node, st memberlist.NodeStateType) {
	meta, err := parseMeta(n.Meta)
	if err != nil {
		g.log.Warn("gossip member without Roster meta", "member", n.Name, "err", err)
		return
	}
	now := g.now()
	var commit uint64
	if g.commitIndex != nil {
		commit = g.commitIndex()
	}
	g.mu.Lock()
	m, ok := g.members[n.Name]
	if !ok {
		m = &member{Name: n.Name, Since: now}
		g.members[n.Name] = m
	}
	if m.State != st || !ok {
		m.Since = now
		g.log.Info("gossip member state", "member", n.Name, "id", meta.ID, "state", stateName(st), "addr", n.Address())
	}
	if !ok || m.Meta.Applied != meta.Applied {
		m.AppliedAt = now
		m.AppliedCommit = commit
	}
	// A new applied index alone does not wake reconciliation: servers
	// publish it every half second while writes flow, and the leader's
	// periodic pass picks it up.
	prev := m.Meta
	prev.Applied = meta.Applied
	appliedOnly := ok && m.Meta.Applied != meta.Applied && prev == meta && m.State == st && m.Addr == n.Address()
	m.Addr = n.Address()
	m.Meta = meta
	m.State = st
	g.mu.Unlock()
	if !appliedOnly {
		signal(g.changed)
	}
}

// snapshot returns a copy of the member table, sorted by name, with suspect
// states taken from memberlist's live view, and prunes long-gone members.
func (g *gossip) snapshot(ml *memberlist.Memberlist) []member {
	live := map[string]memberlist.NodeStateType{}
	if ml != nil {
		for _, n := range ml.Members() {
			live[n.Name] = n.State
		}
	}
	now := g.now()
	g.mu.Lock()
	out := make([]member, 0, len(g.members))
	for name, m := range g.members {
		if m.State == memberlist.StateDead || m.State == memberlist.StateLeft {
			if now.Sub(m.Since) > memberPruneAge {
				delete(g.members, name)
				continue
			}
		}
		c := *m
		if st, ok := live[name]; ok && st == memberlist.StateSuspect && c.State == memberlist.StateAlive {
			c.State = memberlist.StateSuspect
		}
		out = append(out, c)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// byID finds a member by Raft server id.
func (g *gossip) byID(id string) (member, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, m := range g.members {
		if m.Meta.ID == id {
			return *m, true
		}
	}
	return member{}, false
}

func stateName(st memberlist.NodeStateType) string {
	switch st {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	default:
		return "unknown"
	}
}

// splitHostPort parses a bind address into IP and port.
func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, p, nil
}
