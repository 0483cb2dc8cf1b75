package raftstore

import (
	"context"
	"fmt"
	"log"
	"net"
	"path/filepath"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/rosterhq/roster/internal/listen"
)

// Serf settings. Failed members are kept (and retried) for three days, so a
// server that was down over a weekend is still known, reconnected and
// re-added when it comes back. Reconnection is tried every 2 s (serf picks
// a failed member with probability failed/alive each time): a server that
// comes back knowing no one (the README's first server, wiped, which
// --joins only itself) is found by the others within seconds.
const (
	serfSnapshotFile      = "serf/local.snapshot"
	serfReconnectInterval = 2 * time.Second
	serfReconnectTimeout  = 72 * time.Hour
	serfTombstoneTimeout  = 72 * time.Hour
	serfEventBuffer       = 256
	deadNodeReclaimTime   = 30 * time.Second
	pushPullInterval      = 5 * time.Second
)

// startSerf starts gossip membership (serf over memberlist) with this
// server's tags. With a data dir, serf keeps a snapshot of the members it
// saw there and, on the next start, rejoins them at once (Consul's way).
func (s *Store) startSerf() (*serf.Serf, error) {
	host, port, err := splitHostPort(s.cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", s.cfg.GossipAddr, err)
	}
	if err := probeGossipPort(s.cfg.GossipAddr); err != nil {
		return nil, err
	}
	mc := memberlist.DefaultLANConfig()
	mc.BindAddr = host
	mc.BindPort = port
	if s.cfg.AdvertiseAddr != "" {
		mc.AdvertiseAddr = s.cfg.AdvertiseAddr
		mc.AdvertisePort = port
	}
	mc.Label = gossipLabel
	// Gossip goes uncompressed: the pool is only servers, whose messages
	// are small, and LZW's writer (a fresh table per message) was half of
	// what an idle server allocated (400 KB/s; 200 KB/s without) and 1 MB/s
	// under write load while followers publish their applied index. A
	// server still receives compressed messages from earlier builds:
	// memberlist decodes them whatever it sends.
	mc.EnableCompression = false
	// A server restarted under its name on another address (a new host,
	// a new container IP) may take the name over once the old one has
	// been dead this long; memberlist's default (0) never allows it.
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	// Full state syncs every 5 s instead of 30: the pool is only servers
	// (3 to 7), and a sync is how a server restarted wiped under its old
	// name and address, which answers the others' pings before they see it
	// fail and so is never reconnected, refutes its old self and shows its
	// new id (seen: not found within 40 s at 30 s syncs).
	mc.PushPullInterval = pushPullInterval
	keys, keyring, err := s.gossipKeyring()
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		// Every message is encrypted with the primary key, and one that no
		// key of the ring opens is dropped: a server without the key never
		// becomes a member, so never reaches Raft. GossipVerifyIncoming and
		// GossipVerifyOutgoing are memberlist's defaults (true).
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
		mc.Keyring = kr
	}
	mc.LogOutput = nil
	mc.Logger = log.New(&levelWriter{l: s.cfg.Logger.With("component", "memberlist")}, "", 0)
	if s.cfg.gossipTuning != nil {
		s.cfg.gossipTuning(mc)
	}

	events := make(chan serf.Event, serfEventBuffer)
	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = s.cfg.NodeName
	sc.Tags = s.gossip.selfMeta().tags()
	sc.MemberlistConfig = mc
	sc.EventCh = events
	sc.Merge = s.gossip
	sc.Logger = log.New(&levelWriter{l: s.cfg.Logger.With("component", "serf")}, "", 0)
	sc.ReconnectInterval = serfReconnectInterval
	sc.ReconnectTimeout = serfReconnectTimeout
	sc.TombstoneTimeout = serfTombstoneTimeout
	// A server that left and is started again wants to be back in.
	sc.RejoinAfterLeave = true
	// No name-conflict resolution: in it the newer claimant of a name
	// shuts its gossip down for good when outvoted, which is what a wiped
	// server restarted on a new address is while the others still think
	// its old self alive. Refused instead, it is admitted once the old one
	// is dead for deadNodeReclaimTime (the push/pull sync carries it).
	sc.EnableNameConflictResolution = false
	sc.KeyringFile = keyring // serf rewrites it after each key change
	if s.cfg.serfTuning != nil {
		s.cfg.serfTuning(sc)
	}
	if !s.cfg.Dev {
		sc.SnapshotPath = filepath.Join(s.cfg.DataDir, serfSnapshotFile)
		if err := mkdirFor(sc.SnapshotPath); err != nil {
			return nil, err
		}
	}
	sf, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", s.cfg.GossipAddr, err)
	}
	s.gossip.mu.Lock()
	s.gossip.serf = sf
	s.gossip.mu.Unlock()
	s.goLoop(func(ctx context.Context) { s.runSerfEvents(ctx, events) })
	return sf, nil
}

// probeGossipPort binds the gossip address (TCP and UDP) and releases it,
// so that a busy port is reported in one plain line before memberlist's
// own, longer error.
func probeGossipPort(addr string) error {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		return nil // any free port: nothing to report
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listen.Error("gossip", addr, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return listen.Error("gossip", addr+" (udp)", err)
	}
	pc.Close()
	return nil
}

// runSerfEvents follows serf's member events until the store closes.
func (s *Store) runSerfEvents(ctx context.Context, events <-chan serf.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if me, ok := e.(serf.MemberEvent); ok {
				s.gossip.handle(me)
				s.known.observe(s.gossip.snapshot())
			}
		}
	}
}
