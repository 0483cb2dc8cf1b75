package dnsapi

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// The pair of benchmarks compares the handler with the limit: a minimal
// miekg/dns handler answering the same question with the same number of
// fixed A records. Both write to a fake ResponseWriter, so only the work per
// query differs. go test -run=^$ -bench=. -benchmem ./dnsapi

func benchQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func benchServer(b *testing.B, n int) *Server {
	c := newCatalog(b)
	c.fill("web", n)
	s, err := New(Config{Catalog: c.cat, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// FixedHandler answers every query with the same A records, as a minimal
// miekg/dns server would: the ceiling the DNS front end is measured against.
type FixedHandler struct{ Records []dns.RR }

// ServeDNS answers r with the fixed records.
func (h FixedHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Answer = h.Records
	w.WriteMsg(m)
}

func fixedRecords(name string, n int) []dns.RR {
	rrs := make([]dns.RR, n)
	for i := range rrs {
		rrs[i] = &dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET},
			A:   net.IPv4(10, 1, byte(i/250), byte(i%250+1)).To4(),
		}
	}
	return rrs
}

func runHandler(b *testing.B, h dns.Handler, q *dns.Msg) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &fakeWriter{remote: udpClient}
		for pb.Next() {
			h.ServeDNS(w, q)
		}
	})
}

func BenchmarkServeDNS(b *testing.B) {
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"A10", "web.service.roster.", dns.TypeA},
		{"SRV10", "_web._tcp.service.roster.", dns.TypeSRV},
		{"A10MixedCase", "Web.Service.Roster.", dns.TypeA},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runHandler(b, benchServer(b, 10), benchQuery(tc.qname, tc.qtype))
		})
	}
}

func BenchmarkFixed(b *testing.B) {
	b.Run("A10", func(b *testing.B) {
		runHandler(b, FixedHandler{Records: fixedRecords("web.service.roster.", 10)}, benchQuery("web.service.roster.", dns.TypeA))
	})
}
