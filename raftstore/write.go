package raftstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

const (
	// maxCommandsPerEntry caps the registrations and deregistrations
	// coalesced into one log entry.
	maxCommandsPerEntry = 256
	// entriesInFlight caps the coalesced entries in Raft at once. The
	// batcher sends the next entry once the leader's disk has taken the
	// previous one (appendPacer), not once it commits: while the followers
	// write entry k, the leader writes k+1, the way a bare Raft apply loop
	// overlaps them (hashicorp/raft stores the leader's entries before it
	// replicates them, so one entry in flight serialises two fsyncs per
	// round). Writes that arrive meanwhile queue and go together in the
	// next entry, so each entry stays as full as an fsync's worth of
	// writes. The cap only bounds the queue in Raft when followers lag.
	entriesInFlight = 4
	// coalesceLinger bounds how long the batcher waits for the writers of
	// the previous entry to come back (see gather): small next to a Raft
	// round, which costs an fsync on every server.
	coalesceLinger = 500 * time.Microsecond
)

// writeReq is one registration or deregistration waiting for the batcher.
type writeReq struct {
	id       string // instance id: one entry never holds two writes for an id
	data     []byte // the encoded command
	register bool
	start    time.Time
	done     chan writeResp // buffered, 1
}

type writeResp struct {
	inst  registry.Instance
	index uint64
	err   error
}

// inflight is one coalesced entry on its way through Raft.
type inflight struct {
	fut  raft.ApplyFuture
	reqs []*writeReq
}

// Register validates and replicates a registration on the leader and
// returns the stored instance and the index at which it was applied.
// Concurrent writes are coalesced into one log entry.
func (s *Store) Register(ctx context.Context, inst registry.Instance) (registry.Instance, uint64, error) {
	if err := registry.Validate(&inst, s.cfg.MinDeregister); err != nil {
		return registry.Instance{}, 0, fmt.Errorf("register %s/%s: %w", inst.Service, inst.ID, err)
	}
	if err := mayWrite(ctx, inst.Service); err != nil {
		return registry.Instance{}, 0, fmt.Errorf("register %s/%s: %w", inst.Service, inst.ID, err)
	}
	req := &writeReq{
		id:       inst.ID,
		data:     registry.EncodeRegister(inst, time.Now().UnixNano()),
		register: true,
	}
	resp, err := s.submit(ctx, req)
	if err != nil {
		return registry.Instance{}, 0, fmt.Errorf("register %s/%s: %w", inst.Service, inst.ID, err)
	}
	return resp.inst, resp.index, nil
}

// Deregister removes an instance on the leader (an unknown id succeeds)
// and tombstones its id.
func (s *Store) Deregister(ctx context.Context, service, id string) (uint64, error) {
	service = strings.ToLower(service)
	if err := registry.ValidateServiceName(service); err != nil {
		return 0, fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	if err := registry.ValidateID(id); err != nil {
		return 0, fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	if err := mayWrite(ctx, service); err != nil {
		return 0, fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	req := &writeReq{id: id, data: registry.EncodeDeregister(service, id, time.Now().UnixNano())}
	resp, err := s.submit(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	return resp.index, nil
}

func (s *Store) submit(ctx context.Context, req *writeReq) (writeResp, error) {
	if err := s.leaderErr(); err != nil {
		return writeResp{}, err
	}
	req.start = time.Now()
	req.done = make(chan writeResp, 1)
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return writeResp{}, ctx.Err()
	case <-s.ctx.Done():
		return writeResp{}, errClosed
	}
	select {
	case r := <-req.done:
		return r, r.err
	case <-ctx.Done():
		// The write may still be applied; the caller retries idempotently.
		return writeResp{}, ctx.Err()
	}
}

// errClosed: the store is shut down; callers see it as "no leader" (503).
var errClosed = fmt.Errorf("%w: store closed", store.ErrNoLeader)

// leaderErr is nil on the leader, else ErrNotLeader (a leader is known: the
// front end forwards) or ErrNoLeader.
func (s *Store) leaderErr() error {
	if s.closing.Load() {
		return errClosed
	}
	if s.raft.State() == raft.Leader {
		return nil
	}
	if addr, _ := s.raft.LeaderWithID(); addr != "" {
		return store.ErrNotLeader
	}
	return store.ErrNoLeader
}

// mapRaftErr turns Raft's errors into the registry's sentinels.
func (s *Store) mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrNotVoter):
		if e := s.leaderErr(); e != nil {
			return fmt.Errorf("%w (%v)", e, err)
		}
		return fmt.Errorf("%w (%v)", store.ErrNoLeader, err)
	case errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w (%v)", store.ErrNoLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return errClosed
	}
	return err
}

// applyEntry replicates one command on the leader and returns its index
// once applied locally.
func (s *Store) applyEntry(ctx context.Context, data []byte) (uint64, error) {
	if err := s.leaderErr(); err != nil {
		return 0, err
	}
	fut := s.raft.Apply(data, writeTimeout)
	if err := s.waitFuture(ctx, fut); err != nil {
		return 0, err
	}
	if res, ok := fut.Response().(*registry.Result); ok {
		err := res.Err
		releaseResult(res)
		if err != nil {
			return fut.Index(), err
		}
	}
	return fut.Index(), nil
}

func (s *Store) waitFuture(ctx context.Context, fut raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	select {
	case err := <-errc:
		return s.mapRaftErr(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWrites is the batcher: it takes a write, waits for a free in-flight
// slot and for the leader's log to have taken the entry before (while it
// waits, more writes queue), then coalesces what is queued, up to
// maxCommandsPerEntry, into one log entry.
func (s *Store) runWrites(ctx context.Context) {
	depth := entriesInFlight
	if s.cfg.inFlight > 0 {
		depth = s.cfg.inFlight
	}
	slots := make(chan struct{}, depth)
	pending := make(chan inflight, depth)
	completed := make(chan struct{}, 1) // an entry completed: a slot is free
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		for in := range pending {
			s.complete(in)
			<-slots
			select {
			case completed <- struct{}{}:
			default:
			}
		}
	}()
	defer func() {
		close(pending)
		<-completerDone
		// Fail what is still queued.
		for {
			select {
			case r := <-s.writes:
				r.done <- writeResp{err: errClosed}
			default:
				return
			}
		}
	}()

	var carry *writeReq
	lastSize := 0
	var sentAt uint64 // the pacer's count when the last entry was sent
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.writes:
			case <-ctx.Done():
				return
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			first.done <- writeResp{err: errClosed}
			return
		}
		// Another entry is in flight: wait until this server's log has
		// taken it (or it completed), gathering what arrives meanwhile.
		for !s.cfg.unpaced && len(slots) > 1 && s.pacer.n.Load() == sentAt {
			select {
			case <-s.pacer.wake:
			case <-completed:
			case <-ctx.Done():
				first.done <- writeResp{err: errClosed}
				return
			}
		}
		batch := []*writeReq{first}
		if !s.cfg.noCoalesce {
			batch, carry = s.gather(batch, lastSize)
		}
		lastSize = len(batch)
		data := batch[0].data
		if len(batch) > 1 {
			cmds := make([][]byte, len(batch))
			for i, r := range batch {
				cmds[i] = r.data
			}
			data = registry.EncodeBatch(cmds)
		}
		s.metrics.entryCommands.Observe(float64(len(batch)))
		sentAt = s.pacer.n.Load()
		pending <- inflight{fut: s.raft.Apply(data, writeTimeout), reqs: batch}
	}
}

// gather adds queued writes to batch, up to maxCommandsPerEntry, stopping
// before a second write for the same id (returned as carry). When the
// previous entry carried several writes, their clients are coming back
// together as it completes: gather then lingers up to coalesceLinger for
// as many as the previous entry held, so that one of them does not go alone
// in an entry and make the rest wait a whole Raft round. A lone write
// (previous entry of one, or idle) never waits.
func (s *Store) gather(batch []*writeReq, lastSize int) (_ []*writeReq, carry *writeReq) {
	ids := map[string]struct{}{batch[0].id: {}}
	want := min(lastSize, maxCommandsPerEntry)
	var linger <-chan time.Time
	if want > 1 {
		t := time.NewTimer(coalesceLinger)
		defer t.Stop()
		linger = t.C
	}
	for len(batch) < maxCommandsPerEntry {
		var r *writeReq
		select {
		case r = <-s.writes:
		default:
			if len(batch) >= want || linger == nil {
				return batch, nil
			}
			select {
			case r = <-s.writes:
			case <-linger:
				return batch, nil
			}
		}
		if _, dup := ids[r.id]; dup {
			return batch, r
		}
		ids[r.id] = struct{}{}
		batch = append(batch, r)
	}
	return batch, nil
}

// complete waits for one coalesced entry and answers its writes.
func (s *Store) complete(in inflight) {
	err := s.mapRaftErr(s.futureError(in.fut))
	var res *registry.Result
	if err == nil {
		res, _ = in.fut.Response().(*registry.Result)
		if res == nil {
			err = errors.New("raft returned no result for the entry")
		} else if res.Err != nil && (len(in.reqs) == 1 || len(res.Errs) == 0) {
			err = res.Err
		}
	}
	now := time.Now()
	for i, r := range in.reqs {
		s.metrics.applyDuration.Observe(now.Sub(r.start).Seconds())
		if err != nil {
			r.done <- writeResp{err: err}
			continue
		}
		resp := writeResp{index: in.fut.Index()}
		if len(in.reqs) > 1 && i < len(res.Errs) && res.Errs[i] != nil {
			resp.err = res.Errs[i]
		} else if r.register {
			resp.inst = storedInstance(res, i, len(in.reqs) == 1)
		}
		r.done <- resp
	}
	if res != nil {
		releaseResult(res)
	}
}

// releaseResult empties an entry's result once its writers have their
// answers. Raft's log cache keeps a pointer into the entry's future, and so
// its response, for the next logCacheSize entries; a coalesced entry's
// result holds a copy of every instance it registered.
func releaseResult(res *registry.Result) {
	*res = registry.Result{Index: res.Index, Err: res.Err}
}

// storedInstance finds the instance as stored by a registration: the
// result's instance for a lone entry, the sub-command's in a coalesced one.
func storedInstance(res *registry.Result, i int, alone bool) registry.Instance {
	if alone {
		return res.Instance
	}
	if i < len(res.Stored) && res.Stored[i] != nil {
		return *res.Stored[i]
	}
	return registry.Instance{}
}

// Reap removes instances the way lease expiry followed by deregister_after
// does, in one log entry (marked critical, then removed): no tombstone, so
// an instance's next heartbeat answers 404 and its client registers it
// again. Unknown ids are skipped. It is the operation behind rostertest's
// Forget, and a way to clear instances without blocking their ids for ten
// minutes.
func (s *Store) Reap(ctx context.Context, ids ...string) (uint64, error) {
	updates := make([]registry.StatusUpdate, 0, len(ids))
	for _, id := range ids {
		if err := registry.ValidateID(id); err != nil {
			return 0, fmt.Errorf("reap %s: %w", id, err)
		}
		if _, ok := s.catalog.Instance(id); ok {
			updates = append(updates, registry.StatusUpdate{ID: id, Status: api.StatusCritical, KeepOutput: true})
		}
	}
	now := time.Now().UnixNano()
	idx, err := s.applyEntry(ctx, registry.EncodeBatch([][]byte{registry.EncodeStatus(updates, now), registry.EncodeReap(ids, now)}))
	if err != nil {
		return 0, fmt.Errorf("reap %s: %w", strings.Join(ids, ","), err)
	}
	return idx, nil
}

// shutdownFutureWait is how long a stopping store still waits for an
// entry's future once Raft is shutting down.
const shutdownFutureWait = 2 * time.Second

// futureError waits for fut like fut.Error, but gives up shortly after the
// store starts stopping: hashicorp/raft can drop a committed entry's future
// unanswered when it shuts down (seen as a Close that never returned, the
// write batcher waiting on it for good); its writers are told the store
// closed. The goroutine left waiting on such a future ends with the process.
func (s *Store) futureError(fut raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	select {
	case err := <-errc:
		return err
	case <-s.stop:
	}
	select {
	case err := <-errc:
		return err
	case <-time.After(shutdownFutureWait):
		s.log.Warn("raft did not answer an entry's future while shutting down; its writes are answered as failed")
		return errClosed
	}
}
