// Command gateway is an example API gateway built on Roster's gateway
// package: it routes /users to the users service and /orders to the orders
// service (the classic Express + http-proxy gateway), resolving instances
// from Roster instead of a fixed list, balancing over the live ones,
// following changes as they happen, and retrying another instance when one
// fails. The same gateway, with every option as a flag, is
// `roster gateway` (see docs/gateway.md); this shows the library use.
//
//	go run ./examples/gateway --addr 127.0.0.1:8080 --roster 127.0.0.1:8500
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/gateway"
)

type routeFlag []gateway.Route

func (r *routeFlag) String() string { return fmt.Sprint(*r) }

func (r *routeFlag) Set(v string) error {
	rt, err := gateway.ParseRoute(v)
	if err == nil {
		*r = append(*r, rt)
	}
	return err
}

func main() {
	var routes routeFlag
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	roster := flag.String("roster", strings.Join(client.AddrsFromEnv(), ","), "Roster servers, comma-separated (env ROSTER_ADDR)")
	balance := flag.String("balance", "round-robin", "balancing: round-robin, weighted or least-requests")
	flag.Var(&routes, "route", "route /prefix=service (repeatable; default /users=users and /orders=orders)")
	flag.Parse()
	if len(routes) == 0 {
		routes = routeFlag{{Prefix: "/users", Service: "users"}, {Prefix: "/orders", Service: "orders"}}
	}
	b, err := gateway.ParseBalance(*balance)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	gw, err := gateway.New(gateway.Config{
		Addrs:   strings.Split(*roster, ","),
		Routes:  routes,
		Balance: b,
		Logger:  log,
	})
	if err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(2)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("gateway failed", "err", err)
			os.Exit(1)
		}
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
