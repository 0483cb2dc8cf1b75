package dnsapi

import (
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// exampleCatalog is the catalog the rule table runs against.
func exampleCatalog(t testing.TB) *testCatalog {
	c := newCatalog(t)
	w1 := inst("web", "w1", "10.0.0.1", 8080, "v1", "Primary")
	w1.Weight = 5
	c.register(w1)
	c.register(inst("web", "w2", "10.0.0.2", 8081, "v2"))
	w3 := inst("web", "w3", "10.0.0.3", 8082, "v1")
	w3.Status = api.StatusWarning
	c.register(w3)
	w4 := inst("web", "w4", "10.0.0.4", 8083)
	w4.Status = api.StatusCritical
	c.register(w4)
	c.register(inst("web", "w6", "2001:db8::1", 8084, "v6"))
	d1 := inst("down", "d1", "10.0.1.1", 80)
	d1.Status = api.StatusCritical
	c.register(d1)
	c.register(inst("db", "db1", "DB1.example.com", 5432))
	return c
}

// dnsCase is one rule: a question and the whole expected answer. Records are
// compared sorted (answers are shuffled); SOA serials are ignored.
type dnsCase struct {
	name   string
	qtype  uint16
	rcode  int
	answer []string
	ns     []string
	extra  []string
}

const soa = "roster. 0 IN SOA ns.roster. hostmaster.roster. 0 3600 600 86400 0"

func TestRules(t *testing.T) {
	srv := startServer(t, exampleCatalog(t).cat, nil)
	ans := func(name string, recs ...string) []string {
		out := make([]string, len(recs))
		for i, r := range recs {
			out[i] = name + " 0 IN " + r
		}
		return out
	}
	webSRV := func(name string) []string {
		return ans(name,
			"SRV 1 5 8080 0a000001.addr.roster.",
			"SRV 1 1 8081 0a000002.addr.roster.",
			"SRV 1 1 8084 20010db8000000000000000000000001.addr.roster.")
	}
	webExtra := []string{
		"0a000001.addr.roster. 0 IN A 10.0.0.1",
		"0a000002.addr.roster. 0 IN A 10.0.0.2",
		"20010db8000000000000000000000001.addr.roster. 0 IN AAAA 2001:db8::1",
	}
	cases := []dnsCase{
		// Services: passing only, by type.
		{name: "web.service.roster.", qtype: dns.TypeA, answer: ans("web.service.roster.", "A 10.0.0.1", "A 10.0.0.2")},
		{name: "WeB.SERVICE.Roster.", qtype: dns.TypeA, answer: ans("WeB.SERVICE.Roster.", "A 10.0.0.1", "A 10.0.0.2")},
		{name: "web.service.roster.", qtype: dns.TypeAAAA, answer: ans("web.service.roster.", "AAAA 2001:db8::1")},
		{name: "web.service.roster.", qtype: dns.TypeANY, answer: ans("web.service.roster.", "A 10.0.0.1", "A 10.0.0.2", "AAAA 2001:db8::1")},
		{name: "web.service.roster.", qtype: dns.TypeSRV, answer: webSRV("web.service.roster."), extra: webExtra},
		{name: "web.service.roster.", qtype: dns.TypeTXT, ns: []string{soa}},
		{name: "web.service.roster.", qtype: dns.TypeMX, ns: []string{soa}},
		// Tags: <tag>.<service> and RFC 2782, case-insensitive.
		{name: "v1.web.service.roster.", qtype: dns.TypeA, answer: ans("v1.web.service.roster.", "A 10.0.0.1")},
		{name: "primary.web.service.roster.", qtype: dns.TypeA, answer: ans("primary.web.service.roster.", "A 10.0.0.1")},
		{name: "v9.web.service.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "_web._tcp.service.roster.", qtype: dns.TypeSRV, answer: webSRV("_web._tcp.service.roster."), extra: webExtra},
		{name: "_web._v1.service.roster.", qtype: dns.TypeSRV,
			answer: ans("_web._v1.service.roster.", "SRV 1 5 8080 0a000001.addr.roster."),
			extra:  []string{"0a000001.addr.roster. 0 IN A 10.0.0.1"}},
		{name: "_web._v6.service.roster.", qtype: dns.TypeANY,
			answer: ans("_web._v6.service.roster.", "SRV 1 1 8084 20010db8000000000000000000000001.addr.roster."),
			extra:  []string{"20010db8000000000000000000000001.addr.roster. 0 IN AAAA 2001:db8::1"}},
		{name: "_web._tcp.service.roster.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "_web._nope.service.roster.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soa}},
		// Unknown service: NXDOMAIN; known without healthy instances: NODATA.
		{name: "nosuch.service.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "_nosuch._tcp.service.roster.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "down.service.roster.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "down.service.roster.", qtype: dns.TypeSRV, ns: []string{soa}},
		// An instance registered with a hostname: SRV targets it, A is a CNAME.
		{name: "db.service.roster.", qtype: dns.TypeSRV, answer: ans("db.service.roster.", "SRV 1 1 5432 db1.example.com.")},
		{name: "db.service.roster.", qtype: dns.TypeA, answer: ans("db.service.roster.", "CNAME db1.example.com.")},
		{name: "db.service.roster.", qtype: dns.TypeCNAME, answer: ans("db.service.roster.", "CNAME db1.example.com.")},
		{name: "web.service.roster.", qtype: dns.TypeCNAME, ns: []string{soa}},
		// Addresses.
		{name: "0a000001.addr.roster.", qtype: dns.TypeA, answer: ans("0a000001.addr.roster.", "A 10.0.0.1")},
		{name: "0A000001.addr.roster.", qtype: dns.TypeA, answer: ans("0A000001.addr.roster.", "A 10.0.0.1")},
		{name: "0a000001.addr.roster.", qtype: dns.TypeAAAA, ns: []string{soa}},
		{name: "20010db8000000000000000000000001.addr.roster.", qtype: dns.TypeAAAA,
			answer: ans("20010db8000000000000000000000001.addr.roster.", "AAAA 2001:db8::1")},
		{name: "zz.addr.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "x.0a000001.addr.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		// The apex and the server's own name.
		{name: "roster.", qtype: dns.TypeSOA, answer: []string{soa}, ns: ans("roster.", "NS ns.roster."), extra: ans("ns.roster.", "A 127.0.0.1")},
		{name: "roster.", qtype: dns.TypeNS, answer: ans("roster.", "NS ns.roster."), extra: ans("ns.roster.", "A 127.0.0.1")},
		{name: "roster.", qtype: dns.TypeANY, answer: []string{soa, "roster. 0 IN NS ns.roster."}, extra: ans("ns.roster.", "A 127.0.0.1")},
		{name: "roster.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "ns.roster.", qtype: dns.TypeA, answer: ans("ns.roster.", "A 127.0.0.1")},
		{name: "ns.roster.", qtype: dns.TypeAAAA, ns: []string{soa}},
		// Empty non-terminals exist (NODATA), anything else in the domain does not.
		{name: "service.roster.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "addr.roster.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "_tcp.service.roster.", qtype: dns.TypeSRV, ns: []string{soa}},
		{name: "foo.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "a.b.web.service.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "x._tcp.service.roster.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "bad_name.service.roster.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		// Outside the domain: not an open resolver.
		{name: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "xroster.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: ".", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "roster.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(network+"/"+tc.name+"/"+dns.Type(tc.qtype).String(), func(t *testing.T) {
				r := exchange(t, srv, network, tc.name, tc.qtype, 0)
				checkAnswer(t, r, tc)
			})
		}
	}
}

func checkAnswer(t *testing.T, r *dns.Msg, tc dnsCase) {
	t.Helper()
	if r.Rcode != tc.rcode {
		t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
	}
	if len(r.Question) != 1 || r.Question[0].Name != tc.name || r.Question[0].Qtype != tc.qtype {
		t.Errorf("question %v, want %s %s", r.Question, tc.name, dns.Type(tc.qtype))
	}
	if wantAA := tc.rcode != dns.RcodeRefused; r.Authoritative != wantAA {
		t.Errorf("AA = %v, want %v", r.Authoritative, wantAA)
	}
	if r.Truncated {
		t.Errorf("TC set")
	}
	for _, sec := range []struct {
		what      string
		got, want []string
	}{
		{"answer", rrStrings(r.Answer), tc.answer},
		{"authority", rrStrings(r.Ns), tc.ns},
		{"additional", rrStrings(r.Extra), tc.extra},
	} {
		want := slices.Clone(sec.want)
		slices.Sort(want)
		if !slices.Equal(sec.got, want) {
			t.Errorf("%s:\n got %q\nwant %q", sec.what, sec.got, want)
		}
	}
}

func TestRefusesOtherClassesAndAnswersClassANY(t *testing.T) {
	srv := startServer(t, exampleCatalog(t).cat, nil)
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("web.service.roster.", dns.TypeA)
		m.Question[0].Qclass = dns.ClassCHAOS
		if r := exchangeMsg(t, srv, network, m); r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: class CH answered %s, want REFUSED", network, dns.RcodeToString[r.Rcode])
		}
		m.SetQuestion("web.service.roster.", dns.TypeA)
		m.Question[0].Qclass = dns.ClassANY
		r := exchangeMsg(t, srv, network, m)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || r.Question[0].Qclass != dns.ClassANY {
			t.Errorf("%s: class ANY answered %s with %d records, question %v", network, dns.RcodeToString[r.Rcode], len(r.Answer), r.Question)
		}
	}
}

func TestTTLAppliesToAnswersAndSOA(t *testing.T) {
	srv := startServer(t, exampleCatalog(t).cat, func(c *Config) { c.TTL = 30 * time.Second })
	r := exchange(t, srv, "udp", "_web._tcp.service.roster.", dns.TypeSRV, 0)
	for _, rr := range append(r.Answer, r.Extra...) {
		if rr.Header().Ttl != 30 {
			t.Errorf("TTL %d, want 30: %s", rr.Header().Ttl, rr)
		}
	}
	r = exchange(t, srv, "udp", "nosuch.service.roster.", dns.TypeA, 0)
	if len(r.Ns) != 1 {
		t.Fatalf("authority %v, want the SOA", r.Ns)
	}
	s := r.Ns[0].(*dns.SOA)
	if s.Hdr.Ttl != 30 || s.Minttl != 30 {
		t.Errorf("SOA TTL %d minimum %d, want 30 and 30", s.Hdr.Ttl, s.Minttl)
	}
}

func TestWarningOnlyWithAllowWarning(t *testing.T) {
	cat := exampleCatalog(t).cat
	def := startServer(t, cat, nil)
	allow := startServer(t, cat, func(c *Config) { c.AllowWarning = true })

	r := exchange(t, def, "udp", "v1.web.service.roster.", dns.TypeA, 0)
	if got := rrStrings(r.Answer); !slices.Equal(got, []string{"v1.web.service.roster. 0 IN A 10.0.0.1"}) {
		t.Errorf("default: %q, want only the passing instance", got)
	}
	r = exchange(t, allow, "udp", "v1.web.service.roster.", dns.TypeA, 0)
	want := []string{"v1.web.service.roster. 0 IN A 10.0.0.1", "v1.web.service.roster. 0 IN A 10.0.0.3"}
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("AllowWarning: %q, want %q", got, want)
	}
	// Critical stays out either way.
	r = exchange(t, allow, "udp", "down.service.roster.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AllowWarning on critical-only service: %s with %d answers, want NODATA", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}

func TestChangesVisibleAfterApply(t *testing.T) {
	c := newCatalog(t)
	c.register(inst("api", "a1", "10.2.0.1", 80))
	srv := startServer(t, c.cat, nil)
	addrs := func() []string {
		r := exchange(t, srv, "udp", "api.service.roster.", dns.TypeA, 0)
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		slices.Sort(out)
		return out
	}
	if got := addrs(); !slices.Equal(got, []string{"10.2.0.1"}) {
		t.Fatalf("before: %v", got)
	}
	c.register(inst("api", "a2", "10.2.0.2", 80))
	if got := addrs(); !slices.Equal(got, []string{"10.2.0.1", "10.2.0.2"}) {
		t.Fatalf("after register: %v", got)
	}
	c.status("a1", api.StatusCritical)
	if got := addrs(); !slices.Equal(got, []string{"10.2.0.2"}) {
		t.Fatalf("after a1 turned critical: %v", got)
	}
	c.status("a2", api.StatusCritical)
	r := exchange(t, srv, "udp", "api.service.roster.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("all critical: %s %v %v, want NODATA with SOA", dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}
	c.deregister("api", "a1")
	c.deregister("api", "a2")
	r = exchange(t, srv, "udp", "api.service.roster.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("all deregistered: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	c.register(inst("api", "a3", "10.2.0.3", 80))
	if got := addrs(); !slices.Equal(got, []string{"10.2.0.3"}) {
		t.Fatalf("registered again: %v", got)
	}
}

func TestShufflesEveryAnswer(t *testing.T) {
	c := newCatalog(t)
	c.fill("web", 10)
	srv := startServer(t, c.cat, nil)
	orders := map[string]bool{}
	first := map[string]int{}
	const queries = 300
	for range queries {
		r := exchange(t, srv, "udp", "web.service.roster.", dns.TypeA, 0)
		if len(r.Answer) != 10 {
			t.Fatalf("%d answers, want 10", len(r.Answer))
		}
		var order []string
		for _, rr := range r.Answer {
			order = append(order, rr.(*dns.A).A.String())
		}
		orders[strings.Join(order, ",")] = true
		first[order[0]]++
	}
	if len(orders) < 10 {
		t.Errorf("%d distinct orders in %d answers, want at least 10", len(orders), queries)
	}
	// Every instance comes first sometimes (each about 1 in 10).
	if len(first) != 10 {
		t.Errorf("only %d of 10 instances ever came first: %v", len(first), first)
	}
	for a, n := range first {
		if n < queries/10/4 {
			t.Errorf("%s came first %d times in %d answers, want about %d", a, n, queries, queries/10)
		}
	}
}

func TestTruncationOverUDPWholeOverTCP(t *testing.T) {
	c := newCatalog(t)
	c.fill("big", 300)
	srv := startServer(t, c.cat, func(c *Config) { c.MaxRecords = 1000; c.UDPSize = 4096 })

	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		t.Run(dns.Type(qtype).String(), func(t *testing.T) {
			udp := exchange(t, srv, "udp", "big.service.roster.", qtype, 0)
			if !udp.Truncated {
				t.Errorf("UDP answer of 300 records without TC")
			}
			if n := packedLen(t, udp); n > 512 {
				t.Errorf("UDP answer without EDNS0 is %d bytes, over 512", n)
			}
			if len(udp.Answer) == 0 || len(udp.Answer) >= 300 {
				t.Errorf("UDP answer kept %d records, want what fits in 512 bytes", len(udp.Answer))
			}

			edns := exchange(t, srv, "udp", "big.service.roster.", qtype, 4096)
			if !edns.Truncated || edns.IsEdns0() == nil {
				t.Errorf("EDNS0 answer: TC %v, OPT %v; want both", edns.Truncated, edns.IsEdns0())
			}
			if n := packedLen(t, edns); n > 4096 {
				t.Errorf("EDNS0 answer is %d bytes, over 4096", n)
			}
			if len(edns.Answer) <= len(udp.Answer) {
				t.Errorf("EDNS0 4096 got %d records, no more than plain UDP's %d", len(edns.Answer), len(udp.Answer))
			}

			tcp := exchange(t, srv, "tcp", "big.service.roster.", qtype, 0)
			if tcp.Truncated || len(tcp.Answer) != 300 {
				t.Errorf("TCP answer: TC %v with %d records, want all 300", tcp.Truncated, len(tcp.Answer))
			}

			if qtype == dns.TypeSRV {
				for _, m := range []*dns.Msg{udp, edns, tcp} {
					checkSRVGlue(t, m)
				}
			}
		})
	}
}

// checkSRVGlue checks that every SRV target in the answer has its address in
// the additional section, and nothing else is there.
func checkSRVGlue(t *testing.T, m *dns.Msg) {
	t.Helper()
	targets := map[string]bool{}
	for _, rr := range m.Answer {
		targets[rr.(*dns.SRV).Target] = true
	}
	extra := 0
	for _, rr := range m.Extra {
		if _, ok := rr.(*dns.OPT); ok {
			continue
		}
		extra++
		if !targets[rr.Header().Name] {
			t.Errorf("additional %s is not the target of a kept SRV", rr)
		}
	}
	if extra != len(targets) {
		t.Errorf("%d additional records for %d SRV targets", extra, len(targets))
	}
}

func TestEDNS0SizeCappedByConfig(t *testing.T) {
	c := newCatalog(t)
	c.fill("big", 300)
	srv := startServer(t, c.cat, func(c *Config) { c.MaxRecords = 1000 }) // default UDPSize 1232
	r := exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 4096)
	if n := packedLen(t, r); n > DefaultUDPSize || !r.Truncated {
		t.Errorf("answer %d bytes, TC %v; want at most %d and TC", n, r.Truncated, DefaultUDPSize)
	}
	if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != DefaultUDPSize {
		t.Errorf("OPT %v, want one advertising %d", opt, DefaultUDPSize)
	}
	// A requester asking for less than 512 gets 512 (RFC 6891).
	r = exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 100)
	if n := packedLen(t, r); n > 512 || len(r.Answer) == 0 {
		t.Errorf("EDNS0 100: %d bytes with %d records", n, len(r.Answer))
	}
}

func TestMaxRecordsCapsAnswersWithoutTruncation(t *testing.T) {
	c := newCatalog(t)
	c.fill("big", 300)
	srv := startServer(t, c.cat, nil)
	seen := map[string]bool{}
	retry.Eventually(t, 20*time.Second, func() error {
		r := exchange(t, srv, "tcp", "big.service.roster.", dns.TypeA, 0)
		if len(r.Answer) != DefaultMaxRecords || r.Truncated {
			t.Fatalf("TCP answer: %d records, TC %v; want %d, no TC", len(r.Answer), r.Truncated, DefaultMaxRecords)
		}
		for _, rr := range r.Answer {
			seen[rr.(*dns.A).A.String()] = true
		}
		if len(seen) < 300 {
			return fmt.Errorf("%d of 300 instances served so far", len(seen))
		}
		return nil
	})
}

func TestMalformedAndUnsupportedQueries(t *testing.T) {
	srv := startServer(t, exampleCatalog(t).cat, nil)
	query := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("web.service.roster.", dns.TypeA)
		return m
	}
	t.Run("opcode", func(t *testing.T) {
		for _, op := range []int{dns.OpcodeStatus, dns.OpcodeNotify, dns.OpcodeUpdate, dns.OpcodeIQuery} {
			m := query()
			m.Opcode = op
			if r := exchangeMsg(t, srv, "udp", m); r.Rcode != dns.RcodeNotImplemented {
				t.Errorf("opcode %s: %s, want NOTIMP", dns.OpcodeToString[op], dns.RcodeToString[r.Rcode])
			}
		}
	})
	t.Run("questions", func(t *testing.T) {
		m := query()
		m.Question = append(m.Question, m.Question[0])
		if r := exchangeMsg(t, srv, "tcp", m); r.Rcode != dns.RcodeFormatError {
			t.Errorf("two questions: %s, want FORMERR", dns.RcodeToString[r.Rcode])
		}
		m.Question = nil
		if r := exchangeMsg(t, srv, "tcp", m); r.Rcode != dns.RcodeFormatError {
			t.Errorf("no question: %s, want FORMERR", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("edns version", func(t *testing.T) {
		m := query()
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := exchangeMsg(t, srv, "udp", m)
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil {
			t.Errorf("EDNS version 1: %s, OPT %v; want BADVERS with OPT", dns.RcodeToString[r.Rcode], r.IsEdns0())
		}
	})
	t.Run("meta types", func(t *testing.T) {
		for qtype, want := range map[uint16]int{
			dns.TypeOPT: dns.RcodeFormatError, dns.TypeTSIG: dns.RcodeFormatError,
			dns.TypeIXFR: dns.RcodeRefused, dns.TypeMAILB: dns.RcodeNotImplemented,
		} {
			m := query()
			m.Question[0].Qtype = qtype
			if r := exchangeMsg(t, srv, "tcp", m); r.Rcode != want {
				t.Errorf("qtype %s: %s, want %s", dns.Type(qtype), dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		// A header claiming one question, followed by a broken name.
		raw := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 'b'}
		r := rawExchange(t, srv, raw)
		if r.Id != 0x1234 || r.Rcode != dns.RcodeFormatError {
			t.Errorf("broken question: id %#x %s, want FORMERR", r.Id, dns.RcodeToString[r.Rcode])
		}
		// The server still answers afterwards.
		if r := exchange(t, srv, "udp", "web.service.roster.", dns.TypeA, 0); len(r.Answer) != 2 {
			t.Errorf("after garbage: %d answers", len(r.Answer))
		}
	})
}

// rawExchange sends raw bytes over UDP and unpacks the answer.
func rawExchange(t *testing.T, srv *Server, raw []byte) *dns.Msg {
	t.Helper()
	var r *dns.Msg
	retry.Eventually(t, 10*time.Second, func() error {
		conn, err := dns.Dial("udp", srv.UDPAddr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write(raw); err != nil {
			return err
		}
		r, err = conn.ReadMsg()
		return err
	})
	return r
}

func TestNewValidatesConfig(t *testing.T) {
	cat := newCatalog(t).cat
	for name, cfg := range map[string]Config{
		"no catalog":  {},
		"root domain": {Catalog: cat, Domain: "."},
		"bad domain":  {Catalog: cat, Domain: "a..b"},
		"udp size":    {Catalog: cat, UDPSize: 100},
		"ttl":         {Catalog: cat, TTL: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	s, err := New(Config{Catalog: cat, Domain: "Example.ORG"})
	if err != nil {
		t.Fatal(err)
	}
	if s.domain != "example.org." {
		t.Errorf("domain %q, want example.org.", s.domain)
	}
}

func TestCloseStopsListeners(t *testing.T) {
	s, err := New(Config{Catalog: newCatalog(t).cat, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	udp, tcp := s.UDPAddr().String(), s.TCPAddr().String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Both ports are free again.
	s2, err := New(Config{Catalog: newCatalog(t).cat, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(udp); err != nil {
		t.Fatalf("UDP %s and TCP %s not released: %v", udp, tcp, err)
	}
	s2.Close()
}

// registry.Catalog must satisfy the seam.
var _ Catalog = (*registry.Catalog)(nil)

func TestEscapedNames(t *testing.T) {
	c := newCatalog(t)
	c.register(inst("web", "w1", "10.0.0.1", 80, "v1.2"))
	c.register(inst("web", "w2", "10.0.0.2", 80))
	srv := startServer(t, c.cat, nil)
	cases := []dnsCase{
		// A tag with a dot in it is asked for with an escaped dot.
		{name: `v1\.2.web.service.roster.`, qtype: dns.TypeA, answer: []string{`v1\.2.web.service.roster. 0 IN A 10.0.0.1`}},
		// \087 is "W": the same name as web.service.roster.
		{name: `\087eb.service.roster.`, qtype: dns.TypeA, answer: []string{"Web.service.roster. 0 IN A 10.0.0.1", "Web.service.roster. 0 IN A 10.0.0.2"}},
		// An escaped dot before the domain makes one label: not in the domain.
		{name: `web.service\.roster.`, qtype: dns.TypeA, rcode: dns.RcodeRefused},
	}
	for _, tc := range cases {
		r := exchange(t, srv, "udp", tc.name, tc.qtype, 0)
		if tc.name == `\087eb.service.roster.` {
			tc.name = "Web.service.roster." // miekg/dns presents the letter plainly
		}
		t.Run(tc.name, func(t *testing.T) { checkAnswer(t, r, tc) })
	}
}

func TestMetricsCountRcodesAndCache(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := startServer(t, exampleCatalog(t).cat, func(c *Config) { c.Metrics = reg })
	for range 3 {
		exchange(t, srv, "udp", "web.service.roster.", dns.TypeA, 0)
	}
	exchange(t, srv, "udp", "nosuch.service.roster.", dns.TypeA, 0)
	exchange(t, srv, "udp", "example.com.", dns.TypeA, 0)
	// Refused before ServeDNS (issue #15): NOTIFY and UPDATE answer
	// NOTIMP, two questions FORMERR, and each is counted.
	for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate} {
		m := new(dns.Msg)
		m.SetQuestion("web.service.roster.", dns.TypeA)
		m.Opcode = op
		if r := exchangeMsg(t, srv, "udp", m); r.Rcode != dns.RcodeNotImplemented {
			t.Fatalf("opcode %d answered %s", op, dns.RcodeToString[r.Rcode])
		}
	}
	two := new(dns.Msg)
	two.SetQuestion("web.service.roster.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if r := exchangeMsg(t, srv, "udp", two); r.Rcode != dns.RcodeFormatError {
		t.Fatalf("two questions answered %s", dns.RcodeToString[r.Rcode])
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	want := map[string]float64{
		"roster_dns_queries_total/NOERROR":   3,
		"roster_dns_queries_total/NXDOMAIN":  1,
		"roster_dns_queries_total/REFUSED":   1,
		"roster_dns_queries_total/NOTIMP":    2,
		"roster_dns_queries_total/FORMERR":   1,
		"roster_dns_answer_cache_total/hit":  2,
		"roster_dns_answer_cache_total/miss": 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if _, err := New(Config{Catalog: newCatalog(t).cat, Metrics: reg}); err == nil {
		t.Error("second server registered the same metrics")
	}
}
