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
}

func newLeaderCommitTransport(t *raft.NetworkTransport) *leaderCommitTransport {
	return &leaderCommitTransport{NetworkTransport: t, out: make(chan raft.RPC)}
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
			}
			select {
			case t.out <- rpc:
			case <-ctx.Done():
				rpc.Respond(nil, raft.ErrRaftShutdown)
				return
			}
		case <-ctx.Done():
			return
		}
	}
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
