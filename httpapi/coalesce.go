package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// hbResult is the outcome of one heartbeat: err is nil (renewed),
// registry.ErrNotFound, registry.ErrGone, or why the whole batch failed.
type hbResult struct {
	index uint64
	err   error
}

type hbWaiter struct {
	hb   api.BatchHeartbeat
	done chan hbResult // buffered: the sender never blocks on a departed waiter
}

// coalescer gathers the single heartbeats that reach a follower for up to
// HeartbeatCoalesce (or CoalesceMax of them) and sends them to the leader as
// one PUT /v1/heartbeats, then answers each from its entry. Thousands of
// instances heartbeating through a follower thus cost the leader a few
// requests per interval instead of one each.
type coalescer struct {
	h     *Handler
	delay time.Duration
	max   int

	mu     sync.Mutex
	batch  []*hbWaiter
	gen    uint64 // counts flushed batches, so a stale timer flushes nothing
	timer  *time.Timer
	closed bool
	wg     sync.WaitGroup // batches being sent
}

func newCoalescer(h *Handler) *coalescer {
	return &coalescer{h: h, delay: h.cfg.HeartbeatCoalesce, max: h.cfg.CoalesceMax}
}

// submit queues hb for the next batch and waits for its result.
func (c *coalescer) submit(ctx context.Context, hb api.BatchHeartbeat) hbResult {
	wt := &hbWaiter{hb: hb, done: make(chan hbResult, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return hbResult{err: errShuttingDown}
	}
	c.batch = append(c.batch, wt)
	c.h.metrics.coalescedBeats.Inc()
	switch {
	case len(c.batch) >= c.max:
		c.flushLocked()
	case len(c.batch) == 1:
		gen := c.gen
		c.timer = time.AfterFunc(c.delay, func() { c.flushGen(gen) })
	}
	c.mu.Unlock()
	select {
	case res := <-wt.done:
		return res
	case <-ctx.Done():
		return hbResult{err: ctx.Err()}
	}
}

// flushLocked hands the gathered batch to a sender goroutine. c.mu is held.
func (c *coalescer) flushLocked() {
	batch := c.batch
	c.batch = nil
	c.gen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.send(batch)
	}()
}

// flushGen flushes the batch that the timer was started for, unless it was
// flushed already (it filled up) or the coalescer closed.
func (c *coalescer) flushGen(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.gen != gen || len(c.batch) == 0 {
		return
	}
	c.flushLocked()
}

// close fails the heartbeats still gathering with 503 and waits for the
// batches in flight (their requests end with the handler's base context).
func (c *coalescer) close() {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	pending := c.batch
	c.batch = nil
	c.mu.Unlock()
	for _, wt := range pending {
		wt.done <- hbResult{err: errShuttingDown}
	}
	c.wg.Wait()
}

// send renews one batch, at the leader or locally if this server has become
// the leader meanwhile, and delivers each waiter's result.
func (c *coalescer) send(batch []*hbWaiter) {
	hbs := make([]api.BatchHeartbeat, len(batch))
	for i, wt := range batch {
		hbs[i] = wt.hb
	}
	ctx, cancel := context.WithTimeout(c.h.baseCtx, c.h.cfg.ForwardTimeout)
	defer cancel()
	var errs []error
	var index uint64
	var err error
	if c.h.store.IsLeader() {
		errs, index, err = c.h.store.Heartbeat(ctx, hbs)
	} else {
		c.h.metrics.coalescedBatchs.Inc()
		errs, index, err = c.h.sendBatch(ctx, hbs)
	}
	for i, wt := range batch {
		res := hbResult{index: index, err: err}
		if err == nil {
			res.err = errs[i]
		}
		wt.done <- res
	}
}

// sendBatch sends PUT /v1/heartbeats to the leader and maps its answer back
// to one result per heartbeat.
func (h *Handler) sendBatch(ctx context.Context, hbs []api.BatchHeartbeat) ([]error, uint64, error) {
	leader := h.store.Leader()
	if !leader.Known || leader.HTTPAddr == "" {
		return nil, 0, store.ErrNoLeader
	}
	body, err := json.Marshal(api.HeartbeatsRequest{Instances: hbs})
	if err != nil {
		return nil, 0, fmt.Errorf("encode heartbeat batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, h.scheme+"://"+leader.HTTPAddr+"/v1/heartbeats", bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("heartbeat batch to leader %s: %w", leader.HTTPAddr, err)
	}
	req.Header["Content-Type"] = jsonCTHdr
	req.Header[api.HeaderForwarded] = forwardedHdrOnce
	h.metrics.forwarded[forwardHeartbeatBatch].Inc()
	resp, err := h.client.Do(req)
	if err != nil {
		h.metrics.forwardErrors.Inc()
		h.log.Warn("heartbeat batch to leader failed", "leader", leader.HTTPAddr, "heartbeats", len(hbs), "err", err)
		return nil, 0, &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader,
			msg: fmt.Sprintf("heartbeat batch to leader %s: %v", leader.HTTPAddr, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		return nil, 0, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			msg: fmt.Sprintf("read heartbeat batch answer from leader %s: %v", leader.HTTPAddr, err)}
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			e = api.Error{Code: codeUnavailable, Message: fmt.Sprintf("leader answered %s", resp.Status)}
		}
		return nil, 0, &apiError{status: resp.StatusCode, code: e.Code, msg: e.Message, field: e.Field}
	}
	var out api.HeartbeatsResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, 0, fmt.Errorf("decode heartbeat batch answer from leader %s: %w", leader.HTTPAddr, err)
	}
	index, _ := strconv.ParseUint(resp.Header.Get(api.HeaderIndex), 10, 64)
	if index > 0 {
		if err := h.waitApplied(ctx, index); err != nil {
			return nil, 0, err
		}
	}
	failed := make(map[api.InstanceRef]error, len(out.Missing)+len(out.Gone)+len(out.Denied))
	for _, ref := range out.Missing {
		failed[ref] = registry.ErrNotFound
	}
	for _, ref := range out.Gone {
		failed[ref] = registry.ErrGone
	}
	for _, ref := range out.Denied {
		failed[ref] = acl.Denied("service:write:" + ref.Service)
	}
	errs := make([]error, len(hbs))
	for i, hb := range hbs {
		errs[i] = failed[api.InstanceRef{Service: hb.Service, ID: hb.ID}]
	}
	return errs, index, nil
}
