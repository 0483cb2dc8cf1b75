package raftstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/registry"
)

// fsm adapts registry.Catalog to raft.FSM (and raft.BatchingFSM): it applies
// commands in log order, feeds the lease table every change, tracks the
// applied index for WaitApplied, and stops applying (without skipping) at a
// command version it does not know.
type fsm struct {
	catalog *registry.Catalog
	lessor  *lease.Lessor
	applied *appliedIndex
	snaps   raft.SnapshotStore
	log     *slog.Logger
	metrics *metrics
	// stop is closed by Store.Close; a halted FSM blocks on it.
	stop <-chan struct{}
	// halted holds the error that stopped applying, if any.
	halted atomic.Pointer[error]
	// armed reports whether this server's lease table is armed (leader),
	// so a restore re-arms it.
	armed func() bool
	// beforeApply is Config.beforeApply (tests).
	beforeApply func(last uint64, stop <-chan struct{})
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM: one applied-index advance (one
// wake-up of waiters) per batch instead of per entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if f.beforeApply != nil && len(logs) > 0 {
		f.beforeApply(logs[len(logs)-1].Index, f.stop)
	}
	if err := f.haltErr(); err != nil {
		// Only reached while shutting down after a halt: apply nothing more.
		for i, l := range logs {
			out[i] = &registry.Result{Index: l.Index, Err: err}
		}
		return out
	}
	var last uint64
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			// Configuration entries reach the FSM only to advance the index.
			last = l.Index
			continue
		}
		res := f.catalog.Apply(l.Index, l.Data)
		if res.Err != nil && (errors.Is(res.Err, registry.ErrUnknownVersion) || errors.Is(res.Err, registry.ErrCorrupt)) {
			if last > 0 {
				f.applied.set(last)
			}
			f.haltAt(l.Index, res.Err)
			out[i] = res
			for j := i + 1; j < len(logs); j++ {
				out[j] = &registry.Result{Index: logs[j].Index, Err: res.Err}
			}
			return out
		}
		if len(res.Changed) > 0 {
			f.lessor.Observe(res.Changed)
		}
		dropChanges(res)
		out[i] = res
		last = l.Index
	}
	if last > 0 {
		f.applied.set(last)
	}
	return out
}

// dropChanges forgets what a result changed once the lease table has seen
// it: nothing else reads it, and on the leader the result lives on in Raft's
// log cache (which holds a pointer into each entry's future, response
// included) for the next logCacheSize entries. At 100,000 instances those
// copies of every changed instance cost tens of megabytes.
func dropChanges(res *registry.Result) {
	res.Changed = nil
}

// haltAt stops this server applying: design.md "Upgrades" says a server that
// meets a version it does not know (or an entry it cannot decode) never
// skips an entry. It reports unready
// and blocks Raft's FSM goroutine until the store closes, so that neither
// this entry nor any later one is marked applied.
func (f *fsm) haltAt(index uint64, err error) {
	err = fmt.Errorf("log entry %d: %w", index, err)
	f.halted.Store(&err)
	f.metrics.fsmHalted.Set(1)
	f.log.Error("stopped applying the Raft log: an entry has a command version this server does not know or is corrupt",
		"index", index, "err", err)
	f.applied.halt(err)
	<-f.stop
}

func (f *fsm) haltErr() error {
	if p := f.halted.Load(); p != nil {
		return *p
	}
	return nil
}

// Snapshot implements raft.FSM; the catalog's snapshot is cheap to take and
// persisted concurrently with later applies.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.catalog.Snapshot(), index: f.applied.load(), log: f.log, metrics: f.metrics}, nil
}

// Restore implements raft.FSM. Raft restores the newest snapshot in the
// store in every path (startup, install from the leader, user restore), so
// the snapshot's index is the newest listed one's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var index uint64
	if metas, err := f.snaps.List(); err == nil && len(metas) > 0 {
		index = metas[0].Index
	}
	start := time.Now()
	if err := f.catalog.Restore(bufio.NewReaderSize(rc, 256<<10), index); err != nil {
		return fmt.Errorf("restore catalog at index %d: %w", index, err)
	}
	f.lessor.Reset(f.catalog)
	if f.armed() {
		f.lessor.Promote()
	}
	f.applied.set(index)
	f.metrics.restores.Inc()
	f.log.Info("restored catalog from snapshot", "index", index, "duration", time.Since(start))
	return nil
}

type fsmSnapshot struct {
	snap    *registry.Snapshot
	index   uint64
	log     *slog.Logger
	metrics *metrics
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	w := bufio.NewWriterSize(sink, 256<<10)
	n, err := s.snap.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	d := time.Since(start)
	s.metrics.snapshots.Inc()
	s.metrics.snapshotDuration.Observe(d.Seconds())
	s.log.Info("snapshot persisted", "applied_index", s.index, "bytes", n, "duration", d)
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}
