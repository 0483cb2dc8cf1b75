package raftstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	"github.com/rosterhq/roster/store"
)

// clusterNamespace derives a cluster id from the servers that bootstrapped
// together with --bootstrap-expect: each of them computes the same id.
var clusterNamespace = uuid.MustParse("5c1e7a0e-2b8f-4d0e-9a57-6f3c2d4b8e11")

// membershipTimeout bounds one Raft configuration change.
const membershipTimeout = 10 * time.Second

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
		for _, m := range s.gossip.snapshot() {
			if m.State != stateAlive || m.Meta.HasState || m.Meta.Cluster != "" || m.Meta.Expect == 0 {
				continue
			}
			if m.Meta.Expect != want {
				s.log.Warn("servers disagree on bootstrap-expect", "member", m.Name, "theirs", m.Meta.Expect, "ours", want)
			}
			peers = append(peers, m)
		}
		if len(peers) >= want && s.cfg.PeerTLS != nil {
			// Under TLS only servers with a certificate of the CA count.
			admitted := peers[:0]
			for _, m := range peers {
				if m.Meta.ID == s.id || s.admit(m.Meta.ID, m.Meta.Raft) {
					admitted = append(admitted, m)
				}
			}
			peers = admitted
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
		if err := s.gossip.publish(); err != nil {
			s.log.Warn("gossip tags update failed", "err", err)
		}
	}
}

// reconcile makes the Raft configuration follow gossip (design.md,
// "Cluster"), on the leader: alive servers not in the configuration join as
// non-voters (autopilot promotes them once they are healthy and stable, so
// a new server never weakens the quorum while it fetches the catalog);
// servers that left gracefully are removed at once; a configuration entry
// whose name or Raft address an alive server now holds under another id (a
// wiped server, restarted) is replaced. Failed servers are autopilot's to
// remove, after DeadServerGrace and only while quorum is safe
// (deadServerPromoter). It runs only in the leader's goroutine (lead).
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
	for _, srv := range conf.Servers {
		inConf[string(srv.ID)] = srv
	}
	members := s.gossip.snapshot()
	cluster := s.gossip.clusterID()
	nameOf := map[string]string{} // id -> gossip name, from the latest member per id
	for _, m := range members {
		if m.Meta.Cluster != "" && cluster != "" && m.Meta.Cluster != cluster {
			continue
		}
		if _, ok := nameOf[m.Meta.ID]; !ok || m.State == stateAlive {
			nameOf[m.Meta.ID] = m.Name
		}
	}
	for _, m := range members {
		id := m.Meta.ID
		if m.State != stateAlive || nameOf[id] != m.Name {
			continue
		}
		srv, ok := inConf[id]
		switch {
		case !ok:
			if !s.admit(id, m.Meta.Raft) {
				continue
			}
			s.replaceStale(conf, m)
			s.changeMembership("add_nonvoter", m, s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout))
		case string(srv.Address) != m.Meta.Raft:
			fut := s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)
			if srv.Suffrage == raft.Voter {
				fut = s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)
			}
			s.changeMembership("update_address", m, fut)
		}
	}
	for _, m := range members {
		id := m.Meta.ID
		if _, ok := inConf[id]; !ok || id == s.id || nameOf[id] != m.Name {
			continue
		}
		if m.State == stateLeft || m.State == stateLeaving {
			s.changeMembership("remove_left", m, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout))
		}
	}
	s.known.forget(func(id string) bool {
		_, in := inConf[id]
		m, ok := s.gossip.byID(id)
		return in || (ok && m.State == stateAlive)
	})
}

// replaceStale removes the configuration entries that alive server m makes
// stale: another id under m's gossip name or Raft address. That id's
// process is gone (its name or address now answers as m), so removing it
// never costs an alive voter, and m is added in its place; a wiped server
// thus rejoins as itself and the voter count is restored once autopilot
// promotes it.
func (s *Store) replaceStale(conf raft.Configuration, m member) {
	for _, srv := range conf.Servers {
		id := string(srv.ID)
		if id == m.Meta.ID || id == s.id {
			continue
		}
		old, known := s.known.get(id)
		sameAddr := string(srv.Address) == m.Meta.Raft
		sameName := known && old.Name == m.Name
		if !sameAddr && !sameName {
			continue
		}
		if om, ok := s.gossip.byID(id); ok && om.State == stateAlive && om.Name != m.Name {
			continue // that id is alive elsewhere: not stale
		}
		s.changeMembership("remove_replaced", member{Name: m.Name, Meta: nodeMeta{ID: id, Raft: string(srv.Address)}, State: stateFailed},
			s.raft.RemoveServer(srv.ID, 0, membershipTimeout), "replaced_by", m.Meta.ID)
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
		"raft_addr", m.Meta.Raft, "gossip_state", m.State, "index", fut.Index()}, fields...)...)
	return true
}

// Leave makes this server leave the cluster gracefully and stops it: a
// leader hands leadership over first; the server announces its departure in
// gossip and the leader removes it from the Raft configuration (a leader
// that could not hand over removes itself); then everything shuts down.
func (s *Store) Leave(ctx context.Context) error {
	if err := mayOperate(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
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
	// Serf's leave tells the others this is a departure, not a failure:
	// the leader removes this server from the configuration at once.
	if err := s.serf.Leave(); err != nil {
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
	if err := mayOperate(ctx); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	if err := s.leaderErr(); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, s.mapRaftErr(err))
	}
	if !hasServer(f.Configuration(), id) {
		return fmt.Errorf("remove peer %s: %w", id, store.ErrUnknownPeer)
	}
	if err := s.waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	s.metrics.membership.WithLabelValues("remove_operator").Inc()
	s.log.Info("membership changed", "action", "remove_operator", "id", id)
	return nil
}
