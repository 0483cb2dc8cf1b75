package client

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// heartbeatBatch caps the instances renewed by one PUT /v1/heartbeats.
const heartbeatBatch = 500

// heartbeater is the one loop per Client that renews every lease: one
// PUT /v1/heartbeats per interval for the whole process, the interval being
// a third of the shortest TTL, jittered. It starts with the first leased
// registration and stops on Client.Close.
type heartbeater struct {
	c *Client

	mu      sync.Mutex
	regs    map[*Registration]struct{}
	byID    map[string]*Registration
	started bool
	stopped bool

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newHeartbeater(c *Client) *heartbeater {
	return &heartbeater{
		c:    c,
		regs: make(map[*Registration]struct{}),
		byID: make(map[string]*Registration),
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
}

func (h *heartbeater) add(r *Registration) {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.regs[r] = struct{}{}
	h.byID[strings.ToLower(r.spec.ID)] = r
	if !h.started {
		h.started = true
		go h.loop()
	}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *heartbeater) remove(r *Registration) {
	h.mu.Lock()
	delete(h.regs, r)
	if h.byID[strings.ToLower(r.spec.ID)] == r {
		delete(h.byID, strings.ToLower(r.spec.ID))
	}
	h.mu.Unlock()
}

func (h *heartbeater) stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	started := h.started
	h.mu.Unlock()
	close(h.quit)
	if started {
		<-h.done
	}
}

// interval is a third of the shortest TTL; zero when nothing is leased.
func (h *heartbeater) interval() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var shortest time.Duration
	for r := range h.regs {
		if shortest == 0 || r.spec.TTL < shortest {
			shortest = r.spec.TTL
		}
	}
	return shortest / 3
}

func (h *heartbeater) loop() {
	defer close(h.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.quit:
			cancel()
		case <-ctx.Done():
		}
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var next time.Time // when the next batch is due; zero: nothing leased
	failures := 0
	for {
		iv := h.interval()
		now := time.Now()
		switch {
		case iv == 0:
			next = time.Time{}
		case next.IsZero():
			next = now.Add(jitter(iv))
		default:
			// A new, shorter TTL may bring the next batch forward, never
			// push it back: registrations arriving often must not starve
			// the renewal of the others.
			next = minTime(next, now.Add(jitter(iv)))
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-h.quit:
			return
		case <-h.kick:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			continue
		case <-timer.C:
		}
		if h.beat(ctx, iv) {
			failures = 0
			next = time.Now().Add(jitter(iv))
		} else {
			// Retry sooner than a full interval: the lease has only about
			// three intervals to live.
			next = time.Now().Add(min(jitter(iv), backoffDelay(250*time.Millisecond, iv, failures)))
			failures++
		}
	}
}

// jitter spreads renewals of many processes: 80-100% of d.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// beat renews every lease once and repairs what the servers report missing
// or gone. It reports whether every batch reached a server.
func (h *heartbeater) beat(ctx context.Context, iv time.Duration) bool {
	h.mu.Lock()
	batch := make([]api.BatchHeartbeat, 0, len(h.regs))
	for r := range h.regs {
		batch = append(batch, r.heartbeat())
	}
	h.mu.Unlock()
	if len(batch) == 0 {
		return true
	}
	// A batch may retry across servers, but not past the point where the
	// next one is due anyway.
	ctx, cancel := context.WithTimeout(ctx, max(2*iv, 2*time.Second))
	defer cancel()
	ok := true
	var missing []*Registration
	for start := 0; start < len(batch); start += heartbeatBatch {
		part := batch[start:min(start+heartbeatBatch, len(batch))]
		body, _ := json.Marshal(api.HeartbeatsRequest{Instances: part})
		resp, err := h.c.do(ctx, request{method: http.MethodPut, path: "/v1/heartbeats", body: body, idempotent: true})
		if err != nil {
			// No leader, not re-armed, unreachable: never register again
			// on these, just try again soon.
			h.c.log.Warn("roster client heartbeat failed", "instances", len(part), "err", err)
			ok = false
			continue
		}
		var out api.HeartbeatsResponse
		if err := json.Unmarshal(resp.body, &out); err != nil {
			h.c.log.Warn("roster client heartbeat answer undecodable", "server", resp.server, "err", err)
			ok = false
			continue
		}
		for _, ref := range out.Gone {
			if r := h.lookup(ref); r != nil {
				r.markGone()
			}
		}
		for _, ref := range out.Missing {
			if r := h.lookup(ref); r != nil {
				missing = append(missing, r)
			}
		}
	}
	h.reregister(ctx, missing)
	return ok
}

func (h *heartbeater) lookup(ref api.InstanceRef) *Registration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[strings.ToLower(ref.ID)]
}

// reregister registers the missing instances again, a few at a time.
func (h *heartbeater) reregister(ctx context.Context, regs []*Registration) {
	if len(regs) == 0 {
		return
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, r := range regs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = r.reregister(ctx)
		}()
	}
	wg.Wait()
}
