package raftstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// tombstonePeriod is how long a deregistered id answers "gone" to
// heartbeats (design.md, "Writes").
const tombstonePeriod = 10 * time.Minute

// Heartbeat renews leases on the leader. A renewal that changes nothing
// writes nothing to Raft; the status changes of one call go to Raft as one
// entry. errs has one entry per heartbeat: nil, registry.ErrNotFound (the
// client registers again) or registry.ErrGone (deregistered within the
// tombstone period: the client stops). A batch that names one instance
// more than once is applied as if in order: the last renewal wins, and
// every mention answers as the last one does.
func (s *Store) Heartbeat(ctx context.Context, hbs []api.BatchHeartbeat) ([]error, uint64, error) {
	if err := s.leaderErr(); err != nil {
		return nil, 0, err
	}
	if !s.armed.Load() {
		return nil, 0, registry.ErrNotArmed
	}
	errs := make([]error, len(hbs))
	var updates []registry.StatusUpdate
	tombstoneSince := time.Now().Add(-tombstonePeriod).UnixNano()
	last := lastMentions(hbs)
	for i, hb := range hbs {
		if last != nil && last[i] != i {
			continue
		}
		status := hb.Status
		if status == "" {
			status = api.StatusPassing
		}
		if !status.Valid() {
			return nil, 0, fmt.Errorf("heartbeat %s/%s: %w", hb.Service, hb.ID,
				&registry.ValidationError{Field: "status", Reason: fmt.Sprintf("%q is not passing, warning or critical", hb.Status)})
		}
		if err := mayWrite(ctx, strings.ToLower(hb.Service)); err != nil {
			errs[i] = err // refused alone: the rest of the batch goes on
			continue
		}
		inst, ok := s.catalog.Instance(hb.ID)
		if !ok || inst.Service != strings.ToLower(hb.Service) {
			errs[i] = s.missing(hb.ID, tombstoneSince)
			continue
		}
		write, err := s.lessor.Renew(hb.ID, status, hb.Output)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			errs[i] = s.missing(hb.ID, tombstoneSince)
			continue
		case errors.Is(err, registry.ErrNotArmed), errors.Is(err, registry.ErrNotLeader):
			return nil, 0, err
		case err != nil:
			return nil, 0, fmt.Errorf("heartbeat %s/%s: %w", hb.Service, hb.ID, err)
		}
		if write {
			updates = append(updates, registry.StatusUpdate{ID: hb.ID, Status: status, Output: hb.Output})
		}
	}
	for i := range last {
		errs[i] = errs[last[i]]
	}
	if len(updates) == 0 {
		return errs, s.applied.load(), nil
	}
	idx, err := s.applyEntry(ctx, registry.EncodeStatus(updates, time.Now().UnixNano()))
	if err != nil {
		return nil, 0, fmt.Errorf("heartbeat status write of %d instances: %w", len(updates), err)
	}
	s.metrics.statusWrites.Add(float64(len(updates)))
	return errs, idx, nil
}

func (s *Store) missing(id string, tombstoneSince int64) error {
	if s.catalog.Tombstoned(id, tombstoneSince) {
		return registry.ErrGone
	}
	return registry.ErrNotFound
}

// lastMentions maps each heartbeat of a batch to the position of the last
// one naming the same instance, or is nil when no instance is named twice.
func lastMentions(hbs []api.BatchHeartbeat) []int {
	if len(hbs) < 2 {
		return nil
	}
	type key struct{ service, id string }
	at := make(map[key]int, len(hbs))
	for i, hb := range hbs {
		at[key{strings.ToLower(hb.Service), hb.ID}] = i
	}
	if len(at) == len(hbs) {
		return nil
	}
	last := make([]int, len(hbs))
	for i, hb := range hbs {
		last[i] = at[key{strings.ToLower(hb.Service), hb.ID}]
	}
	return last
}
