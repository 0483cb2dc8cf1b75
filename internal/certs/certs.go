// Package certs makes a private certificate authority and the server and
// client certificates it signs (ECDSA P-256), for `roster tls` and tests.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names in the directory `roster tls` works in.
const (
	CAFile    = "roster-ca.pem"
	CAKeyFile = "roster-ca-key.pem"
)

// ServerName is a name every server certificate carries, so a client may
// check "this is a Roster server of this CA" by name when it reaches
// servers by addresses not in their certificates.
const ServerName = "server.roster"

// Default lifetimes: a CA for 5 years, a leaf for 1 year.
const (
	CADays   = 5 * 365
	LeafDays = 365
)

// CA is a certificate authority that can sign certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
}

// NewCA makes a self-signed CA valid for days.
func NewCA(commonName string, days int) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ca key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Roster"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, keyPEM, nil
}

// LoadCA reads a CA certificate and key from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load ca %s and %s: %w", certFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ca key %s is not an ECDSA key", keyFile)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", pair.Certificate[0])}, nil
}

// Leaf says what a signed certificate is for.
type Leaf struct {
	// Server certificates may serve and dial (servers call each other);
	// client certificates only dial.
	Server bool
	// CommonName defaults to ServerName for servers and "client.roster" for clients.
	CommonName string
	DNS        []string
	IPs        []net.IP
	Days       int
}

// Sign makes a key and a certificate for leaf, both PEM encoded.
func (ca *CA) Sign(leaf Leaf) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	if leaf.Days <= 0 {
		leaf.Days = LeafDays
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().AddDate(0, 0, leaf.Days),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     leaf.DNS,
		IPAddresses:  leaf.IPs,
	}
	tmpl.Subject.CommonName = leaf.CommonName
	if leaf.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = append(append([]string{ServerName}, leaf.DNS...), "localhost")
		tmpl.IPAddresses = append(append([]net.IP{}, leaf.IPs...), net.IPv4(127, 0, 0, 1))
		if tmpl.Subject.CommonName == "" {
			tmpl.Subject.CommonName = ServerName
		}
	} else if tmpl.Subject.CommonName == "" {
		tmpl.Subject.CommonName = "client.roster"
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), keyPEM, nil
}

// WriteNew writes data to dir/name, refusing to overwrite an existing file;
// keys are written readable by the owner only.
func WriteNew(dir, name string, data []byte, private bool) (string, error) {
	path := filepath.Join(dir, name)
	mode := os.FileMode(0o644)
	if private {
		mode = 0o600
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s already exists: not overwritten", path)
		}
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, f.Close()
}

// NextFree returns the first "<prefix>-N" (N = 0, 1, ...) for which neither
// <prefix>-N.pem nor <prefix>-N-key.pem exists in dir.
func NextFree(dir, prefix string) string {
	for n := 0; ; n++ {
		base := fmt.Sprintf("%s-%d", prefix, n)
		_, e1 := os.Stat(filepath.Join(dir, base+".pem"))
		_, e2 := os.Stat(filepath.Join(dir, base+"-key.pem"))
		if errors.Is(e1, os.ErrNotExist) && errors.Is(e2, os.ErrNotExist) {
			return base
		}
	}
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
