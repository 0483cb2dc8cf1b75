package client

import (
	"context"
	"time"

	"github.com/rosterhq/roster/api"
)

// WaitServices is a blocking query of the service list: it answers as soon
// as the list's index exceeds index (a service appears or goes, or its counts
// by status or its tags change), or after wait with the same index. Index 0
// answers at once. A gateway routing by tags follows the catalog with it.
func (c *Client) WaitServices(ctx context.Context, index uint64, wait time.Duration) (*api.ServiceList, error) {
	opts := &QueryOptions{Index: index, Wait: wait}
	var list api.ServiceList
	resp, err := c.getJSON(ctx, "/v1/services", opts.values(), &list)
	if err != nil {
		return nil, err
	}
	if list.Index == 0 {
		list.Index = headerIndex(resp)
	}
	return &list, nil
}
