package raftstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/store"
)

// Server health and promotion are hashicorp/raft-autopilot's (design.md,
// "Rejoin"): on the leader it judges every server healthy or not (alive in
// gossip, heard from within readyMaxLastContact, on the leader's term,
// within catchUpMaxLag entries), promotes a non-voter once it has been
// healthy for the stabilization time, and removes failed servers only while
// the voters keep a quorum. Roster supplies what autopilot cannot see: the
// member table (gossip and servers.json), each follower's last answer (the
// transport's peerStats) and published applied index, and the grace a
// failed server gets before it is removed (deadServerPromoter).

// Autopilot's periods. Its defaults (2 s updates, 10 s reconciliation)
// would keep a restarted or new server a non-voter for over ten seconds.
const (
	autopilotUpdateInterval = time.Second
)

func (s *Store) newAutopilot(hcl hclog.Logger) *autopilot.Autopilot {
	return autopilot.New(&autopilotRaft{Raft: s.raft, s: s}, &autopilotDelegate{s: s},
		autopilot.WithLogger(hcl.Named("autopilot")),
		autopilot.WithUpdateInterval(min(autopilotUpdateInterval, s.cfg.ReconcileInterval*2)),
		autopilot.WithReconcileInterval(s.cfg.ReconcileInterval),
		autopilot.WithPromoter(&deadServerPromoter{s: s}),
	)
}

// autopilotRaft is Raft as autopilot drives it, with each promotion logged
// and counted like every other membership change.
type autopilotRaft struct {
	*raft.Raft
	s *Store
}

// AddVoter implements autopilot.Raft.
func (r *autopilotRaft) AddVoter(id raft.ServerID, addr raft.ServerAddress, prevIndex uint64, timeout time.Duration) raft.IndexFuture {
	m, _ := r.s.gossip.byID(string(id))
	m.Meta.ID, m.Meta.Raft = string(id), string(addr)
	commit := r.Raft.CommitIndex()
	fut := r.Raft.AddVoter(id, addr, prevIndex, timeout)
	r.s.changeMembership("promote_voter", m, fut, "applied_index", m.Meta.Applied, "commit_index", commit,
		"lag", behind(commit, m.Meta.Applied))
	return fut
}

// autopilotDelegate is autopilot's view of Roster (autopilot.ApplicationIntegration).
type autopilotDelegate struct {
	s *Store
	// removing holds the ids whose removal is under way: autopilot asks
	// again on its next pass if the configuration has not changed yet.
	removing sync.Map
}

// AutopilotConfig implements autopilot.ApplicationIntegration.
func (d *autopilotDelegate) AutopilotConfig() *autopilot.Config {
	return &autopilot.Config{
		CleanupDeadServers:      true,
		LastContactThreshold:    readyMaxLastContact,
		MaxTrailingLogs:         catchUpMaxLag,
		ServerStabilizationTime: d.s.cfg.serverStabilization,
	}
}

// NotifyState implements autopilot.ApplicationIntegration: it exports the
// health view and logs (once) a non-voter that does not catch up.
func (d *autopilotDelegate) NotifyState(st *autopilot.State) {
	s := d.s
	s.metrics.autopilotHealthy.Set(boolGauge(st.Healthy))
	s.metrics.failureTolerance.Set(float64(st.FailureTolerance))
	now := time.Now()
	count := 0
	s.stuckMu.Lock()
	defer s.stuckMu.Unlock()
	seen := map[raft.ServerID]bool{}
	for id, srv := range st.Servers {
		if srv.State != autopilot.RaftNonVoter || srv.Health.Healthy || srv.Server.NodeStatus != autopilot.NodeAlive {
			continue
		}
		seen[id] = true
		w, ok := s.stuck[id]
		if !ok {
			s.stuck[id] = &waiting{since: now}
			continue
		}
		if now.Sub(w.since) < s.cfg.catchUpWait {
			continue
		}
		count++
		if !w.logged {
			w.logged = true
			s.metrics.catchUpTimeouts.Inc()
			s.log.Info("non-voter has not caught up; keeping it a non-voter", "member", srv.Server.Name, "id", id,
				"last_index", srv.Stats.LastIndex, "lag", behind(s.raft.LastIndex(), srv.Stats.LastIndex),
				"last_contact", srv.Stats.LastContact, "max_lag", catchUpMaxLag,
				"waited", now.Sub(w.since).Round(time.Millisecond))
		}
	}
	for id := range s.stuck {
		if !seen[id] {
			delete(s.stuck, id)
		}
	}
	s.metrics.nonvotersBehind.Set(float64(count))
}

// waiting is a non-voter that autopilot judges unhealthy: since when, and
// whether it was logged and counted as stuck.
type waiting struct {
	since  time.Time
	logged bool
}

// FetchServerStats implements autopilot.ApplicationIntegration from what
// this leader already knows: no RPC per server.
func (d *autopilotDelegate) FetchServerStats(_ context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	s := d.s
	out := map[raft.ServerID]*autopilot.ServerStats{}
	term := s.raft.CurrentTerm()
	lastTerm, _ := strconv.ParseUint(s.raft.Stats()["last_log_term"], 10, 64)
	lastIndex := s.raft.LastIndex()
	commit := s.raft.CommitIndex()
	now := time.Now()
	for id := range servers {
		if string(id) == s.id {
			out[id] = &autopilot.ServerStats{LastTerm: lastTerm, LastIndex: lastIndex}
			continue
		}
		ps, ok := s.rpcs.peers.get(id)
		if !ok {
			continue // never answered: unhealthy
		}
		st := &autopilot.ServerStats{LastContact: now.Sub(ps.at), LastTerm: ps.term}
		if ps.term == term {
			st.LastTerm = lastTerm
		}
		if m, ok := s.gossip.byID(string(id)); ok {
			st.LastIndex = m.Meta.Applied
			if _, caughtUp := s.catchUpLag(m, commit, now); caughtUp {
				st.LastIndex = max(st.LastIndex, lastIndex)
			}
		}
		out[id] = st
	}
	return out
}

// KnownServers implements autopilot.ApplicationIntegration: the servers of
// this cluster in gossip and, for those of the Raft configuration that
// gossip does not show (this leader restarted since they failed), the
// table of known servers, as failed. An id whose name another id now holds
// is left out: reconcile replaces it.
func (d *autopilotDelegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	s := d.s
	out := map[raft.ServerID]*autopilot.Server{}
	_, leaderID := s.raft.LeaderWithID()
	cluster := s.gossip.clusterID()
	byName := map[string]member{}
	for _, m := range s.gossip.snapshot() {
		if m.Meta.Cluster != "" && cluster != "" && m.Meta.Cluster != cluster {
			continue
		}
		if prev, ok := byName[m.Name]; ok && prev.State == stateAlive {
			continue
		}
		byName[m.Name] = m
	}
	for _, m := range byName {
		out[raft.ServerID(m.Meta.ID)] = &autopilot.Server{
			ID: raft.ServerID(m.Meta.ID), Name: m.Name, Address: raft.ServerAddress(m.Meta.Raft),
			NodeStatus: nodeStatus(m.State), Version: m.Meta.Version, RaftVersion: raft.ProtocolVersionMax,
			IsLeader: raft.ServerID(m.Meta.ID) == leaderID, Meta: map[string]string{}, NodeType: autopilot.NodeVoter,
		}
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if _, ok := out[srv.ID]; ok {
				continue
			}
			k, ok := s.known.get(string(srv.ID))
			if !ok {
				continue
			}
			if m, taken := byName[k.Name]; taken && m.Meta.ID != k.ID {
				continue
			}
			out[srv.ID] = &autopilot.Server{
				ID: srv.ID, Name: k.Name, Address: srv.Address, NodeStatus: autopilot.NodeFailed,
				RaftVersion: raft.ProtocolVersionMax, Meta: map[string]string{}, NodeType: autopilot.NodeVoter,
			}
		}
	}
	return out
}

// RemoveFailedServer implements autopilot.ApplicationIntegration. It must
// return at once: the removal runs in its own goroutine.
// Autopilot asks on every pass until the configuration shows the server
// gone, so a removal already under way, or done, is not repeated (each
// would append another configuration entry and count another removal).
func (d *autopilotDelegate) RemoveFailedServer(srv *autopilot.Server) {
	s := d.s
	if _, busy := d.removing.LoadOrStore(srv.ID, struct{}{}); busy {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer d.removing.Delete(srv.ID)
		if !s.inConfiguration(srv.ID) {
			return
		}
		m := member{Name: srv.Name, Meta: nodeMeta{ID: string(srv.ID), Raft: string(srv.Address)}, State: string(srv.NodeStatus)}
		s.changeMembership("remove_failed", m, s.raft.RemoveServer(srv.ID, 0, membershipTimeout))
	}()
}

// inConfiguration reports whether id is in the latest Raft configuration
// (true when it cannot be read, so that a removal is still tried).
func (s *Store) inConfiguration(id raft.ServerID) bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return true
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == id {
			return true
		}
	}
	return false
}

func nodeStatus(state string) autopilot.NodeStatus {
	switch state {
	case stateAlive:
		return autopilot.NodeAlive
	case stateFailed:
		return autopilot.NodeFailed
	case stateLeft, stateLeaving:
		return autopilot.NodeLeft
	}
	return autopilot.NodeUnknown
}

// deadServerPromoter is autopilot's stable promoter (every healthy,
// stable non-voter becomes a voter) with design.md's grace: a failed
// server is removed only once it has been failed for DeadServerGrace, and
// a server in the configuration that nothing knows of only once this
// server has led that long.
type deadServerPromoter struct {
	autopilot.StablePromoter
	s *Store
}

// FilterFailedServerRemovals implements autopilot.Promoter.
func (p *deadServerPromoter) FilterFailedServerRemovals(_ *autopilot.Config, _ *autopilot.State, f *autopilot.FailedServers) *autopilot.FailedServers {
	now := time.Now()
	grace := p.s.cfg.DeadServerGrace
	failedLongEnough := func(list []*autopilot.Server) []*autopilot.Server {
		var out []*autopilot.Server
		for _, srv := range list {
			since := p.s.leaderSince()
			if m, ok := p.s.gossip.byID(string(srv.ID)); ok && m.State != stateAlive && m.Since.After(since) {
				since = m.Since
			}
			if now.Sub(since) >= grace {
				out = append(out, srv)
			}
		}
		return out
	}
	out := &autopilot.FailedServers{
		FailedVoters:    failedLongEnough(f.FailedVoters),
		FailedNonVoters: failedLongEnough(f.FailedNonVoters),
	}
	if now.Sub(p.s.leaderSince()) >= grace {
		out.StaleVoters, out.StaleNonVoters = f.StaleVoters, f.StaleNonVoters
	}
	return out
}

// Health describes every server as the leader's autopilot judges it; on a
// follower it answers store.ErrNotLeader (the front end forwards).
func (s *Store) Health(ctx context.Context) (api.ClusterHealth, error) {
	if err := s.leaderErr(); err != nil {
		return api.ClusterHealth{}, fmt.Errorf("cluster health: %w", err)
	}
	st := s.autopilot.GetState()
	if st == nil || len(st.Servers) == 0 {
		return api.ClusterHealth{}, fmt.Errorf("cluster health: %w: the leader has not judged the servers yet", store.ErrNoLeader)
	}
	conf := (&autopilotDelegate{s: s}).AutopilotConfig()
	leader := st.Servers[st.Leader]
	out := api.ClusterHealth{
		Healthy:          st.Healthy,
		FailureTolerance: st.FailureTolerance,
		CanLoseOne:       st.FailureTolerance >= 1,
		Leader:           string(st.Leader),
		Servers:          []api.ServerHealth{},
	}
	for _, srv := range st.Servers {
		h := api.ServerHealth{
			ID: string(srv.Server.ID), Name: srv.Server.Name, RaftAddr: string(srv.Server.Address),
			Gossip: string(srv.Server.NodeStatus), Role: raftRole(srv.State), Voter: srv.HasVotingRights(),
			Healthy: srv.Health.Healthy, StableSince: srv.Health.StableSince.UTC().Format(time.RFC3339Nano),
			LastContact: srv.Stats.LastContact.Round(time.Millisecond).String(), LastTerm: srv.Stats.LastTerm,
			LastIndex: srv.Stats.LastIndex,
		}
		if !h.Healthy {
			h.Reason = unhealthyReason(srv, leader, conf)
		}
		out.Servers = append(out.Servers, h)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return out, nil
}

func raftRole(st autopilot.RaftState) string {
	switch st {
	case autopilot.RaftLeader:
		return "leader"
	case autopilot.RaftVoter:
		return "follower"
	case autopilot.RaftNonVoter, autopilot.RaftStaging:
		return "nonvoter"
	}
	return "none"
}

// unhealthyReason names the first of autopilot's health conditions that
// srv fails.
func unhealthyReason(srv, leader *autopilot.ServerState, conf *autopilot.Config) string {
	switch {
	case srv.Server.NodeStatus != autopilot.NodeAlive:
		return fmt.Sprintf("gossip status %s", srv.Server.NodeStatus)
	case srv.Stats.LastContact < 0 || srv.Stats.LastContact > conf.LastContactThreshold:
		return fmt.Sprintf("last contact with the leader %s ago (at most %s)", srv.Stats.LastContact.Round(time.Millisecond), conf.LastContactThreshold)
	case leader != nil && srv.Stats.LastTerm != leader.Stats.LastTerm:
		return fmt.Sprintf("on term %d, the leader on %d", srv.Stats.LastTerm, leader.Stats.LastTerm)
	case leader != nil && srv.Stats.LastIndex+conf.MaxTrailingLogs < leader.Stats.LastIndex:
		return fmt.Sprintf("%d entries behind the leader (at most %d)", leader.Stats.LastIndex-srv.Stats.LastIndex, conf.MaxTrailingLogs)
	}
	return "not heard from yet"
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
