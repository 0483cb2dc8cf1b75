package node

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/internal/tlsconf"
	"github.com/rosterhq/roster/raftstore"
)

// SecurityConfig is a server's TLS and gossip encryption (docs/security.md).
type SecurityConfig struct {
	// TLSCert and TLSKey are this server's certificate and key (PEM); with
	// them the HTTP API serves HTTPS only and Raft is mutual TLS.
	TLSCert, TLSKey string
	// TLSCA is the CA that signs every server's (and client's) certificate.
	TLSCA string
	// TLSVerifyIncoming makes the HTTP API require client certificates
	// signed by TLSCA.
	TLSVerifyIncoming bool
	// TLSReloadInterval is how often the certificate files are checked for
	// changes (default 5s); SIGHUP (Node.ReloadTLS) reloads at once.
	TLSReloadInterval time.Duration
	// GossipKey is the base64 gossip encryption key (16, 24 or 32 bytes,
	// `roster keygen`); a server without it is not admitted to gossip.
	// During a rotation it is a comma-separated list: gossip is sent
	// encrypted with the first key and accepted under any of them.
	GossipKey string
	// ACL enables ACL tokens (docs/security.md); ACLDefault is what a
	// request without a token may do: "read" (the default) or "deny".
	ACL        bool
	ACLDefault string
}

// DefaultTLSReloadInterval is how often certificate files are checked.
const DefaultTLSReloadInterval = 5 * time.Second

// validate reports the first error of the security flags.
func (s SecurityConfig) validate() error {
	files := s.files()
	if err := files.Validate(); err != nil {
		return err
	}
	if s.TLSVerifyIncoming && !files.Enabled() {
		return fmt.Errorf("--tls-verify-incoming needs --tls-cert, --tls-key and --tls-ca")
	}
	if s.ACLDefault != "" {
		if _, err := acl.ParseDefault(s.ACLDefault); err != nil {
			return err
		}
		if !s.ACL {
			return fmt.Errorf("--acl-default needs --acl")
		}
	}
	_, err := decodeGossipKeys(s.GossipKey)
	return err
}

func (s SecurityConfig) files() tlsconf.Files {
	return tlsconf.Files{Cert: s.TLSCert, Key: s.TLSKey, CA: s.TLSCA}
}

// decodeGossipKeys decodes a comma-separated list of base64 keys.
func decodeGossipKeys(list string) ([][]byte, error) {
	var out [][]byte
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		b, err := decodeGossipKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// decodeGossipKey decodes a base64 key of 16, 24 or 32 bytes.
func decodeGossipKey(k string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return nil, fmt.Errorf("--gossip-key: not base64: %w", err)
	}
	if n := len(b); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("--gossip-key: %d bytes: want 16, 24 or 32 (roster keygen makes one)", n)
	}
	return b, nil
}

// security is what a node holds of its TLS set-up.
type security struct {
	tls    *tlsconf.Holder // nil without TLS
	cancel context.CancelFunc
	done   chan struct{}
}

// startSecurity loads the certificates and starts watching their files.
func (n *Node) startSecurity() error {
	sc := n.cfg.Security
	if !sc.files().Enabled() {
		if sc.GossipKey == "" {
			n.log.Warn("running without --gossip-key and TLS: anyone who reaches the gossip port can join as a server, and "+
				"HTTP, Raft and gossip travel in plain text; see docs/security.md", "component", "security")
		} else {
			n.log.Warn("running without TLS: HTTP and Raft travel in plain text and any client may write; see docs/security.md", "component", "security")
		}
		return nil
	}
	if sc.GossipKey == "" {
		n.log.Warn("running without --gossip-key: gossip travels in plain text and anyone who reaches the gossip port sees the members "+
			"(Raft still refuses servers without a certificate of the CA); see docs/security.md", "component", "security")
	}
	h, err := tlsconf.Load(sc.files(), n.log)
	if err != nil {
		return err
	}
	n.sec.tls = h
	interval := sc.TLSReloadInterval
	if interval <= 0 {
		interval = DefaultTLSReloadInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.sec.cancel, n.sec.done = cancel, make(chan struct{})
	go func() {
		defer close(n.sec.done)
		h.Watch(ctx, interval)
	}()
	return nil
}

// stopSecurity stops the certificate watcher; safe without TLS.
func (n *Node) stopSecurity() {
	if n.sec.cancel != nil {
		n.sec.cancel()
		<-n.sec.done
		n.sec.cancel = nil
	}
}

// peerTLS is the Raft mutual TLS configuration, nil without TLS.
func (n *Node) peerTLS() *raftstore.PeerTLS {
	if n.sec.tls == nil {
		return nil
	}
	return &raftstore.PeerTLS{Server: n.sec.tls.PeerServer(), Client: n.sec.tls.PeerClient()}
}

// forwardTLS is the configuration followers forward to the leader with.
func (n *Node) forwardTLS() *tls.Config {
	if n.sec.tls == nil {
		return nil
	}
	return n.sec.tls.PeerClient()
}

// gossipKeys are the decoded gossip keys (validated already), the primary first.
func (n *Node) gossipKeys() [][]byte {
	keys, _ := decodeGossipKeys(n.cfg.Security.GossipKey)
	return keys
}

// httpListener wraps the HTTP listener in TLS when it is configured.
func (n *Node) httpListener(ln net.Listener) net.Listener {
	if n.sec.tls == nil {
		return ln
	}
	return tls.NewListener(ln, n.sec.tls.HTTPServer(n.cfg.Security.TLSVerifyIncoming))
}

// TLS reports whether the HTTP API serves HTTPS.
func (n *Node) TLS() bool { return n.sec.tls != nil }

// ReloadTLS re-reads the certificate files now (what SIGHUP does); new
// connections use the new certificates, established ones keep going. On an
// error the previous certificates stay in use.
func (n *Node) ReloadTLS() error {
	if n.sec.tls == nil {
		return nil
	}
	if err := n.sec.tls.Reload(); err != nil {
		n.log.Error("tls reload failed, keeping the previous certificate", "component", "tls", "reason", "reload", "err", err)
		return err
	}
	n.log.Info("tls certificates reloaded", "component", "tls", "reason", "reload")
	return nil
}

// aclConfig is the HTTP front ends' access control, the zero value without --acl.
func (n *Node) aclConfig() httpapi.ACLConfig {
	sc := n.cfg.Security
	if !sc.ACL {
		return httpapi.ACLConfig{}
	}
	def := acl.DefaultRead
	if sc.ACLDefault != "" {
		def, _ = acl.ParseDefault(sc.ACLDefault) // validated
	}
	cat := n.store.Catalog()
	cfg := httpapi.ACLConfig{
		Resolver: &acl.Resolver{Default: def, Lookup: func(hash string) (string, []string, bool) {
			t, ok := cat.TokenBySecretHash(hash)
			return t.Accessor, t.Rules, ok
		}},
		Store: n.store,
	}
	if n.cfg.Store.DataDir != "" && !n.cfg.Store.Dev {
		cfg.ResetFile = filepath.Join(n.cfg.Store.DataDir, httpapi.ResetFileName)
	}
	return cfg
}
