package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/internal/tlsconf"
)

// gatewayFlags binds the flags of `roster gateway` to a gateway.Config.
// Each flag can also be set through the environment as
// ROSTER_GATEWAY_<NAME> (upper case, '-' as '_'); the command line wins.
type gatewayFlags struct {
	fs          *flag.FlagSet
	cfg         gateway.Config
	listen      string
	adminListen string
	addrs       stringList
	routes      stringList
	strip       bool
	tagRoutes   bool
	balance     string
	logLevel    string
	logFormat   string
	shutdown    time.Duration
	tlsCert     string
	tlsKey      string
	tlsCA       string
}

func newGatewayFlags(stderr io.Writer) *gatewayFlags {
	gf := &gatewayFlags{fs: flag.NewFlagSet("roster gateway", flag.ContinueOnError)}
	fs, c := gf.fs, &gf.cfg
	fs.SetOutput(stderr)
	fs.StringVar(&gf.listen, "listen", "127.0.0.1:8080", "address the gateway serves on")
	fs.StringVar(&gf.adminListen, "admin-listen", "", "serve /healthz and /metrics on this address instead of on --listen")
	fs.Var(&gf.addrs, "addr", "Roster server HTTP address (repeatable or comma-separated; default $"+client.EnvAddr+" or "+client.DefaultAddr+")")
	fs.Var(&gf.routes, "route", "route /prefix=service or host/prefix=service (repeatable; longest prefix wins)")
	fs.BoolVar(&gf.strip, "strip-prefix", false, "remove a --route's prefix from the path before forwarding")
	fs.BoolVar(&gf.tagRoutes, "tag-routes", true, "also route from instance tags (gateway.route=/p, gateway.strip=true, gateway.host=h)")
	fs.StringVar(&gf.balance, "balance", "round-robin", "balancing: round-robin, weighted (by instance weight) or least-requests")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", gateway.DefaultConnectTimeout, "bound on connecting to an instance (then another is tried)")
	fs.DurationVar(&c.ResponseTimeout, "response-timeout", gateway.DefaultResponseTimeout, "bound on an instance's response headers (then 504)")
	fs.IntVar(&c.MaxTries, "max-tries", gateway.DefaultMaxTries, "instances tried per request, counting the first (1: no retries)")
	fs.IntVar(&c.EjectAfter, "eject-after", gateway.DefaultEjectAfter, "consecutive failures (refused, broken, timed out, 5xx) that eject an instance")
	fs.DurationVar(&c.EjectFor, "eject-time", gateway.DefaultEjectFor, "an ejection's cool-off (longer for each ejection in a row, up to 8x)")
	fs.IntVar(&c.MaxEjectPercent, "max-eject-percent", gateway.DefaultMaxEjectPercent, "most of a service's instances ejected at once, in percent (one of two always may; the last never)")
	fs.IntVar(&c.MaxIdlePerInstance, "max-idle-per-instance", gateway.DefaultMaxIdlePerInst, "idle keep-alive connections kept to each instance")
	fs.StringVar(&c.RequestIDHeader, "request-id-header", gateway.DefaultRequestIDHeader, "header carrying the request id (kept from the client, else generated)")
	fs.BoolVar(&c.TrustForwarded, "trust-forwarded", false, "append to the client's X-Forwarded-* instead of replacing them (behind another proxy)")
	fs.Float64Var(&c.AccessLogSample, "access-log-sample", 0, "fraction of requests written to the access log (0: off, 1: all; 5xx always when on)")
	fs.StringVar(&gf.tlsCert, "tls-cert", "", "certificate to terminate TLS with on --listen and --admin-listen (reloaded on SIGHUP or change); also presented to Roster servers with --tls-ca")
	fs.StringVar(&gf.tlsKey, "tls-key", "", "key of --tls-cert")
	fs.StringVar(&gf.tlsCA, "tls-ca", "", "CA of the Roster servers' certificates: talk to them over HTTPS")
	fs.StringVar(&gf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&gf.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&gf.shutdown, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: roster gateway [flags]

Runs an HTTP gateway that routes requests to service instances resolved
from Roster, following every change as it happens:

  roster gateway --listen 127.0.0.1:8080 --addr 127.0.0.1:8500 \
    --route /users=users --route /orders=orders

Routes also come from instance tags (unless --tag-routes=false):
gateway.route=/users, gateway.strip=true, gateway.host=api.example.com.
When no Roster server answers, the gateway keeps routing with the last
lists it had; /healthz then says "stale". Unknown paths answer 404, a route
without instances 503 with Retry-After, both as {"error","code"}.

Every flag can also be set from the environment as ROSTER_GATEWAY_<NAME>,
e.g. ROSTER_GATEWAY_LISTEN=0.0.0.0:8080 or
ROSTER_GATEWAY_ROUTE=/users=users,/orders=orders.

Flags:
`)
		fs.PrintDefaults()
	}
	return gf
}

// parse reads the environment, then the command line. A repeatable flag
// given on the command line replaces its environment value.
func (gf *gatewayFlags) parse(args []string) error {
	var envErr error
	gf.fs.VisitAll(func(f *flag.Flag) {
		name := "ROSTER_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := gf.fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	envAddrs, envRoutes := gf.addrs, gf.routes
	gf.addrs, gf.routes = nil, nil
	if err := gf.fs.Parse(args); err != nil {
		return err
	}
	if gf.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", gf.fs.Arg(0))
	}
	if len(gf.addrs) == 0 {
		gf.addrs = envAddrs
	}
	if len(gf.routes) == 0 {
		gf.routes = envRoutes
	}
	if len(gf.addrs) == 0 {
		gf.addrs = client.AddrsFromEnv()
	}
	gf.cfg.Addrs = gf.addrs
	for _, s := range gf.routes {
		r, err := gateway.ParseRoute(s)
		if err != nil {
			return fmt.Errorf("--route: %w", err)
		}
		r.Strip = gf.strip
		gf.cfg.Routes = append(gf.cfg.Routes, r)
	}
	gf.cfg.NoTagRoutes = !gf.tagRoutes
	b, err := gateway.ParseBalance(gf.balance)
	if err != nil {
		return fmt.Errorf("--balance: %w", err)
	}
	gf.cfg.Balance = b
	if len(gf.cfg.Routes) == 0 && gf.cfg.NoTagRoutes {
		return errors.New("no routes: give --route, or leave --tag-routes on")
	}
	return nil
}

func runGateway(args []string, stdout, stderr io.Writer) int {
	gf := newGatewayFlags(stderr)
	if err := gf.parse(args); err != nil {
		if err == flag.ErrHelp {
			gf.fs.SetOutput(stdout)
			gf.fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "roster gateway: %v\n", err)
		return 2
	}
	sf := &serverFlags{logLevel: gf.logLevel, logFormat: gf.logFormat}
	log, err := sf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "roster gateway: %v\n", err)
		return 2
	}
	gf.cfg.Logger = log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gf.cfg.Registry = reg

	var terminate *tlsconf.Holder
	if gf.tlsCert != "" || gf.tlsKey != "" {
		if terminate, err = tlsconf.LoadCertificate(gf.tlsCert, gf.tlsKey, log); err != nil {
			fmt.Fprintf(stderr, "roster gateway: %v\n", err)
			return 2
		}
	}
	if gf.tlsCA != "" {
		if gf.cfg.TLS, err = client.TLSFiles(gf.tlsCA, gf.tlsCert, gf.tlsKey); err != nil {
			fmt.Fprintf(stderr, "roster gateway: %v\n", err)
			return 2
		}
	}

	// The configuration is judged before any address is bound, so that a
	// bad flag is a usage error (exit 2) whatever holds the port.
	if err := gf.cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "roster gateway: gateway: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", gf.listen)
	if err != nil {
		log.Error("cannot start gateway", "listen", gf.listen, "err", err)
		return 1
	}
	var adminLn net.Listener
	if gf.adminListen != "" {
		if adminLn, err = net.Listen("tcp", gf.adminListen); err != nil {
			ln.Close()
			log.Error("cannot start gateway", "admin_listen", gf.adminListen, "err", err)
			return 1
		}
	}
	g, err := gateway.New(gf.cfg)
	if err != nil {
		ln.Close()
		if adminLn != nil {
			adminLn.Close()
		}
		fmt.Fprintf(stderr, "roster gateway: %v\n", err)
		return 2
	}
	defer g.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	handler := g.Handler()
	var servers []*http.Server
	errc := make(chan error, 2)
	serve := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		servers = append(servers, srv)
		if terminate != nil {
			ln = tls.NewListener(ln, http1Only(terminate.HTTPServer(false)))
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	if terminate != nil {
		// Certificates are re-read on SIGHUP or when the files change.
		go terminate.Watch(ctx, 5*time.Second)
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					terminate.ReloadAndLog("SIGHUP")
				}
			}
		}()
	}
	if adminLn != nil {
		handler = g
		serve(adminLn, g.AdminHandler())
	}
	serve(ln, handler)
	routes := make([]string, 0, len(gf.cfg.Routes))
	for _, r := range gf.cfg.Routes {
		routes = append(routes, r.String())
	}
	attrs := []any{"listen", ln.Addr().String(), "roster", strings.Join(gf.cfg.Addrs, ","),
		"routes", strings.Join(routes, " "), "tag_routes", gf.tagRoutes, "balance", gf.cfg.Balance.String()}
	if adminLn != nil {
		attrs = append(attrs, "admin_listen", adminLn.Addr().String())
	}
	log.Info("roster gateway listening", attrs...)

	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Error("gateway stopped serving", "err", err)
		return 1
	}
	stop() // a second signal kills the process at once
	log.Info("gateway shutting down", "timeout", gf.shutdown.String())
	sctx, cancel := context.WithTimeout(context.Background(), gf.shutdown)
	defer cancel()
	code := 0
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Error("gateway shutdown", "err", err)
			code = 1
		}
	}
	return code
}

// http1Only offers HTTP/1.1 alone in ALPN: the gateway's WebSocket and
// streaming pass-through are HTTP/1.1's (an h2 client would lose Upgrade).
func http1Only(c *tls.Config) *tls.Config {
	inner := c.GetConfigForClient
	c.NextProtos = []string{"http/1.1"}
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cc, err := inner(hello)
		if cc != nil {
			cc.NextProtos = []string{"http/1.1"}
		}
		return cc, err
	}
	return c
}
