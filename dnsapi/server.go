// Package dnsapi serves the local catalog over DNS (UDP and TCP) from
// pre-packed answers, under the names that design.md fixes:
// <service>.service.<domain>, <tag>.<service>.service.<domain>,
// _<service>._<proto>.service.<domain> and <hex-ip>.addr.<domain>.
package dnsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/registry"
)

// Catalog is what the DNS front end reads: the local applied state. Views are
// immutable and replaced on every change, so an answer cached for a view's
// index stays right until the service's index moves. *registry.Catalog
// implements it.
type Catalog interface {
	// Service returns the view of one service (never nil; empty when the
	// service has no instances).
	Service(name string) *registry.ServiceView
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxRecords caps the records in one answer. A resolver rarely
	// needs more than a few dozen addresses to spread load, and every
	// answer is shuffled, so capped answers still reach every instance.
	DefaultMaxRecords = 64
	// DefaultUDPSize is the largest UDP answer sent to a requester that
	// advertises EDNS0, and the size advertised in our OPT record: the DNS
	// Flag Day 2020 value, which avoids IP fragmentation on any path.
	// Requesters without EDNS0 always get at most 512 bytes (RFC 1035).
	DefaultUDPSize = 1232
)

// Config configures a DNS server. Zero values take the documented defaults.
type Config struct {
	// Catalog is the local state answered from. Required.
	Catalog Catalog
	// Domain is the zone served, "roster." by default; normalised to a
	// lowercase fully qualified name. The root zone is refused.
	Domain string
	// TTL is the TTL of every answer and of the SOA (whose minimum field,
	// the negative-caching TTL, is the same). 0 by default (--dns-ttl), so
	// resolvers never serve an instance after it stops passing.
	TTL time.Duration
	// AllowWarning makes service answers include warning instances as well
	// as passing ones (--dns-allow-warning).
	AllowWarning bool
	// MaxRecords caps the answer records per response (DefaultMaxRecords
	// when 0; negative means no cap). Records beyond the cap are not
	// truncation: TC is not set, and another query gets another subset.
	MaxRecords int
	// UDPSize is the largest UDP payload this server sends to an EDNS0
	// requester (which gets the smaller of this and its own size) and
	// advertises in its OPT record; DefaultUDPSize when 0, at least 512.
	UDPSize int
	// Logger receives start, stop and serve errors; slog.Default() when nil.
	// Nothing is logged per query.
	Logger *slog.Logger
	// AnswerCacheBytes is the byte budget of the cache of packed service
	// answers (DefaultAnswerCacheBytes when 0). The cache may hold up to a
	// quarter more between two of its sweeps.
	AnswerCacheBytes int64
	// Metrics registers roster_dns_queries_total{rcode},
	// roster_dns_answer_cache_total{result},
	// roster_dns_answer_cache_bytes, roster_dns_answer_cache_entries and
	// roster_dns_answer_cache_evictions_total; nil registers nothing.
	Metrics prometheus.Registerer
}

// Server answers DNS queries from the catalog. ServeDNS may be used with any
// miekg/dns server; Start runs this package's own UDP and TCP listeners.
type Server struct {
	cat          Catalog
	domain       string // lowercase FQDN, e.g. "roster."
	ttl          uint32
	allowWarning bool
	maxRecords   int
	udpSize      int
	log          *slog.Logger
	metrics      *metrics

	soa    *dns.SOA
	ns     *dns.NS
	nsName string                   // "ns.<domain>"
	glue   atomic.Pointer[[]dns.RR] // A/AAAA of ns.<domain>, known once bound

	answers answerCache
	scratch sync.Pool // *scratch: a query's working space

	mu      sync.Mutex
	started bool
	closed  bool
	running []*dns.Server // serving: stopped by ShutdownContext
	idle    []io.Closer   // bound sockets no server has taken over
	udpAddr net.Addr
	tcpAddr net.Addr
	wg      sync.WaitGroup
}

// Defaults of design.md's --dns-addr and --domain.
const (
	DefaultAddr   = "127.0.0.1:8600"
	DefaultDomain = "roster."
)

// New validates cfg, applies defaults and returns a server that is not yet
// listening.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("dns server: a catalog is required")
	}
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultDomain
	}
	domain = dns.CanonicalName(domain)
	if _, ok := dns.IsDomainName(domain); !ok || domain == "." {
		return nil, fmt.Errorf("dns server: invalid domain %q", cfg.Domain)
	}
	if cfg.TTL < 0 || cfg.TTL > time.Duration(1<<31-1)*time.Second {
		return nil, fmt.Errorf("dns server: ttl %s out of range", cfg.TTL)
	}
	maxRecords := cfg.MaxRecords
	switch {
	case maxRecords == 0:
		maxRecords = DefaultMaxRecords
	case maxRecords < 0:
		maxRecords = int(^uint(0) >> 1)
	}
	udpSize := cfg.UDPSize
	switch {
	case udpSize == 0:
		udpSize = DefaultUDPSize
	case udpSize < dns.MinMsgSize || udpSize > dns.MaxMsgSize:
		return nil, fmt.Errorf("dns server: udp size %d not within %d..%d", udpSize, dns.MinMsgSize, dns.MaxMsgSize)
	}
	budget := cfg.AnswerCacheBytes
	switch {
	case budget == 0:
		budget = DefaultAnswerCacheBytes
	case budget < 0:
		return nil, fmt.Errorf("dns server: answer cache budget %d is negative", budget)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{}
	m, err := newMetrics(cfg.Metrics, &s.answers)
	if err != nil {
		return nil, fmt.Errorf("dns server: %w", err)
	}
	ttl := uint32(cfg.TTL / time.Second)
	*s = Server{
		cat:          cfg.Catalog,
		domain:       domain,
		ttl:          ttl,
		allowWarning: cfg.AllowWarning,
		maxRecords:   maxRecords,
		udpSize:      udpSize,
		log:          log.With("component", "dns"),
		metrics:      m,
		nsName:       "ns." + domain,
	}
	s.soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      s.nsName,
		Mbox:    "hostmaster." + domain,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
	s.ns = &dns.NS{
		Hdr: dns.RR_Header{Name: domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ttl},
		Ns:  s.nsName,
	}
	s.scratch.New = func() any { return &scratch{buf: make([]byte, 0, 1024)} }
	s.answers.budget = budget
	return s, nil
}

// Start binds UDP and TCP on addr (host:port; port 0 picks a port free for
// both protocols) and serves in the background until Close. It returns once
// both listeners are bound and serving. When addr names a specific IP, that
// IP answers A/AAAA queries for ns.<domain> (the NS glue).
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("dns server: closed")
	}
	if s.started {
		return errors.New("dns server: already started")
	}
	pc, ln, err := bindBoth(addr)
	if err != nil {
		return fmt.Errorf("dns server: listen %s: %w", addr, err)
	}
	s.setGlue(pc.LocalAddr())

	udp := &dns.Server{
		PacketConn:    pc,
		Handler:       s,
		UDPSize:       dns.DefaultMsgSize,
		MsgAcceptFunc: s.acceptCounted,
	}
	tcp := &dns.Server{
		Listener:      ln,
		Handler:       s,
		MsgAcceptFunc: s.acceptCounted,
	}
	s.idle = []io.Closer{pc, ln}
	for i, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		serveErr := make(chan error, 1)
		s.wg.Add(1)
		go func(srv *dns.Server) {
			defer s.wg.Done()
			err := srv.ActivateAndServe()
			serveErr <- err
			if err != nil {
				s.log.Error("dns listener stopped", "err", err)
			}
		}(srv)
		select {
		case <-started:
			s.running = append(s.running, srv)
			s.idle[i] = nil
		case err := <-serveErr:
			s.shutdownLocked()
			return fmt.Errorf("dns server: serve %s: %w", addr, err)
		}
	}
	s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
	s.started = true
	s.log.Info("dns listening", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String(), "domain", s.domain)
	return nil
}

// bindBoth binds UDP first, then TCP on the same port. With port 0 the TCP
// port may be taken by someone else: then it tries another UDP port.
func bindBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	var lastErr error
	for range tries {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, lastErr
}

// setGlue records the bound IP as the address of ns.<domain> when it is a
// specific address (not 0.0.0.0 or ::).
func (s *Server) setGlue(a net.Addr) {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua.IP == nil || ua.IP.IsUnspecified() {
		return
	}
	hdr := dns.RR_Header{Name: s.nsName, Class: dns.ClassINET, Ttl: s.ttl}
	var rr dns.RR
	if ip4 := ua.IP.To4(); ip4 != nil {
		hdr.Rrtype = dns.TypeA
		rr = &dns.A{Hdr: hdr, A: ip4}
	} else {
		hdr.Rrtype = dns.TypeAAAA
		rr = &dns.AAAA{Hdr: hdr, AAAA: ua.IP}
	}
	glue := []dns.RR{rr}
	s.glue.Store(&glue)
}

// UDPAddr is the bound UDP address (nil before Start).
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr
}

// TCPAddr is the bound TCP address (nil before Start).
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// Close stops both listeners and waits for their goroutines. Queries in
// flight are answered or dropped; Close is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.shutdownLocked()
	if s.started {
		s.log.Info("dns stopped")
	}
	return err
}

func (s *Server) shutdownLocked() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.running {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.running = nil
	// Sockets of a listener that never started are still ours to close.
	for _, c := range s.idle {
		if c != nil {
			c.Close()
		}
	}
	s.idle = nil
	s.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns server: close: %w", err)
	}
	return nil
}
