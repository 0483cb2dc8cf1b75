package dnsapi

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
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

// manyServices is a catalog of n services of per instances each, named
// svc-0 .. svc-<n-1>, and the A question of each.
func manyServices(b *testing.B, n, per int) (*testCatalog, []*dns.Msg) {
	c := newCatalog(b)
	qs := make([]*dns.Msg, n)
	for i := range n {
		svc := fmt.Sprintf("svc-%d", i)
		for j := range per {
			c.register(inst(svc, fmt.Sprintf("%s-%d", svc, j), fmt.Sprintf("10.%d.%d.%d", i/250%250, i%250, j+1), 8000+j))
		}
		qs[i] = benchQuery(svc+".service.roster.", dns.TypeA)
	}
	return c, qs
}

// BenchmarkWalkServices is a resolver asking for every service in turn,
// A and SRV, after one warm-up walk: the packed-answer cache either holds
// every name or keeps rebuilding them. hit% is the share of answers served
// from the cache during the timed walk, B/entry what the cache holds per
// answer (with -benchmem; 10 instances per service, and 100 in the last).
func BenchmarkWalkServices(b *testing.B) {
	for _, tc := range []struct{ n, per int }{{10000, 10}, {20000, 10}, {2000, 100}} {
		name := fmt.Sprint(tc.n)
		if tc.per != 10 {
			name = fmt.Sprintf("%dx%d", tc.n, tc.per)
		}
		n := tc.n
		b.Run(name, func(b *testing.B) {
			c, qs := manyServices(b, n, tc.per)
			for i := range n {
				name := fmt.Sprintf("_svc-%d._tcp.service.roster.", i)
				qs = append(qs, benchQuery(name, dns.TypeSRV))
			}
			reg := prometheus.NewRegistry()
			s, err := New(Config{Catalog: c.cat, Logger: quietLogger(), Metrics: reg})
			if err != nil {
				b.Fatal(err)
			}
			w := &fakeWriter{remote: udpClient}
			for _, q := range qs {
				s.ServeDNS(w, q)
			}
			hits0, misses0 := cacheCounts(b, reg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.ServeDNS(w, qs[i%len(qs)])
			}
			b.StopTimer()
			hits, misses := cacheCounts(b, reg)
			b.ReportMetric(100*(hits-hits0)/(hits-hits0+misses-misses0), "hit%")
			if e := s.answers.entries.Load(); e > 0 {
				b.ReportMetric(float64(s.answers.bytes.Load())/float64(e), "B/entry")
			}
		})
	}
}

func cacheCounts(b *testing.B, reg *prometheus.Registry) (hits, misses float64) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "roster_dns_answer_cache_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch m.GetLabel()[0].GetValue() {
			case "hit":
				hits = m.GetCounter().GetValue()
			case "miss":
				misses = m.GetCounter().GetValue()
			}
		}
	}
	return hits, misses
}

// BenchmarkQueryAfterChange is the first query after each change to a
// service of n instances (one instance's port moves): the read path's
// rebuild. The change itself is not timed.
func BenchmarkQueryAfterChange(b *testing.B) {
	for _, n := range []int{10, 30000} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
			b.Run(fmt.Sprintf("%s/%d", dns.Type(qt), n), func(b *testing.B) {
				c := newCatalog(b)
				c.fill("web", n)
				s, err := New(Config{Catalog: c.cat, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				q := benchQuery("web.service.roster.", qt)
				if qt == dns.TypeSRV {
					q = benchQuery("_web._tcp.service.roster.", qt)
				}
				w := &fakeWriter{remote: udpClient}
				s.ServeDNS(w, q)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					c.register(inst("web", "web-0", "10.1.0.1", 9000+i%2))
					b.StartTimer()
					s.ServeDNS(w, q)
				}
			})
		}
	}
}
