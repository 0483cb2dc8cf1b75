package raftstore

import (
	"context"
	"sync/atomic"

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
