package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rosterhq/roster/api"
)

// Leader describes the cluster's leader as the answering server knows it.
func (c *Client) Leader(ctx context.Context) (*api.Leader, error) {
	var out api.Leader
	if _, err := c.getJSON(ctx, "/v1/cluster/leader", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members lists the servers as gossip sees them, with their Raft roles.
func (c *Client) Members(ctx context.Context) (*api.MemberList, error) {
	var out api.MemberList
	if _, err := c.getJSON(ctx, "/v1/cluster/members", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Health describes every server as the leader judges it: healthy or not
// and why, last contact, last index, voter or not, and how many servers the
// cluster can lose (GET /v1/cluster/health, answered by the leader).
func (c *Client) Health(ctx context.Context) (*api.ClusterHealth, error) {
	var out api.ClusterHealth
	if _, err := c.getJSON(ctx, "/v1/cluster/health", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Raft describes the Raft configuration and the answering server's progress.
func (c *Client) Raft(ctx context.Context) (*api.RaftInfo, error) {
	var out api.RaftInfo
	if _, err := c.getJSON(ctx, "/v1/cluster/raft", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Leases reports the leader's lease table (mass-expiry protection included).
func (c *Client) Leases(ctx context.Context) (*api.LeaseState, error) {
	var out api.LeaseState
	if _, err := c.getJSON(ctx, "/v1/cluster/leases", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status is the cluster's health as one server sees it.
type Status struct {
	// Server is the address that answered.
	Server string
	Leader api.Leader
	Raft   api.RaftInfo
	// Ready is nil when the server is ready to serve, else why not.
	Ready error
}

// Status asks the current server for the leader, the Raft configuration and
// its readiness. All three come from the same server.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	resp, err := c.getJSON(ctx, "/v1/cluster/leader", nil, &st.Leader)
	if err != nil {
		return nil, err
	}
	st.Server = resp.server
	pin := request{method: http.MethodGet, path: "/v1/cluster/raft", idempotent: true, pinned: true}
	raw, err := c.pinnedTo(ctx, resp.server, pin)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &st.Raft); err != nil {
		return nil, fmt.Errorf("roster: GET /v1/cluster/raft: %w", err)
	}
	_, st.Ready = c.pinnedTo(ctx, resp.server, request{method: http.MethodGet, path: "/readyz", pinned: true})
	return &st, nil
}

// Ready returns nil when the current server is ready (it knows a leader,
// heard from it recently and has caught up), else an *APIError saying why.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz", pinned: true})
	return err
}

// pinnedTo sends r to the named server, bypassing failover.
func (c *Client) pinnedTo(ctx context.Context, host string, r request) ([]byte, error) {
	for i, s := range c.servers {
		if s.Host == host {
			c.current.Store(int64(i))
			break
		}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// SnapshotSave downloads a consistent backup of the catalog into w and
// returns the number of bytes written.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/snapshot", accept: "application/octet-stream", idempotent: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("roster: snapshot save: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("roster: snapshot save: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// SnapshotRestore replaces the catalog with a backup read from r. The
// backup is read into memory first so that the upload can go to another
// server if the first one is not the leader's reach.
func (c *Client) SnapshotRestore(ctx context.Context, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("roster: snapshot restore: read backup: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("roster: snapshot restore: %w: empty backup", ErrInvalid)
	}
	resp, err := c.send(ctx, request{method: http.MethodPut, path: "/v1/snapshot", body: data, idempotent: true})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Leave asks the server the client is talking to (the first address while
// it answers) to leave the cluster gracefully. It never fails over: leaving
// must not hit another server.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/cluster/leave", pinned: true})
	return err
}

// RemovePeer removes a server from the Raft configuration by its Raft id,
// for servers that cannot leave by themselves.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("remove peer: %w: empty id", ErrInvalid)
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/cluster/raft/peers/" + url.PathEscape(id), idempotent: true})
	return err
}
