package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ACL tokens are replicated with the catalog: the same log, the same
// snapshots. The registry stores them and knows nothing of what their rules
// mean (package acl does); only the SHA-256 of each secret ever reaches the
// log, so a copy of the data dir or of a backup holds no usable secret.

// The ACL command types (version 1 of the command encoding). Never renumber.
const (
	cmdACLSet       byte = 6
	cmdACLDelete    byte = 7
	cmdACLBootstrap byte = 8
)

// ErrACLBootstrapped answers a second bootstrap (409): the management token
// exists; an operator reset file allows one more (docs/security.md).
var ErrACLBootstrapped = errors.New("acl: already bootstrapped")

// ErrACLUnsupported answers an ACL write while a server of the Raft
// configuration runs a build without the ACL commands (it would stop
// applying at the first one: design.md, "Upgrades"); 409.
var ErrACLUnsupported = errors.New("acl: not every server supports ACL commands yet (upgrade every server first)")

// ErrTokenNotFound answers a delete of an unknown accessor (404).
var ErrTokenNotFound = errors.New("acl: no token with that accessor")

// Token is a stored ACL token: its public accessor id, the hex SHA-256 of its
// secret, and its rules (package acl's syntax, stored as given).
type Token struct {
	Accessor    string
	SecretHash  string
	Description string
	Rules       []string
	CreateIndex uint64
}

// aclState is the token table. Guarded by Catalog.mu.
type aclState struct {
	tokens    map[string]Token  // accessor -> token
	bySecret  map[string]string // secret hash -> accessor
	bootIndex uint64            // index of the bootstrap, 0 before
}

func newACLState() aclState {
	return aclState{tokens: map[string]Token{}, bySecret: map[string]string{}}
}

// EncodeACLSet encodes the creation (or replacement) of a token.
func EncodeACLSet(t Token) []byte {
	b := []byte{CommandVersion, cmdACLSet}
	return appendToken(b, &t)
}

// EncodeACLDelete encodes the deletion of the token with accessor.
func EncodeACLDelete(accessor string) []byte {
	return appendString([]byte{CommandVersion, cmdACLDelete}, accessor)
}

// EncodeACLBootstrap encodes the bootstrap of the management token. It is
// applied only if no bootstrap happened yet, or if resetIndex equals the
// index of the last bootstrap (the operator's reset file).
func EncodeACLBootstrap(t Token, resetIndex uint64) []byte {
	b := binary.AppendUvarint([]byte{CommandVersion, cmdACLBootstrap}, resetIndex)
	return appendToken(b, &t)
}

func appendToken(b []byte, t *Token) []byte {
	b = appendString(b, t.Accessor)
	b = appendString(b, t.SecretHash)
	b = appendString(b, t.Description)
	return appendStrings(b, t.Rules)
}

func (d *decoder) token(t *Token) {
	t.Accessor = d.str()
	t.SecretHash = d.str()
	t.Description = d.str()
	t.Rules = d.strs()
}

func (c *Catalog) applyACL(index uint64, cmd *command, res *Result) {
	switch cmd.typ {
	case cmdACLBootstrap:
		if c.acl.bootIndex != 0 && cmd.resetIndex != c.acl.bootIndex {
			res.Err = fmt.Errorf("acl bootstrap (done at index %d): %w", c.acl.bootIndex, ErrACLBootstrapped)
			return
		}
		c.acl.bootIndex = index
		c.setToken(index, cmd.token)
	case cmdACLSet:
		c.setToken(index, cmd.token)
	case cmdACLDelete:
		t, ok := c.acl.tokens[cmd.id]
		if !ok {
			res.Err = fmt.Errorf("delete token %s: %w", cmd.id, ErrTokenNotFound)
			return
		}
		delete(c.acl.tokens, t.Accessor)
		delete(c.acl.bySecret, t.SecretHash)
	}
}

func (c *Catalog) setToken(index uint64, t Token) {
	if old, ok := c.acl.tokens[t.Accessor]; ok {
		delete(c.acl.bySecret, old.SecretHash)
		t.CreateIndex = old.CreateIndex
	} else {
		t.CreateIndex = index
	}
	c.acl.tokens[t.Accessor] = t
	c.acl.bySecret[t.SecretHash] = t.Accessor
}

// TokenBySecretHash returns the token whose secret hashes to hash.
func (c *Catalog) TokenBySecretHash(hash string) (Token, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.acl.bySecret[hash]
	if !ok {
		return Token{}, false
	}
	return c.acl.tokens[a], true
}

// Tokens lists every token in accessor order.
func (c *Catalog) Tokens() []Token {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Token, 0, len(c.acl.tokens))
	for _, t := range c.acl.tokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Token) int { return cmpString(a.Accessor, b.Accessor) })
	return out
}

// ACLBootstrapIndex is the index of the ACL bootstrap, 0 before it.
func (c *Catalog) ACLBootstrapIndex() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.acl.bootIndex
}
