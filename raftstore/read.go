package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ConsistentRead confirms leadership and waits until the local catalog has
// applied everything committed before the call, so a read after it is
// linearizable (the read-index method). A follower answers ErrNotLeader.
func (s *Store) ConsistentRead(ctx context.Context) error {
	if err := s.leaderErr(); err != nil {
		return err
	}
	// A new leader's commit index covers every earlier term's entry only
	// once its barrier ran (then the lease table is armed too).
	for !s.armed.Load() {
		if err := s.leaderErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	commit := s.raft.CommitIndex()
	if err := s.waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return fmt.Errorf("consistent read: %w", err)
	}
	return s.WaitApplied(ctx, commit)
}

// WaitLeaderApplied is WaitApplied for a write the leader answered: the
// leader has applied index, and its log's entry there has term. With that
// word a follower applies up to index as soon as its own log holds the
// entry, instead of when the leader's next AppendEntries tells it the
// commit (see leaderCommitTransport.hint); a word that does not match the
// local log changes nothing. term 0 is WaitApplied.
func (s *Store) WaitLeaderApplied(ctx context.Context, index, term uint64) error {
	if term != 0 && s.applied.load() < index {
		s.rpcs.hint(index, term)
	}
	return s.WaitApplied(ctx, index)
}

// EntryTerm is the term of the local log's entry at index, 0 when the log
// no longer (or does not yet) hold it. A leader tells it with a forwarded
// write's answer (WaitLeaderApplied).
func (s *Store) EntryTerm(index uint64) uint64 {
	var l raft.Log
	if index == 0 || s.logs.GetLog(index, &l) != nil {
		return 0
	}
	return l.Term
}

// WaitApplied blocks until the local catalog has applied index, ctx ends,
// or the server stopped applying (an unknown command version).
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	for {
		if s.applied.load() >= index {
			return nil
		}
		if err := s.fsm.haltErr(); err != nil {
			return err
		}
		target, known := s.commandTarget(index)
		if known {
			return s.applied.wait(ctx, target)
		}
		// The entry is not in the local log yet, so it may turn out to be a
		// no-op that never reaches the catalog: wait, then look again.
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := s.applied.wait(wctx, index)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return err // applying stopped
		}
	}
}

// commandTarget maps index to the last entry at or below it that reaches
// the catalog (a command or a configuration change): no-op and barrier
// entries never do, so waiting for them would wait for the next write.
// known is false when index is not in the local log yet.
func (s *Store) commandTarget(index uint64) (target uint64, known bool) {
	applied := s.applied.load()
	var l raft.Log
	for i := index; i > applied; i-- {
		if err := s.logs.GetLog(i, &l); err != nil {
			if i == index && i > s.raft.LastIndex() {
				return index, false
			}
			// Compacted into a snapshot: applied already covers it.
			return i, true
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, true
		}
	}
	return applied, true
}
