package raftstore

import (
	"errors"
	"testing"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/registry"
)

// TestACLWritesWaitForEveryServerToSupportThem: while one server of the
// Raft configuration gossips a build without the ACL commands, the leader
// refuses to write them (that server would stop applying), and nothing is
// stored.
func TestACLWritesWaitForEveryServerToSupportThem(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.withoutACL = cfg.NodeName == "s3" })
	leader := c.waitForLeader()
	tok := registry.Token{Accessor: "a1", SecretHash: acl.HashSecret("s"), Rules: acl.BootstrapRules}
	if _, err := leader.ACLBootstrap(ctxT(t), tok, 0); !errors.Is(err, registry.ErrACLUnsupported) {
		t.Fatalf("bootstrap with an old server: %v, want ErrACLUnsupported", err)
	}
	if _, err := leader.ACLSetToken(ctxT(t), tok); !errors.Is(err, registry.ErrACLUnsupported) {
		t.Fatalf("token with an old server: %v, want ErrACLUnsupported", err)
	}
	if len(leader.Catalog().Tokens()) != 0 {
		t.Fatal("a token was stored")
	}
}

// TestStoreChecksWritePermissions: whatever the front end, the store
// refuses a write the caller's identity does not allow.
func TestStoreChecksWritePermissions(t *testing.T) {
	c := startCluster(t, 1)
	leader := c.waitForLeader()
	rules, _ := acl.ParseRules([]string{"service:write:web"})
	ctx := acl.WithIdentity(ctxT(t), acl.NewIdentity("web-team", rules))
	if _, _, err := leader.Register(ctx, testInstance("web", "web-1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leader.Register(ctx, testInstance("orders", "orders-1")); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("register orders: %v, want denied", err)
	}
	if _, _, err := leader.Register(ctxT(t), testInstance("orders", "orders-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Deregister(ctx, "orders", "orders-1"); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("deregister orders: %v, want denied", err)
	}
	if err := leader.RemovePeer(ctx, "x"); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("remove peer: %v, want denied", err)
	}
	if _, err := leader.ACLSetToken(ctx, registry.Token{Accessor: "x"}); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("token: %v, want denied", err)
	}
	if _, ok := leader.Catalog().Instance("orders-1"); !ok {
		t.Fatal("orders-1 was removed")
	}
}
