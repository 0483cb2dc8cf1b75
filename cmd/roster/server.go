package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/internal/memlimit"
	"github.com/rosterhq/roster/node"
)

// serverFlags binds every server flag to a node.Config. Each flag can also be
// set through the environment as ROSTER_<NAME> (upper case, '-' as '_');
// a flag given on the command line wins over the environment.
type serverFlags struct {
	fs        *flag.FlagSet
	cfg       node.Config
	join      stringList
	logLevel  string
	logFormat string
	shutdown  time.Duration
	pprofAddr string
}

// stringList is a repeatable flag; from the environment it is comma-separated.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func newServerFlags(stderr io.Writer) *serverFlags {
	sf := &serverFlags{fs: flag.NewFlagSet("roster server", flag.ContinueOnError)}
	fs, c := sf.fs, &sf.cfg
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	fs.StringVar(&c.Store.NodeName, "node", host, "server name in the cluster")
	fs.StringVar(&c.Store.DataDir, "data-dir", node.DefaultDataDir, "directory for the Raft log, snapshots and the server id")
	fs.BoolVar(&c.Store.Dev, "dev", false, "single in-memory server that bootstraps at once (no data dir; deregister_after may be 1s)")
	fs.StringVar(&c.HTTPAddr, "http-addr", node.DefaultHTTPAddr, "HTTP API listen address")
	fs.StringVar(&c.DNSAddr, "dns-addr", node.DefaultDNSAddr, "DNS listen address (UDP and TCP)")
	fs.StringVar(&c.Store.RaftAddr, "raft-addr", node.DefaultRaftAddr, "Raft listen address")
	fs.StringVar(&c.Store.GossipAddr, "gossip-addr", node.DefaultGossipAddr, "gossip (memberlist) listen address, TCP and UDP")
	fs.StringVar(&c.Store.AdvertiseAddr, "advertise-addr", "", "IP address other servers reach this one at (NAT, containers); default: the bind address")
	fs.Var(&sf.join, "join", "gossip address of any cluster member (repeatable)")
	fs.IntVar(&c.Store.BootstrapExpect, "bootstrap-expect", 0, "wait until this many servers are seen through gossip, then form the cluster")
	fs.StringVar(&c.DNS.Domain, "domain", node.DefaultDomain, "DNS domain served")
	fs.DurationVar(&c.DNS.TTL, "dns-ttl", 0, "TTL of DNS answers for services")
	fs.BoolVar(&c.DNS.AllowWarning, "dns-allow-warning", false, "DNS also serves instances in warning (HTTP always does)")
	fs.IntVar(&c.DNS.MaxRecords, "dns-max-records", 0, "most records in one DNS answer (0: 64; another query gets another shuffled subset)")
	fs.IntVar(&c.Store.RaftMultiplier, "raft-multiplier", 1, "scale Raft timeouts (1 for a LAN; raise on slow or shared machines)")
	fs.DurationVar(&c.Store.DeadServerGrace, "dead-server-grace", time.Minute, "how long a failed server stays in the Raft configuration before the leader removes it (only while quorum is safe)")
	fs.BoolVar(&c.Store.LeaveOnTerminate, "leave-on-terminate", false, "leave the Raft configuration on SIGTERM (default: stay a member and rejoin on restart)")
	fs.IntVar(&c.HTTP.MaxWatchers, "max-watchers", 0, "maximum concurrent blocking queries and event streams (0: default)")
	fs.Float64Var(&c.HTTP.WriteRate, "client-write-rate", 0, "write requests (registrations, deregistrations, heartbeat requests) per second one client address may send, bursts of twice that (0: 1000; -1: no limit); past it 429 with Retry-After")
	fs.Float64Var(&c.HTTP.HeartbeatRate, "client-heartbeat-rate", 0, "renewals per second (single or batched) one client address may send, bursts of twice that (0: 20000; -1: no limit)")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "maximum open HTTP connections, past which a connection is answered 429 (0: the file limit less headroom for Raft, gossip, bbolt and DNS; -1: no cap)")
	fs.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&sf.shutdown, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&sf.pprofAddr, "pprof-addr", "", "serve Go's CPU, block, mutex and heap profiles at /debug/pprof/ on this address (off by default; turns on block and mutex sampling)")
	sf.addSecurityFlags()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: roster server [flags]

Runs a Roster server. With no flags it is a single server keeping its data in
./roster-data that bootstraps itself; --dev keeps everything in memory. To
form a cluster, start each server with --bootstrap-expect N and --join the
gossip address of another.

Every flag can also be set from the environment as ROSTER_<NAME>, e.g.
ROSTER_HTTP_ADDR=0.0.0.0:8500 or ROSTER_JOIN=10.0.0.1:8301,10.0.0.2:8301.

Flags:
`)
		fs.PrintDefaults()
	}
	return sf
}

// parse reads the environment, then the command line.
func (sf *serverFlags) parse(args []string) error {
	var envErr error
	sf.fs.VisitAll(func(f *flag.Flag) {
		name := "ROSTER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := sf.fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	fromEnv := append(stringList(nil), sf.join...)
	sf.join = nil
	if err := sf.fs.Parse(args); err != nil {
		return err
	}
	if sf.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", sf.fs.Arg(0))
	}
	if len(sf.join) == 0 {
		sf.join = fromEnv
	}
	sf.cfg.Store.Join = sf.join
	if sf.cfg.Store.Dev {
		sf.cfg.Store.DataDir = ""
	}
	return nil
}

func (sf *serverFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", sf.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch sf.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", sf.logFormat)
}

func runServer(args []string, stdout, stderr io.Writer) int {
	sf := newServerFlags(stderr)
	// The flag package would print the usage (to stderr) itself: help is
	// printed here instead, once, on stdout.
	sf.fs.SetOutput(io.Discard)
	if err := sf.parse(args); err != nil {
		if err == flag.ErrHelp {
			sf.fs.SetOutput(stdout)
			sf.fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "roster server: %v (roster server --help lists every flag)\n", err)
		return 2
	}
	sf.fs.SetOutput(stderr)
	if err := sf.cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "roster server: %v\n", err)
		return 2
	}
	log, err := sf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "roster server: %v\n", err)
		return 2
	}
	sf.cfg.Logger = log
	sf.cfg.Version = buildVersion()

	// The whole process's collector pacing: bounded headroom over the live
	// heap unless GOMEMLIMIT or GOGC says otherwise (docs/operations.md,
	// "Memory").
	mem, err := memlimit.Start(memlimit.Config{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "roster: %v\n", err)
		return 1
	}
	defer mem.Stop()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if sf.pprofAddr != "" {
		stopPprof, err := servePprof(sf.pprofAddr, log)
		if err != nil {
			fmt.Fprintf(stderr, "roster: %v\n", err)
			return 1
		}
		defer stopPprof()
	}
	n, err := node.Start(sf.cfg)
	if err != nil {
		// One line naming the address or file and the cause (design.md,
		// "Startup"); node.Start released whatever it had taken.
		fmt.Fprintf(stderr, "roster: %v\n", err)
		return 1
	}
	stopHUP := reloadOnHUP(n)
	defer stopHUP()
	<-ctx.Done()
	stop() // a second signal kills the process at once
	log.Info("shutting down", "timeout", sf.shutdown.String())
	sctx, cancel := context.WithTimeout(context.Background(), sf.shutdown)
	defer cancel()
	if err := n.Close(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
