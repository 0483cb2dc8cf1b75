package acl

import (
	"fmt"
	"net/http"
	"strings"
)

// Default says what a request without a token may do.
type Default string

// The --acl-default values.
const (
	// DefaultRead lets anonymous callers read every service and the
	// cluster state (operator:read), and write nothing.
	DefaultRead Default = "read"
	// DefaultDeny lets anonymous callers do nothing but bootstrap.
	DefaultDeny Default = "deny"
)

// ParseDefault checks an --acl-default value.
func ParseDefault(s string) (Default, error) {
	switch Default(s) {
	case DefaultRead, DefaultDeny:
		return Default(s), nil
	}
	return "", fmt.Errorf("--acl-default %q: want read or deny", s)
}

// Lookup finds a stored token by the hash of its secret.
type Lookup func(secretHash string) (accessor string, rules []string, ok bool)

// Resolver turns a request's token into an Identity. A nil *Resolver means
// ACLs are disabled.
type Resolver struct {
	Default Default
	Lookup  Lookup
}

// ErrTokenNotFound: the request carries a secret no token has (403, never
// anonymous access: a mistyped token must not silently lose its rights).
var ErrTokenNotFound = &DeniedError{Permission: "a valid token (this one is unknown)"}

// Resolve returns the identity of secret ("" is anonymous).
func (r *Resolver) Resolve(secret string) (*Identity, error) {
	if secret == "" {
		if r.Default == DefaultDeny {
			return NewIdentity(Anonymous, nil), nil
		}
		return NewIdentity(Anonymous, readRules), nil
	}
	accessor, rules, ok := r.Lookup(HashSecret(secret))
	if !ok {
		return nil, ErrTokenNotFound
	}
	parsed, err := ParseRules(rules)
	if err != nil {
		// Stored rules were checked when the token was made; a rule this
		// build cannot parse grants nothing.
		parsed = nil
	}
	return NewIdentity(accessor, parsed), nil
}

// NativeToken is the token of a native API request: X-Roster-Token, or
// Authorization: Bearer.
func NativeToken(r *http.Request) string {
	if t := r.Header.Get("X-Roster-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// ConsulToken is the token of a Consul-compatible request: X-Consul-Token,
// ?token=, or the native headers.
func ConsulToken(r *http.Request) string {
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	return NativeToken(r)
}
