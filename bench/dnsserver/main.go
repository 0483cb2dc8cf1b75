// Command bench serves DNS for load tests (scripts/bench-dns.sh): either
// Roster's DNS front end over an in-memory catalog holding one service of n
// passing instances (or -services of them, <service>-0 ...), or the limit
// it is measured against, a minimal miekg/dns server answering every query
// with n fixed A records.
//
//	go run ./bench/dnsserver -mode roster -addr 127.0.0.1:18653 -n 10
//	go run ./bench/dnsserver -mode fixed -addr 127.0.0.1:18654 -n 10
//
// It prints "ready <udp-addr>" once serving and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/dnsapi"
	"github.com/rosterhq/roster/registry"
)

func main() {
	mode := flag.String("mode", "roster", "roster (the DNS front end) or fixed (the limit server)")
	addr := flag.String("addr", "127.0.0.1:18653", "UDP (and for roster, TCP) address to serve on")
	n := flag.Int("n", 10, "instances of the service, or fixed A records")
	service := flag.String("service", "web", "service name answered under <service>.service.roster.")
	services := flag.Int("services", 1, "with more than 1, that many services <service>-0 ... of n instances each")
	flag.Parse()
	if err := run(*mode, *addr, *service, *n, *services); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(mode, addr, service string, n, services int) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	switch mode {
	case "roster":
		cat := registry.New()
		now := time.Now().UnixNano()
		index := uint64(0)
		for k := range services {
			name := service
			if services > 1 {
				name = fmt.Sprintf("%s-%d", service, k)
			}
			for i := range n {
				in := registry.Instance{
					Service: name,
					ID:      fmt.Sprintf("%s-%d", name, i),
					Address: ip(i).String(),
					Port:    8080,
				}
				index++
				if res := cat.Apply(index, registry.EncodeRegister(in, now)); res.Err != nil {
					return res.Err
				}
			}
		}
		s, err := dnsapi.New(dnsapi.Config{
			Catalog: cat,
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			return err
		}
		if err := s.Start(addr); err != nil {
			return err
		}
		fmt.Println("ready", s.UDPAddr())
		<-stop
		return s.Close()
	case "fixed":
		name := service + ".service.roster."
		rrs := make([]dns.RR, n)
		for i := range rrs {
			rrs[i] = &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: ip(i)}
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		started := make(chan struct{})
		srv := &dns.Server{
			PacketConn:        pc,
			NotifyStartedFunc: func() { close(started) },
			Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
				m := new(dns.Msg)
				m.SetReply(r)
				m.Authoritative = true
				m.Answer = rrs
				w.WriteMsg(m)
			}),
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-errc:
			return err
		}
		fmt.Println("ready", pc.LocalAddr())
		<-stop
		return srv.Shutdown()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func ip(i int) net.IP { return net.IPv4(10, 1, byte(i/250), byte(i%250+1)).To4() }
