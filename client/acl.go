package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/rosterhq/roster/api"
)

// ACLBootstrap creates the management token (operator:write and
// service:write:*) on a server started with --acl. It works once: a second
// call fails with ErrConflict, whose message says how an operator resets it.
// The answer holds the only copy of the secret.
func (c *Client) ACLBootstrap(ctx context.Context) (*api.ACLToken, error) {
	return c.tokenCall(ctx, request{method: http.MethodPut, path: "/v1/acl/bootstrap"})
}

// ACLCreateToken creates a token with rules such as "service:write:web",
// "service:read:*" or "operator:read" (needs operator:write). The answer
// holds the only copy of the secret.
func (c *Client) ACLCreateToken(ctx context.Context, description string, rules []string) (*api.ACLToken, error) {
	body, err := json.Marshal(api.ACLTokenRequest{Description: description, Rules: rules})
	if err != nil {
		return nil, err
	}
	return c.tokenCall(ctx, request{method: http.MethodPut, path: "/v1/acl/tokens", body: body})
}

// ACLTokens lists the tokens, without their secrets (needs operator:write).
func (c *Client) ACLTokens(ctx context.Context) ([]api.ACLToken, error) {
	var out api.ACLTokenList
	if _, err := c.getJSON(ctx, "/v1/acl/tokens", nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// ACLDeleteToken deletes the token with accessor (needs operator:write).
func (c *Client) ACLDeleteToken(ctx context.Context, accessor string) error {
	if accessor == "" {
		return fmt.Errorf("delete token: %w: empty accessor", ErrInvalid)
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/acl/tokens/" + url.PathEscape(accessor), idempotent: true})
	return err
}

func (c *Client) tokenCall(ctx context.Context, r request) (*api.ACLToken, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	var out api.ACLToken
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("roster: %s %s: decode answer: %w", r.method, r.path, err)
	}
	return &out, nil
}

// GossipKeyring lists the cluster's gossip keys with how many servers hold
// each and use it as primary (needs operator:write).
func (c *Client) GossipKeyring(ctx context.Context) (*api.Keyring, error) {
	var out api.Keyring
	if _, err := c.getJSON(ctx, "/v1/cluster/keyring", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GossipKeyringChange installs, uses (makes primary) or removes a gossip
// key on every server: op is "install", "use" or "remove".
func (c *Client) GossipKeyringChange(ctx context.Context, op, key string) (*api.Keyring, error) {
	body, err := json.Marshal(api.KeyringRequest{Op: op, Key: key})
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/cluster/keyring", body: body, idempotent: true})
	if err != nil {
		return nil, err
	}
	var out api.Keyring
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("roster: PUT /v1/cluster/keyring: decode answer: %w", err)
	}
	return &out, nil
}
