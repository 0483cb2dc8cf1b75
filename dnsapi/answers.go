package dnsapi

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// This file decides what each name answers; cache.go packs and serves it.

// serviceAnswer builds the entry for a service name from one view, from the
// instance with id start on ("" for the first; see entry.window). The name
// does not exist (NXDOMAIN) when no instance of the service (carrying the
// tag, if any) is registered in any state. A name that exists but has no
// healthy instance, or none with records of the asked type, answers
// NOERROR with no records (NODATA) and the SOA.
//
// It visits the instances from start until it has a window's worth of
// eligible ones (windowSize), so its cost follows the answer, not the
// service, unless eligible instances are rare in it.
func (s *Server) serviceAnswer(p parsedName, qname string, qtype uint16, view *registry.ServiceView, start string) (*entry, error) {
	var index uint64
	if view != nil {
		index = view.Index
	}
	if view == nil || view.Len() == 0 {
		return s.negative(qname, qtype, dns.RcodeNameError, index)
	}
	c := classOf(qtype)
	if p.srvOnly && c == qANY {
		c = qSRV
	}
	w := min(s.maxRecords, maxAnswerRecords)
	var sc scan
	switch {
	case c == qSRV:
		sc = s.scan(p, view, scanSRV, c, start, windowSize(w))
	case p.srvOnly || c == qOther:
		// The RFC 2782 form holds only SRV records; other types none.
		sc = s.scan(p, view, scanExists, c, "", 0)
	case c == qCNAME:
		sc = s.scan(p, view, scanHosts, c, "", windowSize(1))
	default:
		sc = s.scan(p, view, scanAddr, c, start, windowSize(w))
	}
	if !sc.tagged {
		return s.negative(qname, qtype, dns.RcodeNameError, index)
	}
	kind, cands, limit := recAddr, sc.cands, w
	switch {
	case c == qSRV:
		kind = recSRV
	case c == qCNAME && sc.sawIP:
		cands = nil // a name with addresses holds no CNAME
	case c == qCNAME || len(cands) == 0 && !sc.sawIP:
		kind, cands, limit = recCNAME, sc.hosts, 1
	}
	if len(cands) == 0 {
		return s.negative(qname, qtype, dns.RcodeSuccess, index)
	}
	window := !sc.complete && kind != recCNAME
	rs := s.newRecordSet(qname, qtype, kind, cands, limit, !window)
	e := &entry{index: index, rcode: dns.RcodeSuccess, qname: qname, qtype: qtype, qlen: wireLen(qname), set: rs}
	e.size = entryOverhead + 2*int64(len(qname)) + rs.bytes()
	if window {
		e.window, e.start, e.next = true, start, sc.next
	}
	return e, nil
}

// scanMode is what a scan collects.
type scanMode uint8

const (
	scanExists scanMode = iota // only whether the name exists
	scanAddr                   // IPs of the question's families, and hostnames
	scanSRV                    // every reachable target
	scanHosts                  // hostnames, and whether any IP is there
)

// scan is what a walk over a service found.
type scan struct {
	cands    []cand
	hosts    []cand // distinct hostnames (scanAddr, scanHosts), at most the limit
	tagged   bool   // an instance carries the tag (any instance, without one)
	sawIP    bool   // a selected instance has an IP address
	complete bool   // every instance was visited: cands are all there are
	next     string // !complete: the id of the first eligible instance left out
}

// scan walks view from the instance with id start, wrapping round to the
// first, and collects up to limit eligible instances.
func (s *Server) scan(p parsedName, view *registry.ServiceView, mode scanMode, c qclass, start string, limit int) scan {
	var sc scan
	seenIP := map[netip.Addr]bool{}
	seenHost := map[string]bool{}
	visit := func(in *registry.Instance) bool {
		if p.tag != "" && !hasTag(in.Tags, p.tag) {
			return true
		}
		sc.tagged = true
		if mode == scanExists {
			return false
		}
		if st := in.Health(); st != api.StatusPassing && (!s.allowWarning || st != api.StatusWarning) {
			return true
		}
		t, ok := targetOf(in.Address)
		if !ok {
			return true
		}
		if t.ip.IsValid() {
			sc.sawIP = true
		}
		switch {
		case mode == scanSRV:
			if in.Port < 0 || in.Port > 65535 {
				return true
			}
		case !t.ip.IsValid():
			if len(sc.hosts) < limit && !seenHost[t.host] {
				seenHost[t.host] = true
				sc.hosts = append(sc.hosts, cand{t: t})
			}
			return true
		case mode == scanHosts:
			return false // a name with addresses holds no CNAME
		case c == qA && !t.ip.Is4() || c == qAAAA && t.ip.Is4() || seenIP[t.ip]:
			return true
		default:
			seenIP[t.ip] = true
		}
		if len(sc.cands) == limit {
			sc.next = in.ID
			return false
		}
		sc.cands = append(sc.cands, cand{t: t, port: in.Port, weight: in.Weight})
		return true
	}
	for in := range view.From(start) {
		if !visit(in) {
			return sc
		}
	}
	if start != "" {
		for in := range view.All() {
			if in.ID >= start {
				break
			}
			if !visit(in) {
				return sc
			}
		}
	}
	sc.complete = true
	return sc
}

// hasTag matches a DNS tag label against an instance's tags. DNS names are
// case-insensitive, so the match is too (HTTP's ?tag= is exact).
func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// target is where an instance is reached: an IP, or a hostname.
type target struct {
	ip   netip.Addr
	host string // FQDN, lowercase; set when ip is not valid
}

func targetOf(address string) (target, bool) {
	if ip, err := netip.ParseAddr(address); err == nil {
		return target{ip: ip.Unmap().WithZone("")}, true
	}
	if address == "" || strings.ContainsAny(address, " \\\"();@$") {
		return target{}, false
	}
	host := dns.Fqdn(lowerASCII(address))
	if _, ok := dns.IsDomainName(host); !ok || host == "." {
		return target{}, false
	}
	return target{host: host}, true
}

// addressRR is the A or AAAA record of ip under name.
func (s *Server) addressRR(name string, ip netip.Addr) dns.RR {
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: s.ttl}
	if ip.Is4() {
		hdr.Rrtype = dns.TypeA
		b := ip.As4()
		return &dns.A{Hdr: hdr, A: b[:]}
	}
	hdr.Rrtype = dns.TypeAAAA
	b := ip.As16()
	return &dns.AAAA{Hdr: hdr, AAAA: b[:]}
}

// negative is a NXDOMAIN or NODATA answer: no records, the SOA in the
// authority section (its minimum field is the negative-caching TTL).
func (s *Server) negative(qname string, qtype uint16, rcode int, index uint64) (*entry, error) {
	return s.single(qname, qtype, rcode, index, nil, []dns.RR{s.soa}, nil)
}

// single is an entry with one fixed order.
func (s *Server) single(qname string, qtype uint16, rcode int, index uint64, items []item, ns, extra []dns.RR) (*entry, error) {
	v := &variant{qname: qname, qtype: qtype, rcode: rcode, items: items, ns: ns, extra: extra}
	full, err := v.pack(len(items), false)
	if err != nil {
		return nil, err
	}
	v.full = full
	e := &entry{index: index, rcode: rcode, qname: qname, qtype: qtype, qlen: wireLen(qname), fixed: v}
	e.size = entryOverhead + 2*int64(len(qname)) + int64(cap(full))
	return e, nil
}

// wireLen is the uncompressed wire length of a presented name.
func wireLen(name string) int {
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return -1
	}
	return n
}

// apexAnswer answers at the domain apex: SOA and NS.
func (s *Server) apexAnswer(qname string, qtype uint16) (*entry, error) {
	var glue []dns.RR
	if g := s.glue.Load(); g != nil {
		glue = *g
	}
	switch qtype {
	case dns.TypeANY:
		return s.single(qname, qtype, dns.RcodeSuccess, 0, []item{{answer: s.soa}, {answer: s.ns}}, nil, glue)
	case dns.TypeSOA:
		return s.single(qname, qtype, dns.RcodeSuccess, 0, []item{{answer: s.soa}}, []dns.RR{s.ns}, glue)
	case dns.TypeNS:
		return s.single(qname, qtype, dns.RcodeSuccess, 0, []item{{answer: s.ns}}, nil, glue)
	}
	return s.negative(qname, qtype, dns.RcodeSuccess, 0)
}

// nsAnswer answers ns.<domain>: the address this server listens on, when
// it listens on one specific address.
func (s *Server) nsAnswer(qname string, qtype uint16) (*entry, error) {
	var items []item
	if g := s.glue.Load(); g != nil {
		for _, rr := range *g {
			t := rr.Header().Rrtype
			if qtype == t || qtype == dns.TypeANY {
				rr = dns.Copy(rr)
				rr.Header().Name = qname
				items = append(items, item{answer: rr})
			}
		}
	}
	if len(items) == 0 {
		return s.negative(qname, qtype, dns.RcodeSuccess, 0)
	}
	return s.single(qname, qtype, dns.RcodeSuccess, 0, items, nil, nil)
}

// addrAnswer answers <hex-ip>.addr.<domain>: A for an IPv4, AAAA for an IPv6.
func (s *Server) addrAnswer(qname string, qtype uint16, ip netip.Addr) (*entry, error) {
	want := dns.TypeAAAA
	if ip.Is4() {
		want = dns.TypeA
	}
	if qtype != want && qtype != dns.TypeANY {
		return s.negative(qname, qtype, dns.RcodeSuccess, 0)
	}
	return s.single(qname, qtype, dns.RcodeSuccess, 0, []item{{answer: s.addressRR(qname, ip)}}, nil, nil)
}
