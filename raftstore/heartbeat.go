package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// Heartbeat renews leases on the leader. The lease table decides
// (lease.Lessor.Heartbeats: the heartbeat rule); the store confirms it
// leads, refuses per heartbeat what the caller's ACL does not allow, and
// writes the status updates decided as one Raft entry. errs has one entry
// per heartbeat: nil, registry.ErrNotFound (the client registers again),
// registry.ErrGone (deregistered within the tombstone period: the client
// stops) or an ACL refusal.
func (s *Store) Heartbeat(ctx context.Context, hbs []api.BatchHeartbeat) ([]error, uint64, error) {
	if err := s.leaderErr(); err != nil {
		return nil, 0, err
	}
	res, err := s.lessor.Heartbeats(s.catalog, hbs, func(service string) error { return mayWrite(ctx, service) })
	if errors.Is(err, store.ErrNotLeader) && s.leaderErr() == nil {
		// Raft made this server leader and the table has not been told yet:
		// it is not armed.
		err = store.ErrNotArmed
	}
	if err != nil {
		return nil, 0, err
	}
	if len(res.Updates) == 0 {
		return res.Errs, s.applied.load(), nil
	}
	idx, err := s.applyEntry(ctx, registry.EncodeStatus(res.Updates, time.Now().UnixNano()))
	if err != nil {
		return nil, 0, fmt.Errorf("heartbeat status write of %d instances: %w", len(res.Updates), err)
	}
	s.metrics.statusWrites.Add(float64(len(res.Updates)))
	return res.Errs, idx, nil
}
