package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/rosterhq/roster/node"
)

// addSecurityFlags binds the security flags of design.md's contract.
func (sf *serverFlags) addSecurityFlags() {
	fs, c := sf.fs, &sf.cfg.Security
	fs.StringVar(&c.TLSCert, "tls-cert", "", "this server's certificate (PEM): the HTTP API serves HTTPS only and Raft is mutual TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "the CA certificate (PEM) that signs every server's and client's certificate")
	fs.BoolVar(&c.TLSVerifyIncoming, "tls-verify-incoming", false, "the HTTP API requires client certificates signed by --tls-ca")
	fs.StringVar(&c.GossipKey, "gossip-key", "", "base64 gossip encryption key, 16, 24 or 32 bytes (roster keygen); servers without it are not admitted; comma-separated during a rotation, the first one used to send")
	fs.BoolVar(&c.ACL, "acl", false, "require ACL tokens (roster acl bootstrap makes the first); see docs/security.md")
	fs.StringVar(&c.ACLDefault, "acl-default", "", "what requests without a token may do with --acl: read (default) or deny")
}

// reloadOnHUP re-reads the node's certificates on each SIGHUP until the
// returned stop is called.
func reloadOnHUP(n *node.Node) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				n.ReloadTLS() // logs its outcome
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
