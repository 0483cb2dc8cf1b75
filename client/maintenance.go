package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rosterhq/roster/api"
)

// SetMaintenance puts an instance in maintenance (enable, with reason; an
// empty reason is stored as "maintenance mode") or takes it out, and
// returns the instance as stored. While in maintenance the instance is
// critical for discovery whatever its heartbeats say. The error matches
// ErrNotRegistered when the server does not know the instance.
func (c *Client) SetMaintenance(ctx context.Context, service, id string, enable bool, reason string) (*api.Instance, error) {
	body, _ := json.Marshal(api.MaintenanceRequest{Enable: &enable, Reason: reason})
	resp, err := c.do(ctx, request{method: http.MethodPut, path: instPath(service, id) + "/maintenance", body: body, idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("maintenance %s/%s: %w", service, id, err)
	}
	var out api.RegisterResponse
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("maintenance %s/%s: decode answer: %w", service, id, err)
	}
	return &out.Instance, nil
}
