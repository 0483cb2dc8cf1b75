package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
)

// QueryOptions filter and shape a lookup.
type QueryOptions struct {
	// Status selects by health: "" (passing and warning, the default),
	// "passing", "warning", "critical" or "any".
	Status string
	// Tag keeps only instances carrying this tag.
	Tag string
	// Consistent makes the read linearizable (served by the leader after it
	// confirms its leadership) instead of from the answering server's state.
	Consistent bool
	// Index makes the query block until the service's index exceeds it, or
	// Wait passes (a blocking query). Zero answers at once.
	Index uint64
	// Wait bounds a blocking query (the server caps it at 5 minutes).
	Wait time.Duration
}

func (o *QueryOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Tag != "" {
		q.Set("tag", o.Tag)
	}
	if o.Consistent {
		q.Set("consistent", "")
	}
	if o.Index > 0 {
		q.Set("index", strconv.FormatUint(o.Index, 10))
		if o.Wait > 0 {
			q.Set("wait", o.Wait.String())
		}
	}
	return q
}

// Instances lists a service's instances. By default it returns passing and
// warning instances from the answering server's state; an unknown service
// is an empty list, not an error. opts may be nil.
func (c *Client) Instances(ctx context.Context, service string, opts *QueryOptions) (*api.InstanceList, error) {
	list, _, err := c.instances(ctx, service, opts)
	return list, err
}

// instances is Instances that also returns whether the answering server
// knew a leader.
func (c *Client) instances(ctx context.Context, service string, opts *QueryOptions) (*api.InstanceList, bool, error) {
	var list api.InstanceList
	resp, err := c.getJSON(ctx, svcPath(service), opts.values(), &list)
	if err != nil {
		return nil, false, err
	}
	if list.Index == 0 {
		list.Index = headerIndex(resp)
	}
	if list.Instances == nil {
		list.Instances = []api.Instance{}
	}
	return &list, resp.header.Get(api.HeaderKnownLeader) != "false", nil
}

// Instance returns one instance; the error matches ErrNotFound when it is
// not registered.
func (c *Client) Instance(ctx context.Context, service, id string) (*api.Instance, error) {
	var inst api.Instance
	if _, err := c.getJSON(ctx, instPath(service, id), nil, &inst); err != nil {
		return nil, err
	}
	return &inst, nil
}

// Services lists every service with its instance counts by status and tags.
func (c *Client) Services(ctx context.Context) (*api.ServiceList, error) {
	var list api.ServiceList
	resp, err := c.getJSON(ctx, "/v1/services", nil, &list)
	if err != nil {
		return nil, err
	}
	if list.Index == 0 {
		list.Index = headerIndex(resp)
	}
	return &list, nil
}

func headerIndex(resp *response) uint64 {
	n, _ := strconv.ParseUint(resp.header.Get(api.HeaderIndex), 10, 64)
	return n
}
