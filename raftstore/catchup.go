package raftstore

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// Promotion of a non-voter (design.md, "Cluster"; issue 6): hashicorp/raft
// does not tell the leader how far a follower has got, so every server
// publishes its applied index in its gossip meta and the leader promotes a
// non-voter once that index is within catchUpMaxLag of the leader's commit
// index, the same bound as readiness.
const (
	// appliedPublishInterval is how often a server publishes its applied
	// index in gossip (only when it moved).
	appliedPublishInterval = 500 * time.Millisecond
	// appliedFreshness is how long a published applied index counts as
	// current when judged against the commit index the leader had when it
	// arrived; older ones are judged against the commit index now.
	appliedFreshness = 4 * appliedPublishInterval
	// catchUpMaxLag is how far behind the leader's commit index a non-voter
	// may be and still be promoted.
	catchUpMaxLag = readyMaxLag
)

// runPublishApplied publishes this server's applied index in its gossip
// meta whenever it moved, so that the leader can see a non-voter catch up.
// The leader and a lone server publish nothing: no one reads it.
func (s *Store) runPublishApplied(ctx context.Context) {
	tick := time.NewTicker(appliedPublishInterval)
	defer tick.Stop()
	var published uint64
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		applied := s.applied.load()
		if applied == published || s.IsLeader() || s.ml.NumMembers() < 2 {
			continue
		}
		s.gossip.setApplied(applied)
		if err := s.ml.UpdateNode(s.cfg.scaled(time.Second)); err != nil {
			// Retried at the next tick; say so once per run of failures.
			if !failing {
				s.log.Warn("publishing the applied index in gossip failed; retrying", "applied_index", applied, "err", err)
			}
			failing = true
			continue
		}
		failing = false
		published = applied
	}
}

// nonvoter is the leader's record of a server waiting for promotion.
type nonvoter struct {
	// since is when this leader first saw it alive as a non-voter.
	since time.Time
	// stuck: it did not catch up within catchUpWait and was logged and
	// counted (once).
	stuck bool
}

// catchUpLag judges whether non-voter m has caught up with commit, the
// leader's commit index: it has when the applied index it published is
// within catchUpMaxLag of the commit index now (applied indexes only grow,
// so a stale one can only understate progress), or, while writes flow and
// the published index lags the moving commit index by the gossip delay,
// when it was within catchUpMaxLag of this leader's commit index at the
// moment it arrived, recently and while this server led (a follower's
// commit index trails the leader's).
func (s *Store) catchUpLag(m member, commit uint64, now time.Time) (lag uint64, caughtUp bool) {
	applied := m.Meta.Applied
	lag = behind(commit, applied)
	if lag <= catchUpMaxLag {
		return lag, true
	}
	if at := behind(m.AppliedCommit, applied); m.AppliedAt.After(s.leadSince) &&
		now.Sub(m.AppliedAt) <= appliedFreshness && at <= catchUpMaxLag {
		return at, true
	}
	return lag, false
}

func behind(commit, applied uint64) uint64 {
	if applied >= commit {
		return 0
	}
	return commit - applied
}

// considerPromotion promotes non-voter m once it has been one, alive, for
// the stabilization time (a flapping server does not churn the
// configuration) and has caught up. One that has not caught up after
// catchUpWait (a full disk, a broken FSM) stays a non-voter, and is logged
// and counted once.
func (s *Store) considerPromotion(m member, commit uint64, now time.Time) {
	id := m.Meta.ID
	nv, ok := s.nonvoters[id]
	if !ok {
		nv = &nonvoter{since: now}
		s.nonvoters[id] = nv
		s.log.Info("non-voter waiting to catch up before promotion", "member", m.Name, "id", id,
			"applied_index", m.Meta.Applied, "commit_index", commit)
		return
	}
	waited := now.Sub(nv.since)
	lag, caughtUp := s.catchUpLag(m, commit, now)
	if caughtUp && waited >= s.cfg.serverStabilization {
		fut := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(m.Meta.Raft), 0, membershipTimeout)
		if s.changeMembership("promote_voter", m, fut, "applied_index", m.Meta.Applied, "commit_index", commit,
			"lag", lag, "waited", waited.Round(time.Millisecond)) {
			delete(s.nonvoters, id)
		}
		return
	}
	if !nv.stuck && waited >= s.cfg.catchUpWait {
		nv.stuck = true
		s.metrics.catchUpTimeouts.Inc()
		s.log.Info("non-voter has not caught up; keeping it a non-voter", "member", m.Name, "id", id,
			"applied_index", m.Meta.Applied, "commit_index", commit, "lag", lag, "max_lag", catchUpMaxLag,
			"waited", waited.Round(time.Millisecond), "published_ago", now.Sub(m.AppliedAt).Round(time.Millisecond))
	}
}

// pruneNonvoters forgets the servers that are no longer alive non-voters
// (promoted, removed, failed: one that comes back starts its wait again)
// and sets the gauge of those stuck.
func (s *Store) pruneNonvoters(alive map[string]bool) {
	stuck := 0
	for id, nv := range s.nonvoters {
		if !alive[id] {
			delete(s.nonvoters, id)
			continue
		}
		if nv.stuck {
			stuck++
		}
	}
	s.metrics.nonvotersBehind.Set(float64(stuck))
}
