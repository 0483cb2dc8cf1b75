// Command roster is the Roster service registry: `roster server` runs a
// server; every other verb is a CLI that talks to a server over HTTP.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch verb := args[0]; verb {
	case "-h", "--help", "-help", "help":
		usage(stdout)
		return 0
	case "version", "--version", "-version":
		return runVersion(args[1:], stdout, stderr)
	case "server":
		return runServer(args[1:], stdout, stderr)
	case "gateway":
		return runGateway(args[1:], stdout, stderr)
	default:
		for _, v := range cliVerbs {
			if v.Name == verb {
				return v.Run(args[1:], stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "roster: unknown command %q\n\n", verb)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Roster is a lightweight service discovery registry.

Usage:
  roster server [flags]     run a server (roster server --help lists every flag)
  roster gateway [flags]    run an HTTP gateway routed by Roster (roster gateway --help)
  roster version            print the version
`)
	for _, v := range cliVerbs {
		fmt.Fprintf(w, "  roster %-18s %s\n", v.Usage, v.Summary)
	}
	fmt.Fprint(w, `
Every CLI command takes --addr (default $ROSTER_ADDR or 127.0.0.1:8500; a
host without a port means port 8500), --timeout (default $ROSTER_TIMEOUT or
30s) and -h; the listing commands take --json.
With TLS and ACLs: --tls-ca, --tls-cert, --tls-key and --token (or
$ROSTER_TLS_CA, $ROSTER_TLS_CERT, $ROSTER_TLS_KEY, $ROSTER_TOKEN).
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 not found,
4 unavailable (no leader, not ready, or no server reachable), 5 permission denied.
`)
}

// buildVersion is the version set at link time, else the module version, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
