package raftstore

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

const (
	// expiryTick is how often the leader asks the lease table for due work.
	expiryTick = 100 * time.Millisecond
	// maxIDsPerEntry caps the ids in one expiry or reap entry (design.md,
	// "Mass-expiry protection").
	maxIDsPerEntry = 1000
	// writeTimeout bounds enqueueing an entry into Raft.
	writeTimeout = 5 * time.Second
)

// runLeadership follows Raft's leadership notifications and runs the
// leader's duties (barrier, re-arm, expiry, reconciliation) while this
// server leads.
func (s *Store) runLeadership(ctx context.Context) {
	var (
		stopLeading context.CancelFunc
		done        sync.WaitGroup
	)
	step := func(lead bool) {
		switch {
		case lead && stopLeading == nil:
			s.lessor.Elected() // heartbeats answer ErrNotArmed until the re-arm
			lctx, cancel := context.WithCancel(ctx)
			stopLeading = cancel
			done.Add(1)
			go func() {
				defer done.Done()
				s.lead(lctx)
			}()
		case !lead && stopLeading != nil:
			stopLeading()
			done.Wait()
			stopLeading = nil
		}
	}
	for {
		select {
		case lead := <-s.leaderNotify:
			step(lead)
		case <-ctx.Done():
			step(false)
			return
		}
	}
}

// lead runs while this server is the leader: a barrier so the catalog holds
// every committed entry, then the lease table is re-armed at now + TTL
// (design.md, "Leases at failover"), then expiry and membership
// reconciliation run until leadership ends.
func (s *Store) lead(ctx context.Context) {
	start := time.Now()
	s.leadSince.Store(start.UnixNano())
	term := s.raft.CurrentTerm()
	s.log.Info("gained leadership; running barrier before re-arming leases", "term", term)
	backoff := 10 * time.Millisecond
	for {
		err := s.raft.Barrier(writeTimeout).Error()
		if err == nil {
			break
		}
		if s.raft.State() != raft.Leader {
			s.log.Info("lost leadership during the barrier", "term", term, "err", err)
			return
		}
		s.log.Warn("leader barrier failed; retrying", "term", term, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	s.lessor.Promote()
	s.armed.Store(true)
	defer func() {
		s.armed.Store(false)
		s.lessor.Demote()
		s.log.Info("stopped leading; lease table disarmed", "term", term)
	}()
	ls := s.lessor.State()
	s.log.Info("leadership established; leases re-armed", "term", term, "leases", ls.Leases,
		"applied_index", s.applied.load(), "duration", time.Since(start))

	expiry := time.NewTicker(expiryTick)
	defer expiry.Stop()
	reconcile := time.NewTicker(s.cfg.ReconcileInterval)
	defer reconcile.Stop()
	s.reconcile()
	// Autopilot (server health, promotion, dead-server cleanup) runs
	// while this server leads; it stops with ctx.
	s.autopilot.Start(ctx)
	defer func() { <-s.autopilot.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			s.expire(ctx)
		case <-reconcile.C:
			s.reconcile()
		case <-s.gossip.changed:
			s.reconcile()
		case <-s.reconcileNow:
			s.reconcile()
		}
	}
}

// expire writes what the lease table says is due: expired leases become
// critical, instances past deregister_after are reaped. Leadership is
// confirmed first, so a leader that was paused (GC, SIGSTOP) and deposed
// meanwhile writes nothing (etcd #15247).
func (s *Store) expire(ctx context.Context) {
	expire, reap := s.lessor.Due()
	if len(expire) == 0 && len(reap) == 0 {
		return
	}
	if err := s.raft.VerifyLeader().Error(); err != nil {
		s.log.Warn("not writing due lease work: leadership not confirmed", "expire", len(expire), "reap", len(reap), "err", err)
		return
	}
	now := time.Now().UnixNano()
	for chunk := range chunks(expire, maxIDsPerEntry) {
		updates := make([]registry.StatusUpdate, len(chunk))
		for i, id := range chunk {
			updates[i] = registry.StatusUpdate{ID: id, Status: api.StatusCritical, KeepOutput: true}
		}
		idx, err := s.applyEntry(ctx, registry.EncodeStatus(updates, now))
		if err != nil {
			s.log.Warn("writing lease expiries failed", "count", len(chunk), "err", err)
			return
		}
		s.metrics.expired.Add(float64(len(chunk)))
		s.log.Info("leases expired: instances marked critical", "count", len(chunk), "index", idx, "first", chunk[0])
	}
	for chunk := range chunks(reap, maxIDsPerEntry) {
		idx, err := s.applyEntry(ctx, registry.EncodeReap(chunk, now))
		if err != nil {
			s.log.Warn("writing reaps failed", "count", len(chunk), "err", err)
			return
		}
		s.metrics.reaped.Add(float64(len(chunk)))
		s.log.Info("instances reaped after deregister_after", "count", len(chunk), "index", idx, "first", chunk[0])
	}
}

// chunks yields ids in slices of at most n.
func chunks(ids []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

// runLeaderObserver counts leader changes as this server sees them.
func (s *Store) runLeaderObserver(ctx context.Context) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(obs)
	defer s.raft.DeregisterObserver(obs)
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			s.metrics.leaderChanges.Inc()
			s.log.Info("leader changed", "leader_id", lo.LeaderID, "leader_addr", lo.LeaderAddr)
		}
	}
}
