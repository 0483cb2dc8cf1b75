package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// InstanceSpec describes an instance to register.
type InstanceSpec struct {
	// Service is the service name (1-63 letters, digits and hyphens).
	Service string
	// ID identifies the instance across the whole catalog. Empty: the
	// client makes one up from the service name and random bytes.
	ID string
	// Address and Port are where the instance serves.
	Address string
	Port    int
	// Tags and Meta are free-form labels.
	Tags []string
	Meta map[string]string
	// Weight biases weighted balancing; 0 means the server default (1).
	Weight int
	// TTL is the lease: the client renews it about every TTL/3. Zero means
	// no lease: the instance stays until deregistered.
	TTL time.Duration
	// DeregisterAfter removes the instance once it has been critical this
	// long (zero: never removed automatically).
	DeregisterAfter time.Duration
	// Status is the initial status; empty means passing.
	Status api.Status
	// Output is a free-form note shown next to the status.
	Output string
}

func (s *InstanceSpec) request(status api.Status, output string) api.RegisterRequest {
	req := api.RegisterRequest{
		Address: s.Address,
		Port:    s.Port,
		Tags:    s.Tags,
		Meta:    s.Meta,
		Status:  status,
		Output:  output,
	}
	if s.Weight > 0 {
		w := s.Weight
		req.Weight = &w
	}
	if s.TTL > 0 {
		req.TTL = s.TTL.String()
	}
	if s.DeregisterAfter > 0 {
		req.DeregisterAfter = s.DeregisterAfter.String()
	}
	return req
}

// Registration is a registered instance that looks after itself: while it
// has a TTL, the client's heartbeat loop renews its lease, registers it
// again when a server no longer knows it (after an expiry or a restore), and
// stops when an operator deregisters it (Done is closed and Err is ErrGone).
// Close or Deregister remove it.
type Registration struct {
	c    *Client
	spec InstanceSpec

	// opMu serialises re-registration against deregistration, so that a
	// re-registration in flight can never land after the DELETE.
	opMu sync.Mutex

	mu     sync.Mutex
	status api.Status
	output string
	state  regState
	err    error
	index  uint64
	done   chan struct{}
}

type regState uint8

const (
	regActive regState = iota
	regClosed
	regGone
)

// Register registers an instance and returns its handle. With a TTL, the
// lease is renewed in the background until Close, Deregister, or an
// operator removes the instance. The call retries across servers until ctx
// ends; an invalid spec fails at once (IsInvalid).
func (c *Client) Register(ctx context.Context, spec InstanceSpec) (*Registration, error) {
	if spec.Service == "" {
		return nil, fmt.Errorf("register: %w: empty service name", ErrInvalid)
	}
	if spec.TTL < 0 || spec.DeregisterAfter < 0 {
		return nil, fmt.Errorf("register %s: %w: negative duration", spec.Service, ErrInvalid)
	}
	if spec.ID == "" {
		spec.ID = spec.Service + "-" + randomHex(6)
	}
	spec.Tags = append([]string(nil), spec.Tags...)
	if spec.Meta != nil {
		m := make(map[string]string, len(spec.Meta))
		for k, v := range spec.Meta {
			m[k] = v
		}
		spec.Meta = m
	}
	r := &Registration{c: c, spec: spec, status: spec.Status, output: spec.Output, done: make(chan struct{})}
	if r.status == "" {
		r.status = api.StatusPassing
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("register %s/%s: %w", spec.Service, spec.ID, ErrClosed)
	}
	if err := r.put(ctx); err != nil {
		return nil, fmt.Errorf("register %s/%s: %w", spec.Service, spec.ID, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		// Raced with Close: do not leave the instance behind.
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Deregister(dctx)
		return nil, fmt.Errorf("register %s/%s: %w", spec.Service, spec.ID, ErrClosed)
	}
	c.regs[r] = struct{}{}
	c.mu.Unlock()
	if spec.TTL > 0 {
		c.hb.add(r)
	}
	c.log.Info("roster client registered", "service", spec.Service, "id", spec.ID, "ttl", spec.TTL)
	return r, nil
}

// put sends the registration with the current status.
func (r *Registration) put(ctx context.Context) error {
	r.mu.Lock()
	body, err := json.Marshal(r.spec.request(r.status, r.output))
	r.mu.Unlock()
	if err != nil {
		return err
	}
	resp, err := r.c.do(ctx, request{method: http.MethodPut, path: instPath(r.spec.Service, r.spec.ID), body: body, idempotent: true})
	if err != nil {
		return err
	}
	var out api.RegisterResponse
	if json.Unmarshal(resp.body, &out) == nil {
		r.mu.Lock()
		r.index = max(out.Index, headerIndex(resp))
		r.mu.Unlock()
	}
	return nil
}

// reregister registers the instance again after a server reported it
// missing, unless it was closed meanwhile.
func (r *Registration) reregister(ctx context.Context) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if !r.active() {
		return nil
	}
	if err := r.put(ctx); err != nil {
		r.c.log.Warn("roster client re-registration failed", "service", r.spec.Service, "id", r.spec.ID, "err", err)
		return err
	}
	r.c.log.Info("roster client re-registered missing instance", "service", r.spec.Service, "id", r.spec.ID)
	return nil
}

// Service returns the registered service name.
func (r *Registration) Service() string { return r.spec.Service }

// ID returns the instance id (generated when the spec had none).
func (r *Registration) ID() string { return r.spec.ID }

// Spec returns the registered spec with the current status and output.
func (r *Registration) Spec() InstanceSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.spec
	s.Status, s.Output = r.status, r.output
	return s
}

// Index returns the index of the last (re-)registration.
func (r *Registration) Index() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.index
}

// Done is closed when the registration stops: after Close or Deregister, or
// when an operator deregistered the instance (then Err returns ErrGone).
func (r *Registration) Done() <-chan struct{} { return r.done }

// Err returns ErrGone after an operator removed the instance, else nil.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Registration) active() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == regActive
}

// heartbeat returns the batch entry renewing this registration.
func (r *Registration) heartbeat() api.BatchHeartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	return api.BatchHeartbeat{Service: r.spec.Service, ID: r.spec.ID, Status: r.status, Output: r.output}
}

// SetStatus changes the instance's reported status and output and sends the
// change at once; later heartbeats keep reporting it. A server that no
// longer knows the instance gets it registered again with this status.
func (r *Registration) SetStatus(ctx context.Context, status api.Status, output string) error {
	if !status.Valid() {
		return fmt.Errorf("set status %s/%s: %w: status %q", r.spec.Service, r.spec.ID, ErrInvalid, status)
	}
	r.mu.Lock()
	if r.state != regActive {
		err := r.err
		r.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return fmt.Errorf("set status %s/%s: %w", r.spec.Service, r.spec.ID, err)
	}
	r.status, r.output = status, output
	r.mu.Unlock()

	if r.spec.TTL == 0 {
		// Without a lease there is nothing to renew: registering again with
		// the new status is the status change.
		r.opMu.Lock()
		defer r.opMu.Unlock()
		if err := r.put(ctx); err != nil {
			return fmt.Errorf("set status %s/%s: %w", r.spec.Service, r.spec.ID, err)
		}
		return nil
	}
	body, _ := json.Marshal(api.HeartbeatRequest{Status: status, Output: output})
	_, err := r.c.do(ctx, request{method: http.MethodPut, path: instPath(r.spec.Service, r.spec.ID) + "/heartbeat", body: body, idempotent: true})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrGone):
		r.markGone()
		return fmt.Errorf("set status %s/%s: %w", r.spec.Service, r.spec.ID, err)
	case errors.Is(err, ErrNotFound):
		if err := r.reregister(ctx); err != nil {
			return fmt.Errorf("set status %s/%s: %w", r.spec.Service, r.spec.ID, err)
		}
		return nil
	}
	return fmt.Errorf("set status %s/%s: %w", r.spec.Service, r.spec.ID, err)
}

// markGone stops a registration that an operator removed.
func (r *Registration) markGone() {
	r.mu.Lock()
	if r.state != regActive {
		r.mu.Unlock()
		return
	}
	r.state, r.err = regGone, ErrGone
	close(r.done)
	r.mu.Unlock()
	r.c.hb.remove(r)
	r.c.forget(r)
	r.c.log.Warn("roster client stops renewing: instance was deregistered by someone else", "service", r.spec.Service, "id", r.spec.ID)
}

// Deregister stops renewing the lease and removes the instance. Calling it
// again, or after the instance is gone, does nothing.
func (r *Registration) Deregister(ctx context.Context) error {
	r.mu.Lock()
	if r.state != regActive {
		r.mu.Unlock()
		return nil
	}
	r.state = regClosed
	close(r.done)
	r.mu.Unlock()
	r.c.hb.remove(r)
	r.c.forget(r)

	r.opMu.Lock()
	defer r.opMu.Unlock()
	if _, err := r.c.do(ctx, request{method: http.MethodDelete, path: instPath(r.spec.Service, r.spec.ID), idempotent: true}); err != nil {
		return fmt.Errorf("deregister %s/%s: %w", r.spec.Service, r.spec.ID, err)
	}
	r.c.log.Info("roster client deregistered", "service", r.spec.Service, "id", r.spec.ID)
	return nil
}

// Close deregisters the instance, waiting at most 10 seconds.
func (r *Registration) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Deregister(ctx)
}

func (c *Client) forget(r *Registration) {
	c.mu.Lock()
	delete(c.regs, r)
	c.mu.Unlock()
}

// Deregister removes any instance by service and id (an operator's
// deregistration: its own client stops renewing it). Unknown ids succeed.
func (c *Client) Deregister(ctx context.Context, service, id string) error {
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: instPath(service, id), idempotent: true}); err != nil {
		return fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	return nil
}

// Heartbeat renews one instance's lease once with the given status (empty:
// passing). The error matches ErrNotRegistered when the server does not know
// the instance and ErrGone when it was deregistered recently.
func (c *Client) Heartbeat(ctx context.Context, service, id string, status api.Status, output string) error {
	body, _ := json.Marshal(api.HeartbeatRequest{Status: status, Output: output})
	if _, err := c.do(ctx, request{method: http.MethodPut, path: instPath(service, id) + "/heartbeat", body: body, idempotent: true}); err != nil {
		return fmt.Errorf("heartbeat %s/%s: %w", service, id, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
