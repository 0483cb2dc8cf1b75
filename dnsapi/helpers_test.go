package dnsapi

import (
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// testCatalog is a real registry catalog with commands applied at
// increasing indexes, as the replication layer would.
type testCatalog struct {
	t   testing.TB
	cat *registry.Catalog
	idx uint64
}

func newCatalog(t testing.TB) *testCatalog {
	return &testCatalog{t: t, cat: registry.New()}
}

func (c *testCatalog) apply(cmd []byte) {
	c.t.Helper()
	c.idx++
	if res := c.cat.Apply(c.idx, cmd); res.Err != nil {
		c.t.Fatalf("apply at %d: %v", c.idx, res.Err)
	}
}

func (c *testCatalog) register(in registry.Instance) {
	c.t.Helper()
	c.apply(registry.EncodeRegister(in, time.Now().UnixNano()))
}

func (c *testCatalog) status(id string, s api.Status) {
	c.t.Helper()
	c.apply(registry.EncodeStatus([]registry.StatusUpdate{{ID: id, Status: s}}, time.Now().UnixNano()))
}

func (c *testCatalog) deregister(svc, id string) {
	c.t.Helper()
	c.apply(registry.EncodeDeregister(svc, id, time.Now().UnixNano()))
}

// inst is a passing instance of svc reached at addr:port.
func inst(svc, id, addr string, port int, tags ...string) registry.Instance {
	return registry.Instance{Service: svc, ID: id, Address: addr, Port: port, Tags: tags}
}

// fill registers n passing instances of svc on 10.1.x.y.
func (c *testCatalog) fill(svc string, n int) {
	c.t.Helper()
	for i := range n {
		c.register(inst(svc, fmt.Sprintf("%s-%d", svc, i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), 8000+i))
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer starts a DNS server on 127.0.0.1:0 over cat; mod adjusts the
// config. It is closed when the test ends.
func startServer(t testing.TB, cat Catalog, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Catalog: cat, Domain: "roster.", Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// exchange sends one query over network ("udp" or "tcp") and returns the
// answer. edns > 0 adds an OPT record with that UDP size.
func exchange(t testing.TB, s *Server, network, name string, qtype uint16, edns int) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(uint16(edns), false)
	}
	return exchangeMsg(t, s, network, m)
}

func exchangeMsg(t testing.TB, s *Server, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	addr := s.UDPAddr().String()
	if network == "tcp" {
		addr = s.TCPAddr().String()
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: dns.MaxMsgSize}
	var (
		r   *dns.Msg
		err error
	)
	// A UDP datagram can be lost on a loaded machine: retry for a while.
	retry.Eventually(t, 10*time.Second, func() error {
		r, _, err = c.Exchange(m, addr)
		return err
	})
	if r.Id != m.Id {
		t.Fatalf("answer id %d, want %d", r.Id, m.Id)
	}
	return r
}

// rrStrings renders records for comparison, sorted (answers are shuffled).
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if _, ok := rr.(*dns.OPT); ok {
			continue
		}
		if soa, ok := rr.(*dns.SOA); ok {
			c := *soa
			c.Serial = 0 // the server's start time
			rr = &c
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	slices.Sort(out)
	return out
}

// fakeWriter is a dns.ResponseWriter that keeps what is written, for
// calling ServeDNS directly (fuzzing, benchmarks).
type fakeWriter struct {
	remote net.Addr
	out    []byte
	msgs   int
}

func (w *fakeWriter) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) RemoteAddr() net.Addr { return w.remote }
func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *fakeWriter) Write(b []byte) (int, error) {
	w.out = append(w.out[:0], b...)
	w.msgs++
	return len(b), nil
}
func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

var udpClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

// packedLen is the size of m on the wire, compressed as the server packs it.
func packedLen(t testing.TB, m *dns.Msg) int {
	t.Helper()
	c := m.Copy()
	c.Compress = true
	b, err := c.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return len(b)
}
