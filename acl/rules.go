// Package acl decides what a caller may do: it parses token rules, resolves
// a request's token to an Identity carried in the request context, and
// holds the permission every HTTP route needs, for every front end.
package acl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Rule is one parsed rule: service:read:<pattern>, service:write:<pattern>,
// operator:read or operator:write. A pattern is a service name, or a prefix
// ending in "*" ("*" alone: every service). Write implies read.
type Rule struct {
	Operator bool
	Write    bool
	Pattern  string // services only
}

// ParseRule parses one rule.
func ParseRule(s string) (Rule, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 2 && parts[0] == "operator" && (parts[1] == "read" || parts[1] == "write"):
		return Rule{Operator: true, Write: parts[1] == "write"}, nil
	case len(parts) == 3 && parts[0] == "service" && (parts[1] == "read" || parts[1] == "write"):
		p := strings.ToLower(parts[2])
		name := strings.TrimSuffix(p, "*")
		if p == "" || strings.Contains(name, "*") || !validPattern(name) {
			return Rule{}, fmt.Errorf("rule %q: the service must be a name or a prefix ending in *", s)
		}
		return Rule{Write: parts[1] == "write", Pattern: p}, nil
	}
	return Rule{}, fmt.Errorf("rule %q: want service:read:<name>, service:write:<name>, operator:read or operator:write (a name may end in *)", s)
}

func validPattern(name string) bool {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return len(name) <= 63
}

// ParseRules parses every rule; the error names the first bad one.
func ParseRules(rules []string) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (r Rule) matches(service string) bool {
	if r.Operator {
		return false
	}
	if p, ok := strings.CutSuffix(r.Pattern, "*"); ok {
		return strings.HasPrefix(service, p)
	}
	return service == r.Pattern
}

// Rules of the built-in identities.
var (
	// BootstrapRules are the management token's (design.md).
	BootstrapRules = []string{"operator:write", "service:write:*"}
	// readRules are anonymous access under --acl-default read.
	readRules = []Rule{{Operator: true}, {Pattern: "*"}}
)

// Anonymous is the accessor id logged for requests without a token.
const Anonymous = "anonymous"

// Identity is who is asking, as the request context carries it to the
// store. A nil *Identity (ACLs disabled) may do everything.
type Identity struct {
	// Accessor is the token's public id (Anonymous without a token); it is
	// what the audit log shows, never the secret.
	Accessor string
	rules    []Rule
}

// NewIdentity is the identity of a token with the given parsed rules.
func NewIdentity(accessor string, rules []Rule) *Identity {
	return &Identity{Accessor: accessor, rules: rules}
}

// ServiceRead reports whether the identity may read service.
func (id *Identity) ServiceRead(service string) bool {
	if id == nil {
		return true
	}
	service = strings.ToLower(service)
	for _, r := range id.rules {
		if r.matches(service) {
			return true
		}
	}
	return false
}

// ServiceWrite reports whether the identity may register, heartbeat or
// deregister instances of service.
func (id *Identity) ServiceWrite(service string) bool {
	if id == nil {
		return true
	}
	service = strings.ToLower(service)
	for _, r := range id.rules {
		if r.Write && r.matches(service) {
			return true
		}
	}
	return false
}

// Operator reports whether the identity holds operator:read (write false)
// or operator:write (write true).
func (id *Identity) Operator(write bool) bool {
	if id == nil {
		return true
	}
	for _, r := range id.rules {
		if r.Operator && (r.Write || !write) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity ctx carries; nil (allowed everything)
// when ACLs are disabled.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}

// DeniedError is a refused request; it names the permission missing and
// nothing the token could otherwise see.
type DeniedError struct {
	Permission string
}

func (e *DeniedError) Error() string { return "permission denied: needs " + e.Permission }

// Is makes errors.Is(err, ErrDenied) match every DeniedError.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// ErrDenied is matched by every refusal.
var ErrDenied = errors.New("permission denied")

// Denied builds the refusal for a missing permission ("service:write:web").
func Denied(permission string) error { return &DeniedError{Permission: permission} }

// HashSecret is what the registry stores of a secret: its hex SHA-256.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
