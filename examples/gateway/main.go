// Command gateway is an example API gateway: it routes /users to the users
// service and /orders to the orders service (the classic Express +
// http-proxy gateway), resolving instances from Roster instead of a fixed
// list, balancing over the live ones, following changes as they happen, and
// retrying another instance when one refuses the connection.
//
//	go run ./examples/gateway --addr 127.0.0.1:8080 --roster 127.0.0.1:8500
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/client"
)

// route sends requests under prefix to service.
type route struct {
	prefix  string
	service string
}

type routeFlag []route

func (r *routeFlag) String() string {
	var parts []string
	for _, rt := range *r {
		parts = append(parts, rt.prefix+"="+rt.service)
	}
	return strings.Join(parts, ",")
}

func (r *routeFlag) Set(v string) error {
	prefix, service, ok := strings.Cut(v, "=")
	if !ok || !strings.HasPrefix(prefix, "/") || service == "" {
		return fmt.Errorf("want /prefix=service, got %q", v)
	}
	*r = append(*r, route{prefix: strings.TrimSuffix(prefix, "/"), service: service})
	return nil
}

func main() {
	var routes routeFlag
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	roster := flag.String("roster", strings.Join(client.AddrsFromEnv(), ","), "Roster servers, comma-separated (env ROSTER_ADDR)")
	strategy := flag.String("strategy", "round-robin", "balancing: round-robin, random or weighted")
	flag.Var(&routes, "route", "route /prefix=service (repeatable; default /users=users and /orders=orders)")
	flag.Parse()
	if len(routes) == 0 {
		routes = routeFlag{{"/users", "users"}, {"/orders", "orders"}}
	}
	st, ok := client.ParseStrategy(*strategy)
	if !ok {
		fmt.Fprintf(os.Stderr, "gateway: unknown --strategy %q\n", *strategy)
		os.Exit(2)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, strings.Split(*roster, ","), routes, st, log, func(a string) {
		fmt.Printf("listening on %s\n", a)
	}); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, roster []string, routes []route, st client.Strategy, log *slog.Logger, ready func(string)) error {
	c, err := client.New(client.Config{Addrs: roster, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	res := c.NewResolver(client.ResolverOptions{Strategy: st})
	defer res.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()

	gw := newGateway(routes, &client.Transport{Resolver: res, Base: base}, log)
	// Start following every routed service now, so the first request finds
	// a warm list.
	for _, rt := range routes {
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, _ = res.Picker(wctx, rt.service)
		}()
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	ready(ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gateway is the routing handler.
type gateway struct {
	routes []route // longest prefix first
	proxy  *httputil.ReverseProxy
	log    *slog.Logger
}

type serviceKey struct{}

func newGateway(routes []route, tr http.RoundTripper, log *slog.Logger) *gateway {
	rs := append([]route(nil), routes...)
	sort.Slice(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	g := &gateway{routes: rs, log: log}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			service := pr.In.Context().Value(serviceKey{}).(string)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = service // resolved by client.Transport
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, client.ErrNoInstances) {
				status = http.StatusServiceUnavailable
			}
			g.log.Warn("upstream failed", "path", r.URL.Path, "err", err)
			writeError(w, status, err.Error())
		},
	}
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, rt := range g.routes {
		if r.URL.Path == rt.prefix || strings.HasPrefix(r.URL.Path, rt.prefix+"/") {
			ctx := context.WithValue(r.Context(), serviceKey{}, rt.service)
			g.proxy.ServeHTTP(w, r.WithContext(ctx))
			return
		}
	}
	writeError(w, http.StatusNotFound, "no route for "+r.URL.Path)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
