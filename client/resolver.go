package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	// Strategy balances requests over each service's instances.
	Strategy Strategy
	// CoolOff is how long an instance reported failed is skipped
	// (default DefaultCoolOff).
	CoolOff time.Duration
	// Watch configures the watch behind each service (Status, Tag...).
	Watch WatchOptions
}

// Resolver is a cache of live instances per service, each kept current by a
// Watcher started on first use and balanced by a Picker. It keeps serving the
// last known good list while every server is unreachable, so that a gateway
// does not go dark when the registry is briefly down. Close stops its
// watches.
type Resolver struct {
	c    *Client
	opts ResolverOptions
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*resolverEntry
	closed  bool
}

type resolverEntry struct {
	watcher *Watcher
	picker  *Picker
	ready   chan struct{} // closed once the picker got its first list
}

// NewResolver returns a Resolver over this client.
func (c *Client) NewResolver(opts ResolverOptions) *Resolver {
	ctx, cancel := context.WithCancel(context.Background())
	return &Resolver{c: c, opts: opts, ctx: ctx, stop: cancel, entries: make(map[string]*resolverEntry)}
}

// Close stops every watch.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
}

func (r *Resolver) entry(service string) (*resolverEntry, error) {
	service = strings.ToLower(service)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if e, ok := r.entries[service]; ok {
		return e, nil
	}
	e := &resolverEntry{
		watcher: r.c.Watch(r.ctx, service, &r.opts.Watch),
		picker:  NewPicker(r.opts.Strategy, r.opts.CoolOff),
		ready:   make(chan struct{}),
	}
	r.entries[service] = e
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		first := true
		for list := range e.watcher.Updates() {
			e.picker.Update(list.Instances)
			if first {
				close(e.ready)
				first = false
			}
		}
	}()
	return e, nil
}

// Picker returns the service's picker, waiting until ctx ends for its first
// list.
func (r *Resolver) Picker(ctx context.Context, service string) (*Picker, error) {
	e, err := r.entry(service)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.ready:
		return e.picker, nil
	case <-ctx.Done():
		err := e.watcher.Err()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("resolve %s: no list yet: %w", service, err)
	}
}

// Instances returns the service's last known live instances.
func (r *Resolver) Instances(ctx context.Context, service string) ([]api.Instance, error) {
	p, err := r.Picker(ctx, service)
	if err != nil {
		return nil, err
	}
	return p.Instances(), nil
}

// Pick chooses one live instance of the service.
func (r *Resolver) Pick(ctx context.Context, service string) (api.Instance, error) {
	p, err := r.Picker(ctx, service)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := p.Pick()
	if err != nil {
		return api.Instance{}, fmt.Errorf("resolve %s: %w", service, err)
	}
	return inst, nil
}

// Fail reports that a request to inst failed, so that it is skipped for the
// cool-off.
func (r *Resolver) Fail(inst api.Instance) {
	r.mu.Lock()
	e := r.entries[strings.ToLower(inst.Service)]
	r.mu.Unlock()
	if e != nil {
		e.picker.Fail(inst)
	}
}

// DialContext dials "service:port" by resolving the service through the
// picker (the port is ignored: each instance has its own). On a failed
// connection it reports the instance and tries the others. Use it as the
// DialContext of an http.Transport or anywhere a dialer is expected.
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	service, _, err := net.SplitHostPort(addr)
	if err != nil {
		service = addr
	}
	p, err := r.Picker(ctx, service)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	tried := map[string]bool{}
	var lastErr error
	for {
		inst, err := p.PickExcept(tried)
		if err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("dial %s: every instance failed: %w", service, lastErr)
			}
			return nil, fmt.Errorf("dial %s: %w", service, err)
		}
		tried[inst.ID] = true
		conn, err := d.DialContext(ctx, network, InstanceAddr(inst))
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		p.Fail(inst)
		lastErr = err
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
}

// InstanceAddr is the instance's "host:port" for dialing.
func InstanceAddr(inst api.Instance) string {
	return net.JoinHostPort(inst.Address, strconv.Itoa(inst.Port))
}
