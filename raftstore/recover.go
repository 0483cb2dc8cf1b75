package raftstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/registry"
)

// Outage recovery files in the data dir (hashicorp/raft's peers.json
// procedure; docs/operations.md, "Recovering from losing quorum").
const (
	peersFile        = "peers.json"
	peersAppliedFile = "peers.json.applied"
	// legacyPeersFile is where Consul and Nomad keep peers.json; Roster
	// has no raft/ subdirectory, so a file there is reported, not read.
	legacyPeersFile = "raft/peers.json"
)

// recoverFromPeersJSON forces the Raft configuration written by an operator
// in DataDir/peers.json after a loss of quorum. It must run before
// raft.NewRaft. raft.RecoverCluster replays the newest snapshot and the whole
// log into a throwaway FSM, writes a snapshot carrying the new configuration
// and compacts the log; the store's own FSM restores that snapshot when
// Raft starts. The file is then renamed to peers.json.applied so that a
// later restart does not recover again. It reports whether it recovered.
func recoverFromPeersJSON(dataDir string, rc *raft.Config, logs raft.LogStore, stable raft.StableStore,
	snaps raft.SnapshotStore, trans raft.Transport, log *slog.Logger,
) (bool, error) {
	if _, err := os.Stat(filepath.Join(dataDir, legacyPeersFile)); err == nil {
		log.Error("ignoring "+legacyPeersFile+": Roster reads the recovery file from the data dir itself",
			"want", filepath.Join(dataDir, peersFile))
	}
	path := filepath.Join(dataDir, peersFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("peers.json recovery: %w", err)
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return false, fmt.Errorf("peers.json recovery: read %s: %w", path, err)
	}
	if !hasVoter(conf, rc.LocalID) {
		// This server would come up without a vote and never elect anyone:
		// almost certainly a wrong id copied into the file.
		return false, fmt.Errorf("peers.json recovery: %s does not list this server (id %s) as a voter", path, rc.LocalID)
	}
	tmp := newRecoveryFSM(snaps, log)
	if err := raft.RecoverCluster(rc, tmp, logs, stable, snaps, trans, conf); err != nil {
		return false, fmt.Errorf("peers.json recovery: %w", err)
	}
	if err := os.Rename(path, filepath.Join(dataDir, peersAppliedFile)); err != nil {
		return false, fmt.Errorf("peers.json recovery: recovered, but could not rename %s (remove it before the next start): %w", path, err)
	}
	servers := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		servers = append(servers, fmt.Sprintf("%s@%s(%s)", s.ID, s.Address, s.Suffrage))
	}
	log.Warn("recovered the Raft configuration from peers.json: every entry in this server's log is now committed",
		"servers", servers, "applied_index", tmp.applied.load(), "renamed_to", peersAppliedFile)
	return true, nil
}

func hasVoter(conf raft.Configuration, id raft.ServerID) bool {
	for _, s := range conf.Servers {
		if s.ID == id && s.Suffrage == raft.Voter {
			return true
		}
	}
	return false
}

// recoveryFSM is the throwaway FSM RecoverCluster replays the log into (its
// documentation asks for one that is then discarded). It refuses to take the
// snapshot if an entry could not be applied (an unknown command version), so
// a recovery never writes a snapshot that silently skips entries: the log
// and snapshots stay untouched and the error reaches the operator.
type recoveryFSM struct {
	*fsm
}

func newRecoveryFSM(snaps raft.SnapshotStore, log *slog.Logger) *recoveryFSM {
	stop := make(chan struct{})
	close(stop) // a halt must not block: the check is in Snapshot
	cat := registry.New()
	return &recoveryFSM{fsm: &fsm{
		catalog: cat,
		lessor:  lease.NewLessor(lease.Config{Catalog: cat, Logger: log}),
		applied: &appliedIndex{},
		snaps:   snaps,
		log:     log.With("phase", "peers.json recovery"),
		metrics: newMetrics(),
		stop:    stop,
		armed:   func() bool { return false },
	}}
}

// Snapshot implements raft.FSM.
func (r *recoveryFSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := r.haltErr(); err != nil {
		return nil, fmt.Errorf("the log cannot be replayed, nothing was changed: %w", err)
	}
	return r.fsm.Snapshot()
}
