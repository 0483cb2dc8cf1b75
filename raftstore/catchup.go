package raftstore

import (
	"context"
	"time"
)

// How far a server has got (design.md, "Cluster"): hashicorp/raft does not
// tell the leader how much of the log a follower has applied, so every
// server publishes its applied index in its gossip tags, and the leader's
// autopilot counts a server healthy (so a non-voter promotable) only once
// that index is within catchUpMaxLag of the leader's, the same bound as
// readiness.
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
		if applied == published || s.IsLeader() || s.closing.Load() || s.gossip.aliveOthers() < 1 {
			continue
		}
		s.gossip.setApplied(applied)
		if err := s.gossip.publish(); err != nil {
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

func behind(commit, applied uint64) uint64 {
	if applied >= commit {
		return 0
	}
	return commit - applied
}

// catchUpLag judges whether member m has caught up with commit, the
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
	if at := behind(m.AppliedCommit, applied); m.AppliedAt.After(s.leaderSince()) &&
		now.Sub(m.AppliedAt) <= appliedFreshness && at <= catchUpMaxLag {
		return at, true
	}
	return lag, false
}
