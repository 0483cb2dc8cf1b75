package raftstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

// A follower learns that a write is committed from the leader's answer
// (WaitLeaderApplied) instead of the leader's next AppendEntries, which
// here comes only after a CommitTimeout of a minute: the follower applies
// at once what its log holds with the leader's term, and nothing on a
// word that does not match its log.
func TestCommitHintAppliesWhatTheLeaderAnswered(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.commitTimeout = time.Minute })
	leader := c.waitForLeader()
	f := c.followers()[0]
	ctx := ctxT(t)

	idx, err := c.registerOnLeader(ctx, testInstance("api", "hinted-1"))
	if err != nil {
		t.Fatal(err)
	}
	term := leader.EntryTerm(idx)
	if term == 0 {
		t.Fatalf("the leader has no term for its own entry %d", idx)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if f.raft.LastIndex() < idx {
			return errors.New("the follower has not stored the entry yet")
		}
		return nil
	})
	if got := f.applied.load(); got >= idx {
		t.Fatalf("the follower applied %d before any hint: the test cannot tell the hint's effect", got)
	}

	// A word that does not match the follower's log changes nothing.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := f.WaitLeaderApplied(short, idx, term+1); err == nil {
		t.Fatal("a hint with another term was taken")
	}
	if got := f.applied.load(); got >= idx {
		t.Fatalf("a hint with a wrong term applied up to %d", got)
	}

	// The leader's word applies it within a fraction of CommitTimeout.
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := f.WaitLeaderApplied(wctx, idx, term); err != nil {
		t.Fatalf("the follower did not apply %d on the leader's word: %v", idx, err)
	}
	if _, ok := f.Catalog().Instance("hinted-1"); !ok {
		t.Fatal("applied, but the instance is not in the follower's catalog")
	}
	t.Logf("applied on the hint in %v (commit timeout %v)", time.Since(start), time.Minute)

	// A hint for an entry the follower has not stored yet waits for it.
	next := leader.raft.LastIndex() + 1
	done := make(chan error, 1)
	go func() {
		hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
		defer hcancel()
		done <- f.WaitLeaderApplied(hctx, next, term)
	}()
	retry.Eventually(t, 5*time.Second, func() error {
		if f.rpcs.pendingHint().index != next {
			return errors.New("the hint is not pending yet")
		}
		return nil
	})
	if _, err := c.registerOnLeader(ctx, testInstance("api", "hinted-2")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("a hint that came before its entry: %v", err)
	}
	if _, ok := f.Catalog().Instance("hinted-2"); !ok {
		t.Fatal("the second instance is not in the follower's catalog")
	}
}
