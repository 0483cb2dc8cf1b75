package raftstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// gossipLabel keeps Roster's gossip apart from any other memberlist user
// (Consul, Nomad) that might share a network: memberlist drops packets and
// streams whose label differs. The cluster id (below) keeps two Roster
// clusters apart.
const gossipLabel = "roster"

// Gossip member states, as /v1/cluster/members reports them. Serf tells a
// graceful departure (leaving, then left) from a failure.
const (
	stateAlive   = "alive"
	stateLeaving = "leaving"
	stateLeft    = "left"
	stateFailed  = "failed"
)

// nodeMeta is what each server gossips about itself (serf tags, which
// memberlist carries in at most 512 bytes: short keys).
type nodeMeta struct {
	ID      string
	Raft    string
	HTTP    string
	DNS     string
	Version string
	// Cluster is the cluster id; empty until this server belongs to a
	// bootstrapped cluster.
	Cluster string
	// Expect is the server's --bootstrap-expect (0: it does not bootstrap).
	Expect int
	// HasState is true once the server has Raft state, so it takes no part
	// in a bootstrap.
	HasState bool
	// Applied is the last log index this server's catalog applied, as of
	// its last publication (runPublishApplied): the leader's health view
	// (autopilot) judges a server caught up from it.
	Applied uint64
	// ACL is true when the server's build applies the ACL command types
	// (a version without them would stop applying at the first one).
	ACL bool
	// Maint is true when the server's build applies the maintenance
	// command (registry.EncodeMaintenance).
	Maint bool
}

// Tag keys.
const (
	tagID      = "id"
	tagRaft    = "raft"
	tagHTTP    = "http"
	tagDNS     = "dns"
	tagVersion = "ver"
	tagCluster = "cl"
	tagExpect  = "bx"
	tagState   = "st"
	tagApplied = "ap"
	tagACL     = "acl"
	tagMaint   = "mt"
)

func (m nodeMeta) tags() map[string]string {
	t := map[string]string{tagID: m.ID, tagRaft: m.Raft}
	for k, v := range map[string]string{tagHTTP: m.HTTP, tagDNS: m.DNS, tagVersion: m.Version, tagCluster: m.Cluster} {
		if v != "" {
			t[k] = v
		}
	}
	if m.Expect != 0 {
		t[tagExpect] = strconv.Itoa(m.Expect)
	}
	if m.HasState {
		t[tagState] = "1"
	}
	if m.Applied != 0 {
		t[tagApplied] = strconv.FormatUint(m.Applied, 10)
	}
	if m.ACL {
		t[tagACL] = "1"
	}
	if m.Maint {
		t[tagMaint] = "1"
	}
	return t
}

// parseMeta reads a member's tags; a member without a server id or Raft
// address is not a Roster server.
func parseMeta(t map[string]string) (nodeMeta, error) {
	m := nodeMeta{ID: t[tagID], Raft: t[tagRaft], HTTP: t[tagHTTP], DNS: t[tagDNS], Version: t[tagVersion],
		Cluster: t[tagCluster], HasState: t[tagState] == "1", ACL: t[tagACL] == "1",
		Maint: t[tagMaint] == "1"}
	if m.ID == "" || m.Raft == "" {
		return m, errors.New("gossip tags: no server id or raft address")
	}
	if v := t[tagExpect]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return m, fmt.Errorf("gossip tags: bootstrap-expect %q: %w", v, err)
		}
		m.Expect = n
	}
	if v := t[tagApplied]; v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return m, fmt.Errorf("gossip tags: applied index %q: %w", v, err)
		}
		m.Applied = n
	}
	return m, nil
}

// member is one server as gossip knows it.
type member struct {
	Name  string
	Addr  string // gossip address host:port
	Meta  nodeMeta
	State string
	Since time.Time // when this server saw the state change
	// AppliedAt is when this server's table last saw Meta.Applied change,
	// and AppliedCommit this server's Raft commit index at that moment: on
	// the leader, the lag the member had when it published (its applied
	// index cannot be fresher than the gossip that carried it).
	AppliedAt     time.Time
	AppliedCommit uint64
}

// mark is what the gossip table remembers of a member beyond what serf
// reports: when its state last changed and when its applied index moved.
type mark struct {
	state         string
	since         time.Time
	applied       uint64
	appliedAt     time.Time
	appliedCommit uint64
}

// gossip is Roster's side of serf: it publishes this server's meta as
// tags, follows member events (recording when each state began, which serf
// does not), and enforces the cluster identity: a peer whose cluster id
// differs from ours is refused, so two clusters never merge. A server that
// has no cluster id yet (fresh, joining) adopts the first one it meets.
type gossip struct {
	log  *slog.Logger
	name string

	mu    sync.RWMutex
	self  nodeMeta
	marks map[string]*mark
	serf  *serf.Serf

	// changed is signalled (non-blocking) when the member table changes.
	changed chan struct{}
	// metaChanged is signalled when this server's own meta changed (cluster
	// id adopted) and must be persisted and re-published.
	metaChanged chan struct{}
	// now is the clock (tests).
	now func() time.Time
	// commitIndex is this server's Raft commit index, stamped on each
	// member's applied index as it arrives; nil stamps 0.
	commitIndex func() uint64
	// httpAddrs maps each Raft id to its member's HTTP address as byID
	// would choose it, built on first use after a member event (nil:
	// not built): every write a follower forwards looks up the leader's
	// address, and a snapshot of the member table per write was 5% of a
	// follower's CPU under write load.
	httpAddrs atomic.Pointer[map[string]string]
	addrsMu   sync.Mutex // orders building httpAddrs against member events
}

func newGossip(log *slog.Logger, name string, self nodeMeta) *gossip {
	return &gossip{
		log:         log,
		name:        name,
		self:        self,
		marks:       map[string]*mark{},
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

// setApplied records the applied index to publish with the next tags
// update; it reports whether it changed. It does not signal metaChanged:
// runPublishApplied publishes it on its own schedule.
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

// publish sends this server's current meta as its serf tags.
func (g *gossip) publish() error {
	g.mu.RLock()
	s := g.serf
	g.mu.RUnlock()
	// SetTags waits for the broadcast; a server that is leaving or shut
	// down has nothing to publish and must not wait.
	if s == nil || s.State() != serf.SerfAlive {
		return nil
	}
	return s.SetTags(g.selfMeta().tags())
}

// NotifyMerge implements serf.MergeDelegate (serf also calls it for each
// alive message): a peer of another cluster is refused, and a push/pull
// with a member list holding one is refused as a whole.
func (g *gossip) NotifyMerge(peers []*serf.Member) error {
	for _, p := range peers {
		if err := g.checkPeer(p); err != nil {
			g.log.Warn("refused gossip peer", "err", err)
			return err
		}
	}
	return nil
}

// checkPeer refuses a peer that is not a Roster server or belongs to
// another cluster, and adopts the peer's cluster id when we have none.
func (g *gossip) checkPeer(p *serf.Member) error {
	if p.Name == g.name {
		return nil
	}
	addr := net.JoinHostPort(p.Addr.String(), strconv.Itoa(int(p.Port)))
	m, err := parseMeta(p.Tags)
	if err != nil {
		return fmt.Errorf("peer %s (%s): %w", p.Name, addr, err)
	}
	g.mu.Lock()
	ours := g.self.Cluster
	if ours == "" && m.Cluster != "" {
		g.self.Cluster = m.Cluster
		g.mu.Unlock()
		g.log.Info("adopted the cluster id of a peer", "cluster", m.Cluster, "peer", p.Name)
		signal(g.metaChanged)
		return nil
	}
	g.mu.Unlock()
	if ours != "" && m.Cluster != "" && m.Cluster != ours {
		return fmt.Errorf("peer %s (%s) belongs to cluster %s, not %s", p.Name, addr, m.Cluster, ours)
	}
	return nil
}

// handle records a serf member event.
func (g *gossip) handle(e serf.MemberEvent) {
	for _, m := range e.Members {
		if e.Type == serf.EventMemberReap {
			g.mu.Lock()
			delete(g.marks, m.Name)
			g.mu.Unlock()
			g.log.Info("gossip member reaped", "member", m.Name)
			continue
		}
		g.note(m)
	}
	g.addrsMu.Lock()
	g.httpAddrs.Store(nil)
	g.addrsMu.Unlock()
	signal(g.changed)
}

// note updates a member's mark from what serf reports and returns it.
func (g *gossip) note(m serf.Member) mark {
	st := memberState(m.Status)
	meta, metaErr := parseMeta(m.Tags)
	now := g.now()
	var commit uint64
	if g.commitIndex != nil {
		commit = g.commitIndex()
	}
	g.mu.Lock()
	mk, ok := g.marks[m.Name]
	if !ok {
		mk = &mark{state: st, since: now, applied: meta.Applied, appliedAt: now, appliedCommit: commit}
		g.marks[m.Name] = mk
	}
	changed := mk.state != st
	if changed {
		mk.state, mk.since = st, now
	}
	if mk.applied != meta.Applied {
		mk.applied, mk.appliedAt, mk.appliedCommit = meta.Applied, now, commit
	}
	out := *mk
	g.mu.Unlock()
	if (changed || !ok) && metaErr == nil {
		g.log.Info("gossip member state", "member", m.Name, "member_id", meta.ID, "state", st,
			"addr", net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
	}
	return out
}

// snapshot returns the member table (Roster servers only), sorted by name.
func (g *gossip) snapshot() []member {
	g.mu.RLock()
	s := g.serf
	g.mu.RUnlock()
	if s == nil {
		return nil
	}
	ms := s.Members()
	out := make([]member, 0, len(ms))
	for _, m := range ms {
		meta, err := parseMeta(m.Tags)
		if err != nil {
			continue
		}
		mk := g.note(m)
		out = append(out, member{
			Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			Meta: meta, State: mk.state, Since: mk.since, AppliedAt: mk.appliedAt, AppliedCommit: mk.appliedCommit,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// byID finds the member that carries a Raft server id, preferring an alive
// one (a wiped server's new process may share a name with an old id).
func (g *gossip) byID(id string) (member, bool) {
	m, ok := membersByID(g.snapshot())[id]
	return m, ok
}

// membersByID maps each Raft id to the member that carries it, preferring
// an alive one (the last alive, else the first seen).
func membersByID(ms []member) map[string]member {
	out := make(map[string]member, len(ms))
	for _, m := range ms {
		if _, seen := out[m.Meta.ID]; !seen || m.State == stateAlive {
			out[m.Meta.ID] = m
		}
	}
	return out
}

// httpAddr is the HTTP address of the member that carries a Raft server
// id, as byID would find it ("" when none is known).
func (g *gossip) httpAddr(id string) string {
	if p := g.httpAddrs.Load(); p != nil {
		return (*p)[id]
	}
	g.addrsMu.Lock()
	defer g.addrsMu.Unlock()
	if p := g.httpAddrs.Load(); p != nil {
		return (*p)[id]
	}
	addrs := map[string]string{}
	for mid, m := range membersByID(g.snapshot()) {
		addrs[mid] = m.Meta.HTTP
	}
	g.httpAddrs.Store(&addrs)
	return addrs[id]
}

// aliveOthers counts the alive members other than this server.
func (g *gossip) aliveOthers() int {
	g.mu.RLock()
	s := g.serf
	g.mu.RUnlock()
	if s == nil {
		return 0
	}
	n := 0
	for _, m := range s.Members() {
		if m.Name != g.name && m.Status == serf.StatusAlive {
			n++
		}
	}
	return n
}

func memberState(st serf.MemberStatus) string {
	switch st {
	case serf.StatusAlive:
		return stateAlive
	case serf.StatusLeaving:
		return stateLeaving
	case serf.StatusLeft:
		return stateLeft
	case serf.StatusFailed:
		return stateFailed
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
