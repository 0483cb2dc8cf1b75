package raftstore

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Rejoin backoff (design.md, "Rejoin"): quick at first, so a restarted
// server is back within a second or two, then slower, with jitter so that
// servers restarted together do not retry in step.
const (
	joinBackoffMin = 200 * time.Millisecond
	joinBackoffMax = 15 * time.Second
	// joinRecheck is how often a joined server checks that it still has
	// company; one that finds itself alone starts joining again.
	joinRecheck = 5 * time.Second
)

// runJoin keeps this server in the gossip pool with --retry-join semantics:
// while it sees no other alive server it tries every address it knows of,
// the --join addresses (host names resolved again on every try, so names
// from compose or Kubernetes that resolve only later work) and the gossip
// addresses of the servers it saw before (servers.json), backing off with
// jitter; serf's snapshot rejoins the previous members as well. It never
// depends on a --join address being another server: the first server of a
// cluster, restarted with --join pointing at itself, rejoins the others.
func (s *Store) runJoin(ctx context.Context) {
	backoff := joinBackoffMin
	wait := time.Duration(0)
	for attempt := 1; ; {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if s.gossip.aliveOthers() > 0 {
			attempt, backoff, wait = 1, joinBackoffMin, joinRecheck
			continue
		}
		addrs := s.joinTargets()
		if len(addrs) == 0 {
			wait = joinRecheck
			continue
		}
		s.metrics.joinAttempts.Inc()
		n, err := s.serf.Join(addrs, true)
		if n > 0 && s.gossip.aliveOthers() > 0 {
			s.log.Info("joined the gossip pool", "contacted", n, "join", strings.Join(addrs, ","), "attempt", attempt)
			attempt, backoff, wait = 1, joinBackoffMin, joinRecheck
			continue
		}
		s.log.Warn("joining the gossip pool failed; retrying", "join", strings.Join(addrs, ","), "attempt", attempt,
			"retry_in", backoff.Round(time.Millisecond), "err", err)
		attempt++
		wait = backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, joinBackoffMax)
	}
}

// joinTargets lists the gossip addresses to try: --join and the known
// servers, without this server's own.
func (s *Store) joinTargets() []string {
	self := map[string]bool{s.GossipAddr(): true, s.cfg.GossipAddr: true}
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !self[a] && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range s.cfg.Join {
		add(a)
	}
	for _, k := range s.known.all() {
		if k.ID != s.id && k.Name != s.cfg.NodeName {
			add(k.Gossip)
		}
	}
	return out
}

// mkdirFor creates the directory that will hold path.
func mkdirFor(path string) error {
	return os.MkdirAll(filepath.Dir(path), 0o750)
}
