package raftstore

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// leaderCommitTransport hands Raft its RPCs unchanged and records the
// highest commit index a leader has sent in AppendEntries. hashicorp/raft
// keeps that number to itself (a follower's CommitIndex is capped by what
// it has appended so far, and is 0 after a restart until the first
// AppendEntries), so without it a restarted follower that is thousands of
// entries behind looks caught up to readiness (design.md, "Readiness":
// applied within 250 of the leader's commit index).
type leaderCommitTransport struct {
	*raft.NetworkTransport
	out    chan raft.RPC
	commit atomic.Uint64
	peers  peerStats

	// Commit hints (see hint). raft is set once Raft runs, before any
	// hint; hintWake holds at most one pending wake-up of run.
	raft     func() raftProgress
	hintMu   sync.Mutex
	pending  commitHint // the highest pending hint, zero when none
	hintWake chan struct{}
	lastAE   *aeSender // who sent the last AppendEntries, and in what term (run's alone)
}

// raftProgress is what the hints need of the local Raft: its state, term,
// last log index and commit index.
type raftProgress struct {
	follower           bool
	term, last, commit uint64
}

// aeSender is the header and term of an AppendEntries, without its
// entries (not kept alive).
type aeSender struct {
	header raft.RPCHeader
	term   uint64
}

// commitHint is a leader's word that the entry at index, of term, is
// applied (so committed) on the leader.
type commitHint struct{ index, term uint64 }

func newLeaderCommitTransport(t *raft.NetworkTransport) *leaderCommitTransport {
	return &leaderCommitTransport{NetworkTransport: t, out: make(chan raft.RPC), hintWake: make(chan struct{}, 1)}
}

// Consumer implements raft.Transport.
func (t *leaderCommitTransport) Consumer() <-chan raft.RPC { return t.out }

// leaderCommit is the highest commit index a leader has sent this server
// since it started; 0 until the first AppendEntries.
func (t *leaderCommitTransport) leaderCommit() uint64 { return t.commit.Load() }

// run forwards RPCs until ctx ends (the store closes). Heartbeats do not
// pass here (the network transport hands them to Raft's fast path) and
// carry no commit index anyway.
func (t *leaderCommitTransport) run(ctx context.Context) {
	in := t.NetworkTransport.Consumer()
	stored := make(chan struct{}, 1) // an AppendEntries that a hint waited on was answered
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				for {
					cur := t.commit.Load()
					if req.LeaderCommitIndex <= cur || t.commit.CompareAndSwap(cur, req.LeaderCommitIndex) {
						break
					}
				}
				t.lastAE = &aeSender{header: req.RPCHeader, term: req.Term}
				if t.pendingHint().index != 0 {
					// A hint waits for its entry: look again once Raft has
					// taken this request (stored its entries).
					rpc = notifyAnswered(rpc, stored)
				}
			}
			if !t.deliver(ctx, rpc) {
				return
			}
		case <-t.hintWake:
			if !t.tryHint(ctx) {
				return
			}
		case <-stored:
			if !t.tryHint(ctx) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// deliver hands rpc to Raft; false when ctx ended first.
func (t *leaderCommitTransport) deliver(ctx context.Context, rpc raft.RPC) bool {
	select {
	case t.out <- rpc:
		return true
	case <-ctx.Done():
		rpc.Respond(nil, raft.ErrRaftShutdown)
		return false
	}
}

// Commit hints (issue #18). hashicorp/raft tells a follower that an entry
// is committed only in the leader's next AppendEntries, which goes when
// the leader has stored newer entries or after CommitTimeout (50 ms): a
// write forwarded through a follower, answered by the leader once
// applied there, then waited at the follower for that next round (a
// second pair of fsyncs, or the timeout when no other write came) before
// the follower had applied it and could answer its client. The leader's
// answer says more: the write's index and the term of its entry. hint
// turns that into the AppendEntries the leader would have sent, with no
// entries: PrevLogEntry index, PrevLogTerm term, LeaderCommitIndex index,
// under the leader's header and term from its last real AppendEntries.
// Raft checks it as any other: refused unless the term is still the
// current one and the local log holds an entry at index of that term,
// which (Log Matching) makes the local log up to index the leader's, whose
// entry there is committed. So it applies nothing that is not committed,
// whatever a hint says; a wrong hint is refused and changes nothing.

// hint takes a leader's word that the entry at index, of term, is applied
// on the leader, and has Raft apply up to it once the local log holds
// that entry. It never blocks.
func (t *leaderCommitTransport) hint(index, term uint64) {
	if index == 0 || term == 0 || t.raft == nil {
		return
	}
	t.hintMu.Lock()
	if index <= t.pending.index {
		t.hintMu.Unlock()
		return
	}
	t.pending = commitHint{index: index, term: term}
	t.hintMu.Unlock()
	select {
	case t.hintWake <- struct{}{}:
	default:
	}
}

func (t *leaderCommitTransport) pendingHint() commitHint {
	t.hintMu.Lock()
	defer t.hintMu.Unlock()
	return t.pending
}

// tryHint sends Raft the pending hint's AppendEntries if the local log
// holds its entry, drops it if it is moot, and keeps it otherwise (run
// looks again when the next AppendEntries has been stored). false when
// ctx ended.
func (t *leaderCommitTransport) tryHint(ctx context.Context) bool {
	h := t.pendingHint()
	if h.index == 0 {
		return true
	}
	p := t.raft()
	if !p.follower || h.index <= p.commit || t.lastAE == nil || t.lastAE.term != p.term {
		t.clearHint(h)
		return true
	}
	if h.index > p.last {
		return true // not stored yet
	}
	t.clearHint(h)
	ae := t.lastAE
	req := &raft.AppendEntriesRequest{
		RPCHeader:         ae.header,
		Term:              ae.term,
		PrevLogEntry:      h.index,
		PrevLogTerm:       h.term,
		LeaderCommitIndex: h.index,
	}
	return t.deliver(ctx, raft.RPC{Command: req, RespChan: make(chan raft.RPCResponse, 1)})
}

// clearHint drops h unless a newer hint replaced it.
func (t *leaderCommitTransport) clearHint(h commitHint) {
	t.hintMu.Lock()
	if t.pending == h {
		t.pending = commitHint{}
	}
	t.hintMu.Unlock()
}

// notifyAnswered returns rpc with its answer passed on through a channel
// of its own, and a wake-up on stored once Raft has answered it.
func notifyAnswered(rpc raft.RPC, stored chan<- struct{}) raft.RPC {
	orig := rpc.RespChan
	mine := make(chan raft.RPCResponse, 1)
	rpc.RespChan = mine
	go func() {
		resp := <-mine
		orig <- resp
		select {
		case stored <- struct{}{}:
		default:
		}
	}()
	return rpc
}

// The outgoing RPCs name the server they are meant for (withTarget), so a
// process that answers at a server's old address under another id refuses
// them (tcpStreamLayer.Dial). AppendEntries, which carries the heartbeats,
// also records what each follower answered, for the leader's health view.

// AppendEntries implements raft.Transport.
func (t *leaderCommitTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, withTarget(id, target), args, resp)
	if err == nil {
		t.peers.record(id, resp.Term, resp.LastLog)
	}
	return err
}

// AppendEntriesPipeline implements raft.Transport.
func (t *leaderCommitTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	return t.NetworkTransport.AppendEntriesPipeline(id, withTarget(id, target))
}

// RequestVote implements raft.Transport.
func (t *leaderCommitTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.NetworkTransport.RequestVote(id, withTarget(id, target), args, resp)
}

// RequestPreVote implements raft.WithPreVote.
func (t *leaderCommitTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.NetworkTransport.RequestPreVote(id, withTarget(id, target), args, resp)
}

// InstallSnapshot implements raft.Transport.
func (t *leaderCommitTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	return t.NetworkTransport.InstallSnapshot(id, withTarget(id, target), args, resp, data)
}

// TimeoutNow implements raft.Transport.
func (t *leaderCommitTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.NetworkTransport.TimeoutNow(id, withTarget(id, target), args, resp)
}

// peerStat is what a follower last answered this leader.
type peerStat struct {
	at      time.Time
	term    uint64
	lastLog uint64
}

// peerStats records, per follower, its last answer to AppendEntries: the
// leader's own measure of last contact, which hashicorp/raft keeps to
// itself.
type peerStats struct {
	mu sync.Mutex
	m  map[raft.ServerID]peerStat
}

func (p *peerStats) record(id raft.ServerID, term, lastLog uint64) {
	now := time.Now()
	p.mu.Lock()
	if p.m == nil {
		p.m = map[raft.ServerID]peerStat{}
	}
	p.m[id] = peerStat{at: now, term: term, lastLog: lastLog}
	p.mu.Unlock()
}

func (p *peerStats) get(id raft.ServerID) (peerStat, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.m[id]
	return st, ok
}
