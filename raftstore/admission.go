package raftstore

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Admission of a new server to the Raft configuration under TLS: before
// the leader adds a server it learned of through gossip, it completes a
// mutual TLS handshake with the server's Raft address. A server whose
// certificate the cluster's CA did not sign is thus never added (not even
// as a non-voter that would only fail to receive entries), and an alive
// server's gossip name cannot be claimed by one without a certificate to
// have the real entry replaced.

const (
	// admissionTimeout bounds the probe handshake; reconcile runs in the
	// leader's loop, so it must stay short.
	admissionTimeout = time.Second
	// admissionBackoff is how long a refused server is not probed again.
	admissionBackoff = 10 * time.Second
)

// admission remembers recent refusals so a refused server costs one
// handshake per admissionBackoff, not one per reconciliation.
type admission struct {
	mu      sync.Mutex
	refused map[string]time.Time // id@addr -> when refused
}

// admit reports whether the server id at raftAddr may be added: always
// without TLS; with TLS only after a successful mutual handshake.
func (s *Store) admit(id, raftAddr string) bool {
	if s.cfg.PeerTLS == nil {
		return true
	}
	key := id + "@" + raftAddr
	a := &s.admission
	a.mu.Lock()
	if at, ok := a.refused[key]; ok && time.Since(at) < admissionBackoff {
		a.mu.Unlock()
		return false
	}
	a.mu.Unlock()
	err := probeTLS(raftAddr, s.cfg.PeerTLS.Client)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		delete(a.refused, key)
		return true
	}
	if a.refused == nil {
		a.refused = map[string]time.Time{}
	}
	a.refused[key] = time.Now()
	s.metrics.tlsRefused.Inc()
	s.log.Warn("not adding a server to raft: its tls handshake failed (no certificate of the cluster's CA)",
		"id", id, "raft", raftAddr, "err", err)
	return false
}

// probeTLS completes a TLS handshake with addr and closes the connection
// without sending anything (the peer's stream layer drops it as it would
// any connection that ends before its first message).
func probeTLS(addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), admissionTimeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
