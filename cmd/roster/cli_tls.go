package main

import (
	"crypto/tls"
	"flag"
	"os"

	"github.com/rosterhq/roster/client"
)

// cliTLS holds the TLS flags every CLI verb takes (defaults from
// $ROSTER_TLS_CA, $ROSTER_TLS_CERT and $ROSTER_TLS_KEY).
type cliTLS struct {
	ca, cert, key string
	token         string // the ACL token (--token, $ROSTER_TOKEN)
}

func (t *cliTLS) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "tls-ca", os.Getenv(client.EnvTLSCA), "CA certificate that signed the servers' certificates (env "+client.EnvTLSCA+"); addresses then default to https")
	fs.StringVar(&t.cert, "tls-cert", os.Getenv(client.EnvTLSCert), "client certificate, for servers with --tls-verify-incoming (env "+client.EnvTLSCert+")")
	fs.StringVar(&t.key, "tls-key", os.Getenv(client.EnvTLSKey), "key of --tls-cert (env "+client.EnvTLSKey+")")
	fs.StringVar(&t.token, "token", os.Getenv(client.EnvToken), "ACL token for servers with --acl (env "+client.EnvToken+")")
}

// config is the client TLS configuration, nil when no TLS flag is set.
func (t *cliTLS) config() (*tls.Config, error) {
	if t.ca == "" && t.cert == "" && t.key == "" {
		return nil, nil
	}
	return client.TLSFiles(t.ca, t.cert, t.key)
}
