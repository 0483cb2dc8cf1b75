package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func token(accessor string, rules ...string) Token {
	return Token{Accessor: accessor, SecretHash: "hash-of-" + accessor, Description: "for " + accessor, Rules: rules}
}

func TestACLBootstrapHappensOnceUnlessReset(t *testing.T) {
	a := newApplier(t)
	a.mustOK(EncodeACLBootstrap(token("boot", "operator:write", "service:write:*"), 0))
	first := a.idx
	wantErr(t, a.apply(EncodeACLBootstrap(token("again"), 0)).Err, ErrACLBootstrapped)
	wantErr(t, a.apply(EncodeACLBootstrap(token("again"), first+1)).Err, ErrACLBootstrapped)
	if _, ok := a.c.TokenBySecretHash("hash-of-again"); ok {
		t.Fatal("a refused bootstrap stored its token")
	}
	// The reset file names the index of the last bootstrap: one more is allowed.
	a.mustOK(EncodeACLBootstrap(token("reset"), first))
	if a.c.ACLBootstrapIndex() != a.idx {
		t.Fatalf("bootstrap index %d, want %d", a.c.ACLBootstrapIndex(), a.idx)
	}
	wantErr(t, a.apply(EncodeACLBootstrap(token("third"), first)).Err, ErrACLBootstrapped)
}

func TestACLTokensAreSetFoundAndDeleted(t *testing.T) {
	a := newApplier(t)
	a.mustOK(EncodeACLSet(token("t1", "service:write:web")))
	created := a.idx
	got, ok := a.c.TokenBySecretHash("hash-of-t1")
	if !ok || got.Accessor != "t1" || !slices.Equal(got.Rules, []string{"service:write:web"}) || got.CreateIndex != created {
		t.Fatalf("token %+v %v", got, ok)
	}
	a.mustOK(EncodeACLSet(token("t0")))
	if ts := a.c.Tokens(); len(ts) != 2 || ts[0].Accessor != "t0" {
		t.Fatalf("tokens %+v", ts)
	}
	a.mustOK(EncodeACLDelete("t1"))
	if _, ok := a.c.TokenBySecretHash("hash-of-t1"); ok {
		t.Fatal("a deleted token still resolves")
	}
	wantErr(t, a.apply(EncodeACLDelete("t1")).Err, ErrTokenNotFound)
}

func aclGoldenCatalog(t *testing.T) *Catalog {
	c := goldenCatalog(t)
	a := &applier{t: t, c: c, idx: c.Index()}
	a.mustOK(EncodeACLBootstrap(token("0b00", "operator:write", "service:write:*"), 0))
	a.mustOK(EncodeACLSet(token("1a2b", "service:write:web", "service:read:*")))
	return c
}

// TestGoldenSnapshotV2: the version 2 file (catalog and tokens) restores,
// and this build writes exactly its bytes while the format is version 2.
func TestGoldenSnapshotV2(t *testing.T) {
	path := filepath.Join("testdata", "snapshot-v2.bin")
	if *update && SnapshotVersion == 2 {
		if err := os.WriteFile(path, snapshotBytes(t, aclGoldenCatalog(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenSnapshotV2 -update to create it)", err)
	}
	c := New()
	if err := c.Restore(bytes.NewReader(data), 0); err != nil {
		t.Fatalf("a version 2 snapshot no longer restores: %v", err)
	}
	if len(c.Service("web").Instances()) != 2 || c.ACLBootstrapIndex() != 7 {
		t.Fatalf("web %d instances, bootstrap index %d", len(c.Service("web").Instances()), c.ACLBootstrapIndex())
	}
	tok, ok := c.TokenBySecretHash("hash-of-1a2b")
	if !ok || tok.Description != "for 1a2b" || !slices.Equal(tok.Rules, []string{"service:write:web", "service:read:*"}) || tok.CreateIndex != 8 {
		t.Fatalf("token %+v %v", tok, ok)
	}
	// Without an instance in maintenance this build still writes version 2,
	// byte for byte, so servers of the previous build read its snapshots.
	if !bytes.Equal(snapshotBytes(t, aclGoldenCatalog(t)), data) {
		t.Fatal("a catalog without maintenance is no longer written as these version 2 bytes")
	}
}

// TestVersion1SnapshotKeepsTheTokens: restoring a backup from before ACLs
// neither drops the tokens nor re-opens the bootstrap.
func TestVersion1SnapshotKeepsTheTokens(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(t)
	a.mustOK(EncodeACLBootstrap(token("boot", "operator:write"), 0))
	if err := a.c.Restore(bytes.NewReader(data), 10); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.c.TokenBySecretHash("hash-of-boot"); !ok || a.c.ACLBootstrapIndex() != 1 {
		t.Fatal("a version 1 restore dropped the tokens")
	}
	if len(a.c.Service("web").Instances()) != 2 {
		t.Fatal("the version 1 catalog was not restored")
	}
}
