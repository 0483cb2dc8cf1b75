package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/rosterhq/roster/internal/certs"
)

// runKeygen prints a new random 32-byte gossip key for --gossip-key.
func runKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roster keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: roster keygen\n\nPrints a new random gossip encryption key (32 bytes, base64) for --gossip-key.\n"+exitCodesHelp)
	}
	if wantsHelp(args) {
		fs.SetOutput(stdout) // help asked for goes to stdout
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roster keygen: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintf(stderr, "roster keygen: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key))
	return exitOK
}

const tlsUsage = `Usage:
  roster tls ca create [--days N]
  roster tls cert create --server|--client [--dns NAME]... [--ip IP]... [--days N]

Makes a private certificate authority and the certificates it signs
(ECDSA P-256) in the current directory: roster-ca.pem and roster-ca-key.pem,
then roster-server-N.pem / roster-server-N-key.pem (or roster-client-N…),
with N the first free number. Existing files are never overwritten.
Server certificates also name server.roster, localhost and 127.0.0.1, and
serve both as server and client certificates (servers dial each other).
Keep roster-ca-key.pem offline: whoever holds it can make servers.
`

// runTLS runs `roster tls ca create` and `roster tls cert create`.
func runTLS(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, tlsUsage+exitCodesHelp)
			return exitOK
		}
		fmt.Fprint(stderr, tlsUsage+exitCodesHelp)
		return exitUsage
	}
	fs := flag.NewFlagSet("roster tls "+args[0]+" create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tlsUsage+"\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exitCodesHelp)
	}
	dir := fs.String("dir", ".", "directory to write into and read the CA from")
	days := fs.Int("days", 0, fmt.Sprintf("validity in days (default %d for a CA, %d for a certificate)", certs.CADays, certs.LeafDays))
	var server, clientCert bool
	var dns, ips stringList
	if args[0] == "cert" {
		fs.BoolVar(&server, "server", false, "a server certificate")
		fs.BoolVar(&clientCert, "client", false, "a client certificate (CLI, applications; for --tls-verify-incoming)")
		fs.Var(&dns, "dns", "a DNS name the certificate is valid for (repeatable)")
		fs.Var(&ips, "ip", "an IP address the certificate is valid for (repeatable)")
	}
	if wantsHelp(args[2:]) {
		fs.SetOutput(stdout)
	}
	if err := fs.Parse(args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage
	}
	if args[0] == "ca" {
		return tlsCreateCA(*dir, *days, stdout, stderr)
	}
	if server == clientCert {
		fmt.Fprintf(stderr, "%s: give exactly one of --server and --client\n", fs.Name())
		return exitUsage
	}
	var parsed []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			fmt.Fprintf(stderr, "%s: --ip %q is not an IP address\n", fs.Name(), s)
			return exitUsage
		}
		parsed = append(parsed, ip)
	}
	return tlsCreateCert(*dir, certs.Leaf{Server: server, DNS: dns, IPs: parsed, Days: *days}, stdout, stderr)
}

func tlsCreateCA(dir string, days int, stdout, stderr io.Writer) int {
	if days <= 0 {
		days = certs.CADays
	}
	ca, keyPEM, err := certs.NewCA("Roster CA", days)
	if err != nil {
		fmt.Fprintf(stderr, "roster tls ca create: %v\n", err)
		return exitError
	}
	// The key first: a CA certificate without its key is no use, and an
	// existing key must never be replaced under existing certificates.
	keyPath, err := certs.WriteNew(dir, certs.CAKeyFile, keyPEM, true)
	if err != nil {
		fmt.Fprintf(stderr, "roster tls ca create: %v\n", err)
		return exitError
	}
	certPath, err := certs.WriteNew(dir, certs.CAFile, ca.CertPEM, false)
	if err != nil {
		fmt.Fprintf(stderr, "roster tls ca create: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "wrote %s\nwrote %s\n", certPath, keyPath)
	return exitOK
}

func tlsCreateCert(dir string, leaf certs.Leaf, stdout, stderr io.Writer) int {
	name := "roster tls cert create"
	ca, err := certs.LoadCA(dir+"/"+certs.CAFile, dir+"/"+certs.CAKeyFile)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (run roster tls ca create first)\n", name, err)
		return exitError
	}
	certPEM, keyPEM, err := ca.Sign(leaf)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	kind := "client"
	if leaf.Server {
		kind = "server"
	}
	base := certs.NextFree(dir, "roster-"+kind)
	certPath, err := certs.WriteNew(dir, base+".pem", certPEM, false)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	keyPath, err := certs.WriteNew(dir, base+"-key.pem", keyPEM, true)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	fmt.Fprintf(stdout, "wrote %s\nwrote %s\n", certPath, keyPath)
	if len(leaf.DNS)+len(leaf.IPs) > 0 {
		var names []string
		names = append(names, leaf.DNS...)
		for _, ip := range leaf.IPs {
			names = append(names, ip.String())
		}
		fmt.Fprintf(stdout, "valid for %s\n", strings.Join(names, ", "))
	}
	return exitOK
}

// wantsHelp reports whether args ask for help (-h, --help, -help).
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}
