package raftstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BareNode is one server of a bare hashicorp/raft cluster built exactly as
// a Store builds its own (the same bolt log and stable store with fsync, log
// cache, file snapshot store, TCP transport and Raft settings) but with a
// state machine that does nothing. It is the limit the store's write path
// is measured against (scripts/bench-register.sh, bench/bareraft): whatever
// a Store is slower by is the cost of the catalog, the write batcher and the
// front ends, not of the log.
type BareNode struct {
	id    string
	dir   string
	cfg   Config
	hcl   hclog.Logger
	trans *raft.NetworkTransport
	raft  *raft.Raft
	bolt  *raftboltdb.BoltStore
}

// BarePeer names one voter of a bare cluster.
type BarePeer struct {
	ID, Addr string
}

// ListenBareNode opens the Raft transport of a bare node on bind (port 0
// takes any free port, see Addr); Bootstrap then starts Raft.
func ListenBareNode(id, dir, bind string) (*BareNode, error) {
	n := &BareNode{id: id, dir: dir, cfg: Config{NodeName: id, DataDir: dir, RaftAddr: bind}}
	if err := n.cfg.setDefaults(); err != nil {
		return nil, err
	}
	n.hcl = newHCLog(n.cfg.Logger, "raft")
	stream, err := listenRaft(bind, "", "")
	if err != nil {
		return nil, err
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: n.hcl.Named("transport"),
	})
	return n, nil
}

// Addr is the node's Raft address.
func (n *BareNode) Addr() string { return string(n.trans.LocalAddr()) }

// Bootstrap opens the node's stores in its directory and starts Raft with
// peers (this node among them) as the initial configuration; every node of
// the cluster bootstraps with the same peers.
func (n *BareNode) Bootstrap(peers []BarePeer) error {
	if err := os.MkdirAll(n.dir, 0o750); err != nil {
		return fmt.Errorf("bare node %s: %w", n.id, err)
	}
	bolt, err := openBolt(filepath.Join(n.dir, raftDBFile))
	if err != nil {
		return err
	}
	n.bolt = bolt
	cache, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return fmt.Errorf("bare node %s: log cache: %w", n.id, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.dir, snapshotsRetained, n.hcl)
	if err != nil {
		return fmt.Errorf("bare node %s: open snapshot store: %w", n.id, err)
	}
	r, err := raft.NewRaft(raftConfig(&n.cfg, n.id, nil, n.hcl), nopFSM{}, cache, bolt, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("bare node %s: start raft: %w", n.id, err)
	}
	n.raft = r
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
	}
	if err := r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bare node %s: bootstrap: %w", n.id, err)
	}
	return nil
}

// IsLeader reports whether this node leads its cluster.
func (n *BareNode) IsLeader() bool { return n.raft != nil && n.raft.State() == raft.Leader }

// Barrier waits until every entry before it is applied on this node, the
// leader (so that a measurement starts after the election's own entries).
func (n *BareNode) Barrier(timeout time.Duration) error {
	return n.raft.Barrier(timeout).Error()
}

// Apply appends cmd to the log and waits until it is committed and applied
// (by the do-nothing state machine): one entry, one round of the log.
func (n *BareNode) Apply(cmd []byte, timeout time.Duration) error {
	return n.raft.Apply(cmd, timeout).Error()
}

// Close stops Raft and releases the transport and the stores.
func (n *BareNode) Close() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
	}
	err = errors.Join(err, n.trans.Close())
	if n.bolt != nil {
		err = errors.Join(err, n.bolt.Close())
	}
	return err
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                             {}
