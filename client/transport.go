package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Transport is an http.RoundTripper that sends requests for
// http://<service>/... to one of the service's live instances, chosen by
// the Resolver's picker. When an instance cannot be reached it is reported
// failed and the request goes to another instance: any request whose
// connection was refused (it was never sent), and idempotent requests
// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or with an Idempotency-Key)
// on any transport error.
type Transport struct {
	// Resolver resolves service names. Required.
	Resolver *Resolver
	// Base sends the rewritten requests. Default: a clone of
	// http.DefaultTransport.
	Base http.RoundTripper
	// MaxTries bounds the instances tried per request. Default 3.
	MaxTries int
	// ResolveTimeout bounds the wait for a service's first instance list
	// (only the first request to a service waits). Default 5s.
	ResolveTimeout time.Duration

	once        sync.Once
	defaultBase *http.Transport
}

// CloseIdleConnections closes the idle connections of the default Base
// (a Base given by the caller is the caller's to close).
func (t *Transport) CloseIdleConnections() {
	t.once.Do(t.initBase)
	t.defaultBase.CloseIdleConnections()
}

func (t *Transport) initBase() {
	t.defaultBase = http.DefaultTransport.(*http.Transport).Clone()
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Resolver == nil {
		return nil, errors.New("roster transport: no Resolver")
	}
	base := t.Base
	if base == nil {
		t.once.Do(t.initBase)
		base = t.defaultBase
	}
	tries := t.MaxTries
	if tries <= 0 {
		tries = 3
	}
	service := req.URL.Hostname()
	wait := t.ResolveTimeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	rctx, cancel := context.WithTimeout(req.Context(), wait)
	p, err := t.Resolver.Picker(rctx, service)
	cancel()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	tried := map[string]bool{}
	var lastErr error
	for try := 0; try < tries; try++ {
		inst, err := p.PickExcept(tried)
		if err != nil {
			break
		}
		tried[inst.ID] = true
		out := req.Clone(req.Context())
		out.URL.Host = InstanceAddr(inst)
		if out.Host == "" {
			out.Host = req.URL.Host
		}
		if try > 0 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				break
			}
			body, err := req.GetBody()
			if err != nil {
				break
			}
			out.Body = body
		}
		resp, err := base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err
		}
		p.Fail(inst)
		lastErr = err
		if !isDialError(err) && !idempotent(req) {
			return nil, err
		}
	}
	if lastErr == nil {
		closeBody(req)
		return nil, fmt.Errorf("roster transport: %s: %w", service, ErrNoInstances)
	}
	return nil, fmt.Errorf("roster transport: %s: %w", service, lastErr)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}
