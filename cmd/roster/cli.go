package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/client"
)

// cliVerb describes one CLI verb for `roster --help`.
type cliVerb struct {
	Name, Usage, Summary string
	Run                  func(args []string, stdout, stderr io.Writer) int
}

// Exit codes of the CLI verbs (documented in docs/client.md and --help).
const (
	exitOK          = 0 // done
	exitError       = 1 // any other failure
	exitUsage       = 2 // bad flags or arguments, or the server rejected the input as invalid
	exitNotFound    = 3 // no such instance, or a lookup matched nothing
	exitUnavailable = 4 // no leader, not ready, or no server reachable
	exitDenied      = 5 // the ACL token lacks the permission (403)
)

// exitCodesHelp is appended to every verb's -h.
const exitCodesHelp = `
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 not found (no such
instance, or nothing matched), 4 cluster unavailable (no leader, not ready,
or no server reachable), 5 permission denied (the --token lacks it).
`

// cliVerbs lists every verb except `server` and `version` (main.go owns those).
var cliVerbs = []cliVerb{
	{Name: "register", Usage: "register [flags]", Summary: "register an instance (-f: keep it alive until interrupted)", Run: cliMain("register", runRegister)},
	{Name: "deregister", Usage: "deregister SVC ID", Summary: "remove an instance", Run: cliMain("deregister", runDeregister)},
	{Name: "maintenance", Usage: "maintenance enable|disable SVC ID", Summary: "take an instance out of discovery, or put it back (--reason)", Run: cliMain("maintenance", runMaintenance)},
	{Name: "heartbeat", Usage: "heartbeat SVC ID", Summary: "renew an instance's TTL once (--status, --output)", Run: cliMain("heartbeat", runHeartbeat)},
	{Name: "lookup", Usage: "lookup SVC", Summary: "list a service's instances (table or --json)", Run: cliMain("lookup", runLookup)},
	{Name: "watch", Usage: "watch SVC", Summary: "print a service's instances and every change", Run: cliMain("watch", runWatch)},
	{Name: "services", Usage: "services", Summary: "list every service with counts by status", Run: cliMain("services", runServices)},
	{Name: "members", Usage: "members", Summary: "list the servers: gossip state and Raft role", Run: cliMain("members", runMembers)},
	{Name: "status", Usage: "status", Summary: "leader, Raft configuration and readiness", Run: cliMain("status", runStatus)},
	{Name: "leases", Usage: "leases", Summary: "the leader's lease table and expiry protection", Run: cliMain("leases", runLeases)},
	{Name: "snapshot", Usage: "snapshot save FILE", Summary: "download a backup (snapshot restore FILE restores one)", Run: cliMain("snapshot", runSnapshot)},
	{Name: "leave", Usage: "leave", Summary: "make the server at --addr leave the cluster", Run: cliMain("leave", runLeave)},
	{Name: "raft", Usage: "raft remove-peer", Summary: "raft remove-peer ID: remove a stuck server from Raft", Run: cliMain("raft", runRaft)},
	{Name: "acl", Usage: "acl bootstrap|token", Summary: "ACL tokens: bootstrap, token create|list|delete", Run: cliMain("acl", runACL)},
	{Name: "keyring", Usage: "keyring list|install|use|remove", Summary: "rotate the gossip key on every server without restarts", Run: cliMain("keyring", runKeyring)},
	{Name: "keygen", Usage: "keygen", Summary: "print a new gossip encryption key for --gossip-key", Run: runKeygen},
	{Name: "tls", Usage: "tls ca|cert create", Summary: "make a private CA and server or client certificates here", Run: runTLS},
}

// envTimeout is the environment variable that sets --timeout's default.
const envTimeout = "ROSTER_TIMEOUT"

// cliEnv is what every verb gets: its I/O and a client factory bound to
// the common flags.
type cliEnv struct {
	stdout, stderr io.Writer
	addr           string
	timeout        time.Duration
	jsonOut        bool
	// envErr is a bad ROSTER_TIMEOUT, reported when the flags are parsed.
	envErr error
	tls    cliTLS
}

// verbFunc runs one verb until ctx ends (SIGINT or SIGTERM).
type verbFunc func(ctx context.Context, env *cliEnv, args []string) int

// cliMain turns a verbFunc into a cliVerb.Run: the context ends on SIGINT or
// SIGTERM, so long-running verbs (watch, register -f) clean up.
func cliMain(name string, fn verbFunc) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return fn(ctx, &cliEnv{stdout: stdout, stderr: stderr}, args)
	}
}

// flags returns a FlagSet for a verb with the common flags (--addr,
// --timeout, and --json when withJSON) bound to env.
func (e *cliEnv) flags(name, usage, help string, withJSON bool) *flag.FlagSet {
	fs := flag.NewFlagSet("roster "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv(client.EnvAddr)
	if def == "" {
		def = client.DefaultAddr
	}
	fs.StringVar(&e.addr, "addr", def, "server HTTP address(es), comma-separated (env "+client.EnvAddr+")")
	timeout := 30 * time.Second
	if v := os.Getenv(envTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			e.envErr = fmt.Errorf("%s=%q: want a duration such as 10s or 2m", envTimeout, v)
		} else {
			timeout = d
		}
	}
	fs.DurationVar(&e.timeout, "timeout", timeout, "give up after this long (0: never; env "+envTimeout+")")
	e.tls.flags(fs)
	if withJSON {
		fs.BoolVar(&e.jsonOut, "json", false, "print JSON instead of a table")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: roster %s\n\n%s\n\nFlags:\n", usage, help)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exitCodesHelp)
	}
	return fs
}

// parse parses flags and positional arguments in any order and checks the
// number of positional arguments. It returns the exit code to use when it
// fails (0 after -h).
func (e *cliEnv) parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, int, bool) {
	var pos []string
	// The flag package prints errors and the usage itself; it is silenced
	// so that help goes to stdout (once) and an error to stderr (once).
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(e.stderr)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.stdout)
				fs.Usage()
				return nil, exitOK, false
			}
			fmt.Fprintf(e.stderr, "%s: %v (-h for help)\n", fs.Name(), err)
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.SetOutput(e.stderr)
	if len(pos) < minPos || maxPos >= 0 && len(pos) > maxPos {
		fmt.Fprintf(e.stderr, "%s: wrong number of arguments\n", fs.Name())
		fs.Usage()
		return nil, exitUsage, false
	}
	if e.envErr != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", fs.Name(), e.envErr)
		return nil, exitUsage, false
	}
	for _, a := range strings.Split(e.addr, ",") {
		if err := client.CheckAddr(strings.TrimSpace(a)); err != nil {
			fmt.Fprintf(e.stderr, "%s: --addr %q: %v\n", fs.Name(), a, err)
			return nil, exitUsage, false
		}
	}
	return pos, exitOK, true
}

// client returns a client for --addr.
func (e *cliEnv) client() (*client.Client, error) {
	tlsCfg, err := e.tls.config()
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{Addrs: strings.Split(e.addr, ","), TLS: tlsCfg, Token: e.tls.token})
}

// withTimeout bounds a one-shot verb by --timeout.
func (e *cliEnv) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.timeout)
}

// fail prints err and returns the exit code it maps to.
func (e *cliEnv) fail(verb string, err error) int {
	fmt.Fprintln(e.stderr, describe(verb, err))
	return exitCode(err)
}

// describe says what went wrong once: a server's answer is its message (it
// names the operation already) with the status and code, an unreachable
// server is its address and the network error, and everything else drops
// the client's "roster: METHOD /path" layers, which name the request, not
// the problem.
func describe(verb string, err error) string {
	prefix := func(msg string) string {
		if strings.HasPrefix(msg, verb+" ") {
			return "roster " + msg
		}
		return "roster " + verb + ": " + msg
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		msg := ae.Message
		if msg == "" {
			msg = http.StatusText(ae.Status)
		}
		// What the caller added before the client's "roster: METHOD /path"
		// layer: kept when it says more than the server's message does.
		if outer, _, ok := strings.Cut(err.Error(), "roster: "); ok {
			if ctx := strings.TrimSuffix(outer, ": "); ctx != "" && !strings.HasPrefix(msg, ctx) {
				if ae.Status == http.StatusForbidden {
					msg = ctx + ": " + msg // the permission missing is the point
				} else {
					msg = ctx
				}
			}
		}
		return prefix(fmt.Sprintf("%s [%d %s]", msg, ae.Status, ae.Code))
	}
	if errors.Is(err, client.ErrUnreachable) {
		var ue *url.Error
		if errors.As(err, &ue) {
			host := ue.URL
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
			msg := fmt.Sprintf("no server reachable at %s: %v", host, ue.Err)
			if errors.Is(err, client.ErrNotHTTP) {
				msg += " (it closed the connection without an HTTP answer: is --addr a Roster HTTP address? DNS listens on 8600, HTTP on 8500)"
			}
			return prefix(msg)
		}
	}
	return prefix(strings.ReplaceAll(err.Error(), "roster: ", ""))
}

// exitCode maps an error onto the documented exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrGone):
		return exitNotFound
	case errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrUnreachable):
		return exitUnavailable
	case client.IsInvalid(err):
		return exitUsage
	case errors.Is(err, client.ErrDenied):
		return exitDenied
	}
	return exitError
}

// printJSON writes v indented.
func (e *cliEnv) printJSON(v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(e.stderr, "roster: write output: %v\n", err)
		return exitError
	}
	return exitOK
}

// multiFlag is a repeatable flag that keeps each value whole (tags may
// contain commas).
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// metaFlag is a repeatable k=v flag.
type metaFlag map[string]string

func (m metaFlag) String() string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m metaFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	m[k] = val
	return nil
}
