package raftstore

import (
	"context"
	"fmt"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/registry"
)

// Access control in the store: whatever front end a write came through, the
// identity its context carries (package acl; nil when ACLs are off) must
// hold the permission here, so the checks live in one place.

// mayWrite checks service:write on service for the caller of ctx.
func mayWrite(ctx context.Context, service string) error {
	if id := acl.FromContext(ctx); !id.ServiceWrite(service) {
		return acl.Denied("service:write:" + service)
	}
	return nil
}

// mayOperate checks operator:write for the caller of ctx.
func mayOperate(ctx context.Context) error {
	if id := acl.FromContext(ctx); !id.Operator(true) {
		return acl.Denied("operator:write")
	}
	return nil
}

// aclSupported checks that every server of the Raft configuration gossips
// that its build applies the ACL commands: the leader writes them only
// then (design.md, "Upgrades").
func (s *Store) aclSupported() error {
	return s.everyServer(func(m nodeMeta) bool { return m.ACL }, registry.ErrACLUnsupported)
}

// everyServer checks that every server of the Raft configuration gossips a
// build that has (supports) a command type; the error of the first that
// does not (or is not known through gossip) wraps unsupported.
func (s *Store) everyServer(supports func(nodeMeta) bool, unsupported error) error {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		m, ok := s.gossip.byID(string(srv.ID))
		if !ok || !supports(m.Meta) {
			name, version := string(srv.ID), "unknown"
			if ok {
				name, version = m.Name, m.Meta.Version
			}
			return fmt.Errorf("server %s (version %s): %w", name, version, unsupported)
		}
	}
	return nil
}

// aclWrite replicates an ACL command once every server can apply it.
func (s *Store) aclWrite(ctx context.Context, data []byte) (uint64, error) {
	if err := s.leaderErr(); err != nil {
		return 0, err
	}
	if err := s.aclSupported(); err != nil {
		return 0, err
	}
	return s.applyEntry(ctx, data)
}

// ACLBootstrap stores the management token once (resetIndex: see
// registry.EncodeACLBootstrap) and returns the index it was applied at.
func (s *Store) ACLBootstrap(ctx context.Context, t registry.Token, resetIndex uint64) (uint64, error) {
	idx, err := s.aclWrite(ctx, registry.EncodeACLBootstrap(t, resetIndex))
	if err != nil {
		return 0, fmt.Errorf("acl bootstrap: %w", err)
	}
	return idx, nil
}

// ACLSetToken stores a token (operator:write).
func (s *Store) ACLSetToken(ctx context.Context, t registry.Token) (uint64, error) {
	if err := mayOperate(ctx); err != nil {
		return 0, err
	}
	idx, err := s.aclWrite(ctx, registry.EncodeACLSet(t))
	if err != nil {
		return 0, fmt.Errorf("acl token %s: %w", t.Accessor, err)
	}
	return idx, nil
}

// ACLDeleteToken deletes the token with accessor (operator:write).
func (s *Store) ACLDeleteToken(ctx context.Context, accessor string) (uint64, error) {
	if err := mayOperate(ctx); err != nil {
		return 0, err
	}
	idx, err := s.aclWrite(ctx, registry.EncodeACLDelete(accessor))
	if err != nil {
		return 0, fmt.Errorf("delete acl token %s: %w", accessor, err)
	}
	return idx, nil
}
