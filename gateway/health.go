package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// contactTracker watches every request the Roster client sends (watches,
// the service list) and remembers whether the last one got an answer: the
// gateway knows at once when it routes from stale lists.
type contactTracker struct {
	base http.RoundTripper
	log  *slog.Logger

	mu           sync.Mutex
	lastOK       time.Time
	failingSince time.Time // zero while the last request succeeded
	lastErr      string
	lastServer   string
}

// RoundTrip implements http.RoundTripper.
func (t *contactTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		// Canceled: the gateway stopped the watch. A deadline is a server
		// that did not answer a blocking query in time (a partition that
		// drops packets): that is a failure.
		if !errors.Is(req.Context().Err(), context.Canceled) {
			t.failed(req.URL.Host, err.Error())
		}
	case resp.StatusCode >= 500:
		t.failed(req.URL.Host, resp.Status)
	default:
		t.succeeded(req.URL.Host)
	}
	return resp, err
}

func (t *contactTracker) succeeded(server string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastOK, t.lastServer = time.Now(), server
	if !t.failingSince.IsZero() {
		t.log.Info("gateway reached the registry again; routes are fresh", "server", server,
			"stale_for", time.Since(t.failingSince).Round(time.Millisecond).String())
		t.failingSince, t.lastErr = time.Time{}, ""
	}
}

func (t *contactTracker) failed(server, cause string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = server + ": " + cause
	if t.failingSince.IsZero() {
		t.failingSince = time.Now()
		t.log.Warn("gateway cannot reach the registry; routing from the last known lists", "server", server, "err", cause)
	}
}

// RegistryHealth is the "registry" part of /healthz: whether the gateway's
// lists are fresh.
type RegistryHealth struct {
	// Reachable is false while the last request to a server failed.
	Reachable bool `json:"reachable"`
	// LastContact is when a server last answered.
	LastContact *time.Time `json:"last_contact,omitempty"`
	// StaleFor is how long no server has answered (Go duration).
	StaleFor string `json:"stale_for,omitempty"`
	// Error is the last failure while unreachable.
	Error string `json:"error,omitempty"`

	staleFor time.Duration
}

func (t *contactTracker) health() RegistryHealth {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := RegistryHealth{Reachable: t.failingSince.IsZero()}
	if !t.lastOK.IsZero() {
		lc := t.lastOK.UTC()
		h.LastContact = &lc
	}
	if !h.Reachable {
		h.staleFor = time.Since(t.failingSince)
		h.StaleFor = h.staleFor.Round(time.Millisecond).String()
		h.Error = t.lastErr
	}
	return h
}

// Health is the answer of /healthz.
type Health struct {
	// Status is "ok", or "stale" while no Roster server answers and the
	// gateway routes from its last known lists (it still serves: 200).
	Status   string         `json:"status"`
	Registry RegistryHealth `json:"registry"`
	Routes   []RouteHealth  `json:"routes"`
}

// RouteHealth describes one route in /healthz.
type RouteHealth struct {
	Route   string `json:"route"`
	Host    string `json:"host,omitempty"`
	Prefix  string `json:"prefix"`
	Service string `json:"service"`
	Strip   bool   `json:"strip"`
	// Source is "config" (flags) or "tags".
	Source    string `json:"source"`
	Instances int    `json:"instances"`
	Ejected   int    `json:"ejected"`
}

// Health reports the routing table and whether the routes are fresh.
func (g *Gateway) Health() Health {
	h := Health{Status: "ok", Registry: g.contact.health(), Routes: []RouteHealth{}}
	if !h.Registry.Reachable {
		h.Status = "stale"
	}
	now := time.Now().UnixNano()
	for _, r := range g.table.Load().all {
		rh := RouteHealth{Route: r.name, Host: r.Host, Prefix: r.Prefix, Service: r.Service, Strip: r.Strip, Source: "tags"}
		if r.static {
			rh.Source = "config"
		}
		for _, m := range r.pool.list() {
			rh.Instances++
			if m.b.isEjected(now) {
				rh.Ejected++
			}
		}
		h.Routes = append(h.Routes, rh)
	}
	return h
}

func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, api.CodeMethod, fmt.Sprintf("%s not allowed on /healthz", r.Method))
		return
	}
	body, err := json.MarshalIndent(g.Health(), "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}
