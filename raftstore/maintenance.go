package raftstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/registry"
)

// SetMaintenance puts the instance service/id in maintenance (enable, with
// reason; empty: registry.DefaultMaintenanceReason) or takes it out, on the
// leader, and returns the stored instance and the index the command was
// applied at. An empty service names the instance by id alone. Setting the
// value it already has stores nothing new. The leader writes the command
// only once every server applies it (registry.ErrMaintenanceUnsupported).
func (s *Store) SetMaintenance(ctx context.Context, service, id string, enable bool, reason string) (registry.Instance, uint64, error) {
	service = strings.ToLower(service)
	what := service + "/" + id
	if service == "" {
		what = id
	}
	if service != "" {
		if err := registry.ValidateServiceName(service); err != nil {
			return registry.Instance{}, 0, fmt.Errorf("maintenance %s: %w", what, err)
		}
	}
	if err := registry.ValidateID(id); err != nil {
		return registry.Instance{}, 0, fmt.Errorf("maintenance %s: %w", what, err)
	}
	if service == "" {
		// The permission is on the service that holds the id.
		if in, ok := s.catalog.Instance(id); ok {
			service = in.Service
		}
	}
	if err := mayWrite(ctx, service); err != nil {
		return registry.Instance{}, 0, fmt.Errorf("maintenance %s: %w", what, err)
	}
	inst, idx, err := s.applyMaintenance(ctx, registry.EncodeMaintenance(service, id, enable, reason, time.Now().UnixNano()))
	if err != nil {
		return registry.Instance{}, idx, fmt.Errorf("maintenance %s: %w", what, err)
	}
	return inst, idx, nil
}

// applyMaintenance replicates a maintenance command once every server can
// apply it and returns the instance as the command left it.
func (s *Store) applyMaintenance(ctx context.Context, data []byte) (registry.Instance, uint64, error) {
	if err := s.leaderErr(); err != nil {
		return registry.Instance{}, 0, err
	}
	if err := s.everyServer(func(m nodeMeta) bool { return m.Maint }, registry.ErrMaintenanceUnsupported); err != nil {
		return registry.Instance{}, 0, err
	}
	fut := s.raft.Apply(data, writeTimeout)
	if err := s.waitFuture(ctx, fut); err != nil {
		return registry.Instance{}, 0, err
	}
	res, ok := fut.Response().(*registry.Result)
	if !ok {
		return registry.Instance{}, fut.Index(), fmt.Errorf("apply answered %T", fut.Response())
	}
	inst, err := res.Instance, res.Err
	releaseResult(res)
	return inst, fut.Index(), err
}
