package raftstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/store"
)

// Readiness thresholds (design.md, "Readiness").
const (
	readyMaxLastContact = 2 * time.Second
	readyMaxLag         = 250
)

// Leader describes the known leader, with its HTTP address from gossip.
func (s *Store) Leader() api.Leader {
	addr, id := s.raft.LeaderWithID()
	l := api.Leader{ID: string(id), RaftAddr: string(addr), Known: id != ""}
	if l.Known {
		l.HTTPAddr = s.httpAddrOf(l.ID)
	}
	l.LastContact = s.lastContactString()
	return l
}

// httpAddrOf finds a server's HTTP address: from gossip, else from the
// table of known servers, so that a server still rejoining gossip (just
// restarted) forwards to the leader it already knows from Raft.
func (s *Store) httpAddrOf(id string) string {
	if id == s.id {
		return s.cfg.HTTPAddr
	}
	if addr := s.gossip.httpAddr(id); addr != "" {
		return addr
	}
	if k, ok := s.known.get(id); ok {
		return k.HTTP
	}
	return ""
}

// ReadStatus reports whether a leader is known and the milliseconds since
// the last contact with it (0 on the leader, -1 if never): the cheap
// per-read view behind the X-Roster-Known-Leader and X-Roster-Last-Contact
// headers.
func (s *Store) ReadStatus() (knownLeader bool, lastContactMs int64) {
	_, id := s.raft.LeaderWithID()
	if s.raft.State() == raft.Leader {
		return id != "", 0
	}
	lc := s.raft.LastContact()
	if lc.IsZero() {
		return id != "", -1
	}
	return id != "", time.Since(lc).Milliseconds()
}

func (s *Store) lastContactString() string {
	if s.raft.State() != raft.Leader && s.raft.LastContact().IsZero() {
		return "never"
	}
	return s.lastContact().Round(time.Millisecond).String()
}

// Members lists the gossip members (alive, suspect, dead or left) with their
// Raft roles, sorted by name.
func (s *Store) Members() []api.Member {
	roles := map[string]string{}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				roles[string(srv.ID)] = "follower"
			} else {
				roles[string(srv.ID)] = "nonvoter"
			}
		}
	}
	if _, id := s.raft.LeaderWithID(); id != "" {
		roles[string(id)] = "leader"
	}
	ms := s.gossip.snapshot()
	out := make([]api.Member, 0, len(ms))
	for _, m := range ms {
		role := roles[m.Meta.ID]
		if role == "" {
			role = "none"
		}
		out = append(out, api.Member{
			Name: m.Name, ID: m.Meta.ID, GossipAddr: m.Addr, HTTPAddr: m.Meta.HTTP, DNSAddr: m.Meta.DNS,
			RaftAddr: m.Meta.Raft, State: m.State, RaftRole: role, Version: m.Meta.Version,
		})
	}
	return out
}

// Raft describes the Raft configuration and this server's progress.
func (s *Store) Raft() api.RaftInfo {
	_, leaderID := s.raft.LeaderWithID()
	info := api.RaftInfo{
		Index:        s.raft.LastIndex(),
		State:        strings.ToLower(s.raft.State().String()),
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.applied.load(),
		LastContact:  s.lastContactString(),
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			info.Servers = append(info.Servers, api.RaftServer{
				ID: string(srv.ID), Address: string(srv.Address),
				Suffrage: strings.ToLower(srv.Suffrage.String()), Leader: srv.ID == leaderID,
			})
		}
	}
	return info
}

// Leases reports the lease table as the leader holds it; on a follower
// Leader is false and the counts are zero (api.LeaseState).
func (s *Store) Leases() api.LeaseState {
	if !s.IsLeader() {
		return api.LeaseState{}
	}
	st := s.lessor.State()
	st.Leader = true
	return st
}

// errNotReady wraps why this server cannot serve.
var errNotReady = errors.New("not ready")

// Ready returns nil when this server can serve what a load balancer sends
// it (design.md, "Readiness"): a leader is known with an HTTP address to
// forward to, the leader was heard from within 2s (always on the leader),
// this server is in the Raft configuration, the catalog is within 250
// entries of the leader's commit index, and applying has not stopped at an
// unknown command version. The error names the condition that fails.
func (s *Store) Ready() error {
	if s.closing.Load() {
		return fmt.Errorf("%w: shutting down", errNotReady)
	}
	if err := s.fsm.haltErr(); err != nil {
		return fmt.Errorf("%w: %w", errNotReady, err)
	}
	_, leaderID := s.raft.LeaderWithID()
	if leaderID == "" {
		return fmt.Errorf("%w: %w", errNotReady, store.ErrNoLeader)
	}
	if s.httpAddrOf(string(leaderID)) == "" {
		return fmt.Errorf("%w: the leader %s is known, but not its HTTP address (gossip has not reached it yet)", errNotReady, leaderID)
	}
	if f := s.raft.GetConfiguration(); f.Error() != nil {
		return fmt.Errorf("%w: reading the raft configuration: %w", errNotReady, f.Error())
	} else if !hasServer(f.Configuration(), s.id) {
		return fmt.Errorf("%w: this server (%s) is not in the raft configuration; the leader adds it once gossip shows it alive", errNotReady, s.id)
	}
	commit, applied := s.raft.CommitIndex(), s.applied.load()
	if s.raft.State() != raft.Leader {
		lc := s.raft.LastContact()
		if lc.IsZero() || time.Since(lc) > readyMaxLastContact {
			return fmt.Errorf("%w: last contact with the leader %s ago", errNotReady, s.lastContactString())
		}
		// Raft's own commit index on a follower is capped by what it has
		// appended, and is 0 after a restart until the leader's first
		// AppendEntries (heartbeats carry none): measure the lag against
		// the leader's commit index as last sent, and the local log's end
		// (a restarted server replays its own log first).
		leader := s.rpcs.leaderCommit()
		if leader == 0 {
			return fmt.Errorf("%w: no commit index from the leader yet", errNotReady)
		}
		commit = max(commit, leader, s.raft.LastIndex())
	}
	if commit > applied+readyMaxLag {
		if target, known := s.commandTarget(commit); !known || target > applied+readyMaxLag {
			return fmt.Errorf("%w: applied index %d is %d behind the commit index %d", errNotReady, applied, commit-applied, commit)
		}
	}
	return nil
}
