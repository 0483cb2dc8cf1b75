// Package tlsconf builds the TLS configurations of a Roster server (its
// HTTPS API, mutual TLS between servers) from certificate files that it
// re-reads on demand, so certificates rotate without a restart.
package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of a server's TLS identity.
type Files struct {
	// Cert and Key are the certificate chain and private key this server
	// presents, both as a server and as a client of other servers.
	Cert, Key string
	// CA holds the certificates of the authority that signs every server
	// (and client) certificate of the cluster.
	CA string
}

// Enabled reports whether any TLS file is set.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Validate reports a set of files that cannot make a TLS identity: a cert
// without its key or the reverse, or server TLS without a CA to check peers.
func (f Files) Validate() error {
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.Cert != "" && f.CA == "" {
		return errors.New("--tls-cert needs --tls-ca: servers check each other's certificates against it")
	}
	if f.CA != "" && f.Cert == "" {
		return errors.New("--tls-ca needs --tls-cert and --tls-key")
	}
	return nil
}

// Holder keeps the current certificate and CA pool read from Files; the
// configurations it builds ask it at each handshake, so Reload takes effect
// for every new connection at once while established ones keep going.
type Holder struct {
	files Files
	log   *slog.Logger

	mu    sync.RWMutex
	cert  *tls.Certificate
	pool  *x509.CertPool
	stamp []byte // what the files looked like at the last load (see fileStamp)
}

// Load reads the files once; an error names the file and the cause.
func Load(files Files, log *slog.Logger) (*Holder, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Holder{files: files, log: log}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// LoadCertificate reads a certificate and key that are served without a CA
// of their own (a gateway terminating TLS for browsers and clients): only
// HTTPServer(false) may be used with it.
func LoadCertificate(cert, key string, log *slog.Logger) (*Holder, error) {
	if cert == "" || key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Holder{files: Files{Cert: cert, Key: key}, log: log}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload reads the files again. On an error (a half-written file) the
// previous certificate stays in use.
func (h *Holder) Reload() error {
	stamp := fileStamp(h.files)
	cert, err := tls.LoadX509KeyPair(h.files.Cert, h.files.Key)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", h.files.Cert, h.files.Key, err)
	}
	var pool *x509.CertPool
	if h.files.CA != "" {
		pem, err := os.ReadFile(h.files.CA)
		if err != nil {
			return fmt.Errorf("tls: read ca %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: %s holds no PEM certificate", h.files.CA)
		}
	}
	h.mu.Lock()
	h.cert, h.pool, h.stamp = &cert, pool, stamp
	h.mu.Unlock()
	return nil
}

// Watch reloads the files whenever their size or modification time change,
// checking every interval until ctx ends; each reload is logged.
func (h *Holder) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.RLock()
		old := h.stamp
		h.mu.RUnlock()
		if bytes.Equal(old, fileStamp(h.files)) {
			continue
		}
		h.ReloadAndLog("file change")
	}
}

// ReloadAndLog reloads and logs the outcome with why it reloaded.
func (h *Holder) ReloadAndLog(why string) {
	if err := h.Reload(); err != nil {
		h.log.Error("tls reload failed, keeping the previous certificate", "component", "tls", "reason", why, "err", err)
		return
	}
	h.log.Info("tls certificates reloaded", "component", "tls", "reason", why, "cert", h.files.Cert)
}

// fileStamp summarizes the files' sizes and modification times (following
// symlinks, so a Kubernetes secret swap counts).
func fileStamp(f Files) []byte {
	var b []byte
	for _, name := range []string{f.Cert, f.Key, f.CA} {
		if st, err := os.Stat(name); err == nil {
			b = fmt.Appendf(b, "%s:%d:%d;", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b
}

func (h *Holder) current() (*tls.Certificate, *x509.CertPool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cert, h.pool
}

// base is what every Roster TLS configuration shares: TLS 1.2 or later
// with only AEAD, forward-secret cipher suites (TLS 1.3's are fixed).
func base() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// HTTPServer is the configuration of the HTTPS API. With verifyIncoming,
// clients must present a certificate the CA signed.
func (h *Holder) HTTPServer(verifyIncoming bool) *tls.Config {
	c := base()
	c.NextProtos = []string{"h2", "http/1.1"}
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := h.current()
		cc := base()
		cc.NextProtos = []string{"h2", "http/1.1"}
		cc.Certificates = []tls.Certificate{*cert}
		if verifyIncoming {
			cc.ClientAuth = tls.RequireAndVerifyClientCert
			cc.ClientCAs = pool
		}
		return cc, nil
	}
	return c
}

// PeerServer is the configuration a server accepts other servers' Raft
// connections with: mutual TLS, the peer's certificate signed by the CA.
func (h *Holder) PeerServer() *tls.Config {
	c := base()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := h.current()
		cc := base()
		cc.Certificates = []tls.Certificate{*cert}
		cc.ClientAuth = tls.RequireAndVerifyClientCert
		cc.ClientCAs = pool
		return cc, nil
	}
	return c
}

// PeerClient is the configuration a server dials another server with
// (Raft, and HTTPS forwarding to the leader): it presents its own
// certificate and accepts a peer whose certificate chains to the CA.
// Servers are addressed by IP and known by their Raft id, not a host name,
// so the peer's name is not checked: the CA is the cluster's, and what it
// signed is a member (Consul's default, verify_server_hostname=false).
func (h *Holder) PeerClient() *tls.Config {
	c := base()
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, _ := h.current()
		return cert, nil
	}
	c.InsecureSkipVerify = true // replaced by VerifyConnection below
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: peer presented no certificate")
		}
		_, pool := h.current()
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return fmt.Errorf("tls: peer certificate: %w", err)
		}
		return nil
	}
	return c
}
