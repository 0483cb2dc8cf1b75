package raftstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/registry"
)

// clusterNamespace derives a cluster id from the servers that bootstrapped
// together with --bootstrap-expect: each of them computes the same id.
var clusterNamespace = uuid.MustParse("5c1e7a0e-2b8f-4d0e-9a57-6f3c2d4b8e11")

// membershipTimeout bounds one Raft configuration change.
const membershipTimeout = 10 * time.Second

// runJoin joins the gossip pool through any of cfg.Join, retrying with
// backoff until one answers.
func (s *Store) runJoin(ctx context.Context) {
	self := s.GossipAddr()
	var addrs []string
	for _, a := range s.cfg.Join {
		if a != self {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return
	}
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		n, err := s.ml.Join(addrs)
		if n > 0 {
			s.log.Info("joined the gossip pool", "contacted", n, "join", strings.Join(addrs, ","), "attempt", attempt)
			return
		}
		s.log.Warn("joining the gossip pool failed; retrying", "join", strings.Join(addrs, ","), "attempt", attempt,
			"retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// runBootstrapExpect waits until BootstrapExpect servers with empty state
// see each other, then bootstraps Raft with all of them as voters. Each of
// them computes the same configuration and cluster id, and Raft accepts an
// identical bootstrap from several servers. A server that meets a member
// of an already bootstrapped cluster joins it instead.
func (s *Store) runBootstrapExpect(ctx context.Context) {
	want := s.cfg.BootstrapExpect
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	seen := -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.raft.LastIndex() > 0 || s.gossip.clusterID() != "" {
			s.gossip.setHasState()
			s.log.Info("not bootstrapping: this server belongs to an existing cluster", "cluster", s.gossip.clusterID())
			return
		}
		var peers []member
		for _, m := range s.gossip.snapshot(s.ml) {
			if m.State != memberlist.StateAlive || m.Meta.HasState || m.Meta.Cluster != "" || m.Meta.Expect == 0 {
				continue
			}
			if m.Meta.Expect != want {
				s.log.Warn("servers disagree on bootstrap-expect", "member", m.Name, "theirs", m.Meta.Expect, "ours", want)
			}
			peers = append(peers, m)
		}
		if len(peers) < want {
			if len(peers) != seen {
				seen = len(peers)
				s.log.Info("waiting for servers before bootstrapping", "seen", seen, "expect", want)
			}
			continue
		}
		sort.Slice(peers, func(i, j int) bool { return peers[i].Meta.ID < peers[j].Meta.ID })
		conf := raft.Configuration{}
		ids := make([]string, len(peers))
		for i, p := range peers {
			conf.Servers = append(conf.Servers, raft.Server{
				Suffrage: raft.Voter, ID: raft.ServerID(p.Meta.ID), Address: raft.ServerAddress(p.Meta.Raft),
			})
			ids[i] = p.Meta.ID
		}
		if err := s.raft.BootstrapCluster(conf).Error(); err != nil {
			s.log.Warn("bootstrap not done: raft already has state", "err", err)
		}
		cluster := uuid.NewSHA1(clusterNamespace, []byte(strings.Join(ids, ","))).String()
		s.gossip.setCluster(cluster)
		s.gossip.setHasState()
		s.log.Info("bootstrapped the cluster", "servers", len(peers), "ids", strings.Join(ids, ","), "cluster", cluster)
		return
	}
}

// runGossipMeta persists and re-broadcasts this server's meta when it
// changes (a cluster id adopted or created, Raft state gained).
func (s *Store) runGossipMeta(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.gossip.metaChanged:
		}
		if id := s.gossip.clusterID(); id != "" {
			if err := s.persistClusterID(id); err != nil {
				s.log.Error("could not persist the cluster id", "err", err)
			}
		}
		if err := s.ml.UpdateNode(5 * time.Second); err != nil {
			s.log.Warn("gossip meta update failed", "err", err)
		}
	}
}

// reconcile makes the Raft configuration follow gossip (design.md,
// "Cluster"), on the leader: alive servers not in the configuration join as
// non-voters and become voters once they have caught up with the log (see
// considerPromotion), so a new server never weakens the quorum while it
// fetches the catalog; servers that left gracefully are removed; failed
// ones are removed after DeadServerGrace, one at a time and only while the
// remaining voters keep a quorum of alive servers. It runs only in the
// leader's goroutine (lead).
func (s *Store) reconcile() {
	if !s.IsLeader() {
		return
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		s.log.Warn("reconcile: reading the raft configuration failed", "err", err)
		return
	}
	conf := f.Configuration()
	inConf := map[string]raft.Server{}
	voters := 0
	for _, srv := range conf.Servers {
		inConf[string(srv.ID)] = srv
		if srv.Suffrage == raft.Voter {
			voters++
		}
	}
	members := s.gossip.snapshot(s.ml)
	cluster := s.gossip.clusterID()
	byID := map[string]member{}
	for _, m := range members {
		if m.Meta.Cluster != "" && cluster != "" && m.Meta.Cluster != cluster {
			continue
		}
		if prev, ok := byID[m.Meta.ID]; ok && prev.effectiveState() == memberlist.StateAlive {
			continue
		}
		byID[m.Meta.ID] = m
	}
	now := time.Now()
	commit := s.raft.CommitIndex()
	aliveNonvoters := map[string]bool{}

	for _, m := range members {
		id := m.Meta.ID
		if m.effectiveState() != memberlist.StateAlive || byID[id].Name != m.Name {
			continue
		}
		srv, ok := inConf[id]
		switch {
		case !ok:
			if s.changeMembership("add_nonvoter", m, s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)) {
				s.nonvoters[id] = &nonvoter{since: now}
				aliveNonvoters[id] = true
			}
		case string(srv.Address) != m.Meta.Raft:
			fut := s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)
			if srv.Suffrage == raft.Voter {
				fut = s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)
			}
			s.changeMembership("update_address", m, fut)
		case srv.Suffrage == raft.Nonvoter:
			aliveNonvoters[id] = true
			s.considerPromotion(m, commit, now)
		}
	}
	s.pruneNonvoters(aliveNonvoters)

	aliveVoters := 0
	for _, srv := range conf.Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		m, known := byID[string(srv.ID)]
		if string(srv.ID) == s.id || (known && (m.effectiveState() == memberlist.StateAlive || m.State == memberlist.StateSuspect)) {
			aliveVoters++
		}
	}
	for _, m := range members {
		id := m.Meta.ID
		srv, ok := inConf[id]
		if !ok || id == s.id || byID[id].Name != m.Name {
			continue
		}
		switch m.effectiveState() {
		case memberlist.StateLeft:
			if s.changeMembership("remove_left", m, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)) && srv.Suffrage == raft.Voter {
				voters--
			}
		case memberlist.StateDead:
			if now.Sub(m.Since) < s.cfg.DeadServerGrace {
				continue
			}
			if srv.Suffrage == raft.Voter {
				if remaining := voters - 1; aliveVoters < remaining/2+1 {
					s.log.Warn("not removing a failed server: the remaining voters would lack a quorum of alive servers",
						"member", m.Name, "id", id, "voters", voters, "alive_voters", aliveVoters)
					continue
				}
			}
			if s.changeMembership("remove_failed", m, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)) && srv.Suffrage == raft.Voter {
				voters--
			}
		}
	}
}

// changeMembership waits for a configuration change, then logs it (with
// the extra key-value pairs in fields) and counts it.
func (s *Store) changeMembership(action string, m member, fut raft.IndexFuture, fields ...any) bool {
	if err := fut.Error(); err != nil {
		s.log.Warn("membership change failed", append([]any{"action", action, "member", m.Name, "id", m.Meta.ID,
			"raft_addr", m.Meta.Raft, "err", err}, fields...)...)
		return false
	}
	s.metrics.membership.WithLabelValues(action).Inc()
	s.log.Info("membership changed", append([]any{"action", action, "member", m.Name, "id", m.Meta.ID,
		"raft_addr", m.Meta.Raft, "gossip_state", stateName(m.State), "index", fut.Index()}, fields...)...)
	return true
}

// Leave makes this server leave the cluster gracefully and stops it: a
// leader hands leadership over first; the server announces its departure in
// gossip and the leader removes it from the Raft configuration (a leader
// that could not hand over removes itself); then everything shuts down.
func (s *Store) Leave(ctx context.Context) error {
	return s.shutdown(ctx, true)
}

// leaveCluster runs inside shutdown, after any leadership transfer.
func (s *Store) leaveCluster(ctx context.Context) error {
	others := s.otherVoters()
	if s.IsLeader() && others > 0 {
		if err := s.raft.RemoveServer(raft.ServerID(s.id), 0, membershipTimeout).Error(); err != nil {
			s.log.Warn("leader could not remove itself from the raft configuration", "err", err)
		}
	}
	// Announce the departure (memberlist's own leave message does not tell
	// a leave from a failure), then leave gossip.
	s.gossip.setLeaving()
	if err := s.ml.UpdateNode(s.cfg.scaled(2 * time.Second)); err != nil {
		s.log.Warn("gossip leaving announcement failed", "err", err)
	}
	if err := s.ml.Leave(s.cfg.scaled(5 * time.Second)); err != nil {
		s.log.Warn("gossip leave broadcast failed", "err", err)
	}
	if others == 0 {
		s.log.Info("left: this was the only voter")
		return nil
	}
	deadline := time.NewTimer(s.cfg.scaled(10 * time.Second))
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		f := s.raft.GetConfiguration()
		if f.Error() == nil && !hasServer(f.Configuration(), s.id) {
			s.log.Info("left: removed from the raft configuration")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leave: %w", ctx.Err())
		case <-deadline.C:
			s.log.Warn("left gossip, but removal from the raft configuration was not seen in time; the leader removes this server when it sees it left")
			return nil
		case <-poll.C:
		}
	}
}

func hasServer(c raft.Configuration, id string) bool {
	for _, srv := range c.Servers {
		if string(srv.ID) == id {
			return true
		}
	}
	return false
}

// RemovePeer removes a server from the Raft configuration (leader only), for
// an operator clearing a stuck peer. A server that is still alive in gossip
// is added back by reconciliation; stop it first.
func (s *Store) RemovePeer(ctx context.Context, id string) error {
	if err := s.leaderErr(); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, s.mapRaftErr(err))
	}
	if !hasServer(f.Configuration(), id) {
		return fmt.Errorf("remove peer %s: %w", id, registry.ErrUnknownPeer)
	}
	if err := s.waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	s.metrics.membership.WithLabelValues("remove_operator").Inc()
	s.log.Info("membership changed", "action", "remove_operator", "id", id)
	return nil
}
