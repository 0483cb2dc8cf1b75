package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Environment variables naming the TLS files a client uses when
// Config.TLS is not set (the CLI's --tls-ca, --tls-cert and --tls-key).
const (
	EnvTLSCA   = "ROSTER_TLS_CA"
	EnvTLSCert = "ROSTER_TLS_CERT"
	EnvTLSKey  = "ROSTER_TLS_KEY"
)

// TLSFiles builds a client TLS configuration: servers are checked against
// the CA in caFile (the system roots when empty), and the certificate in
// certFile and keyFile is presented to servers that require client
// certificates (--tls-verify-incoming). Both cert and key, or neither.
func TLSFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("roster client: tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("roster client: tls ca %s holds no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("roster client: a tls certificate and its key go together")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("roster client: tls certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// tlsFromEnv is TLSFiles of the ROSTER_TLS_* variables, nil when none is set.
func tlsFromEnv() (*tls.Config, error) {
	ca, cert, key := os.Getenv(EnvTLSCA), os.Getenv(EnvTLSCert), os.Getenv(EnvTLSKey)
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	return TLSFiles(ca, cert, key)
}
