// Command service is an example HTTP service that registers itself in
// Roster on startup with a TTL, lets the client keep the lease alive, and
// deregisters on SIGTERM or SIGINT before shutting down.
//
//	go run ./examples/service --name users --addr 127.0.0.1:9001 --roster 127.0.0.1:8500
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/client"
)

type options struct {
	name      string
	id        string
	addr      string
	advertise string
	roster    string
	ttl       time.Duration
	tags      string
}

func main() {
	var o options
	flag.StringVar(&o.name, "name", "users", "service name to register")
	flag.StringVar(&o.id, "id", "", "instance id (default: NAME-<random>)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address")
	flag.StringVar(&o.advertise, "advertise", "", "address to register (default: the listen host; 127.0.0.1 for a wildcard)")
	flag.StringVar(&o.roster, "roster", strings.Join(client.AddrsFromEnv(), ","), "Roster servers, comma-separated (env ROSTER_ADDR)")
	flag.DurationVar(&o.ttl, "ttl", 10*time.Second, "lease TTL; the client renews it about every TTL/3")
	flag.StringVar(&o.tags, "tags", "", "comma-separated tags")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log, func(addr, id string) {
		// Scripts and tests read this line to find the instance.
		fmt.Printf("listening on %s as %s\n", addr, id)
	}); err != nil {
		log.Error("service failed", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, registered in Roster the whole time.
func run(ctx context.Context, o options, log *slog.Logger, ready func(addr, id string)) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if o.advertise != "" {
		host = o.advertise
	} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}

	c, err := client.New(client.Config{Addrs: strings.Split(o.roster, ","), Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	defer c.Close()

	id := o.id
	if id == "" {
		id = fmt.Sprintf("%s-%s-%d", o.name, strings.ReplaceAll(host, ".", "-"), port)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "service %s instance %s path %s\n", o.name, id, r.URL.Path)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var tags []string
	if o.tags != "" {
		tags = strings.Split(o.tags, ",")
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reg, err := c.Register(rctx, client.InstanceSpec{
		Service: o.name, ID: id, Address: host, Port: port, Tags: tags,
		TTL: o.ttl, DeregisterAfter: time.Minute,
	})
	cancel()
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("register: %w", err)
	}
	log.Info("registered", "service", o.name, "id", id, "addr", net.JoinHostPort(host, portStr), "ttl", o.ttl)
	ready(ln.Addr().String(), id)

	select {
	case <-ctx.Done():
	case <-reg.Done():
		log.Warn("deregistered by an operator; serving on until stopped")
		<-ctx.Done()
	case err := <-serveErr:
		_ = reg.Close()
		return err
	}
	// Leave the registry first so gateways stop sending new requests, then
	// finish the ones in flight.
	if err := reg.Close(); err != nil {
		log.Warn("deregister failed; the lease will expire", "err", err)
	} else {
		log.Info("deregistered", "id", id)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
