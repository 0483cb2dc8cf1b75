package dnsapi

import (
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// This file decides what each name answers; cache.go packs and serves it.

// serviceAnswer builds the entry for a service name from one view. exists is
// false when no instance of the service (carrying the tag, if any) is
// registered in any state: the name does not exist (NXDOMAIN). A name that
// exists but has no healthy instance, or none with records of the asked
// type, answers NOERROR with no records (NODATA) and the SOA.
func (s *Server) serviceAnswer(p parsedName, qname string, qtype uint16, view *registry.ServiceView) (*entry, error) {
	var index uint64
	var selected []registry.Instance
	exists := false
	if view != nil {
		index = view.Index
		for in := range view.All() {
			if p.tag != "" && !hasTag(in.Tags, p.tag) {
				continue
			}
			exists = true
			if st := in.Health(); st == api.StatusPassing || s.allowWarning && st == api.StatusWarning {
				selected = append(selected, *in)
			}
		}
	}
	if !exists {
		return s.negative(qname, qtype, dns.RcodeNameError, index)
	}
	var items []item
	limit := s.maxRecords
	c := classOf(qtype)
	if p.srvOnly && c == qANY {
		c = qSRV
	}
	switch {
	case c == qSRV:
		items = s.srvItems(qname, selected)
	case p.srvOnly:
		// The RFC 2782 form holds only SRV records.
	case c == qA || c == qAAAA || c == qANY:
		items = s.addressItems(qname, c, selected)
		if len(items) == 0 && !hasIP(selected) {
			items, limit = s.cnameItems(qname, selected), 1
		}
	case c == qCNAME:
		if !hasIP(selected) {
			items, limit = s.cnameItems(qname, selected), 1
		}
	}
	if len(items) == 0 {
		return s.negative(qname, qtype, dns.RcodeSuccess, index)
	}
	return s.shuffled(qname, qtype, index, items, limit)
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

func hasIP(instances []registry.Instance) bool {
	for _, in := range instances {
		if t, ok := targetOf(in.Address); ok && t.ip.IsValid() {
			return true
		}
	}
	return false
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

// addressItems are the A and/or AAAA records of the instances with IP
// addresses, one per distinct address (an RRset holds no duplicates).
func (s *Server) addressItems(qname string, c qclass, instances []registry.Instance) []item {
	var items []item
	seen := make(map[netip.Addr]bool, len(instances))
	for _, in := range instances {
		t, ok := targetOf(in.Address)
		if !ok || !t.ip.IsValid() || seen[t.ip] {
			continue
		}
		if c == qA && !t.ip.Is4() || c == qAAAA && t.ip.Is4() {
			continue
		}
		seen[t.ip] = true
		items = append(items, item{answer: s.addressRR(qname, t.ip)})
	}
	return items
}

// cnameItems are one CNAME per instance registered with a hostname; an
// answer carries one of them (a name holds at most one CNAME), a different
// one from answer to answer.
func (s *Server) cnameItems(qname string, instances []registry.Instance) []item {
	var items []item
	seen := make(map[string]bool)
	for _, in := range instances {
		t, ok := targetOf(in.Address)
		if !ok || t.host == "" || seen[t.host] {
			continue
		}
		seen[t.host] = true
		items = append(items, item{answer: &dns.CNAME{
			Hdr:    dns.RR_Header{Name: qname, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: s.ttl},
			Target: t.host,
		}})
	}
	return items
}

// srvItems are one SRV per instance (priority 1, weight = the instance's
// weight), each targeting <hex-ip>.addr.<domain> with that name's address
// record as its additional record, or the instance's hostname (no
// additional record: it is not in the catalog).
func (s *Server) srvItems(qname string, instances []registry.Instance) []item {
	items := make([]item, 0, len(instances))
	for _, in := range instances {
		t, ok := targetOf(in.Address)
		if !ok || in.Port < 0 || in.Port > 65535 {
			continue
		}
		it := item{}
		srv := &dns.SRV{
			Hdr:      dns.RR_Header{Name: qname, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: s.ttl},
			Priority: 1,
			Weight:   uint16(min(max(in.Weight, 0), 65535)),
			Port:     uint16(in.Port),
		}
		if t.ip.IsValid() {
			srv.Target = addrName(t.ip, s.domain)
			it.extra = s.addressRR(srv.Target, t.ip)
		} else {
			srv.Target = t.host
		}
		it.answer = srv
		items = append(items, it)
	}
	return items
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
	return newEntry(index, rcode, qname, []*variant{v}), nil
}

func newEntry(index uint64, rcode int, qname string, vs []*variant) *entry {
	return &entry{index: index, rcode: rcode, qname: qname, qlen: wireLen(qname), variants: vs}
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

// shuffled packs up to maxVariants orders of items, each holding at most
// limit of them (MaxRecords, or 1 for CNAMEs). With n items and n <= 32,
// every item comes first equally often (rotations of one random order, the
// rest of each order shuffled again); with more, each variant is a window of
// one random order, spread so that every item is in some variant, shuffled.
func (s *Server) shuffled(qname string, qtype uint16, index uint64, items []item, limit int) (*entry, error) {
	orders := shuffleOrders(len(items), limit)
	vs := make([]*variant, 0, len(orders))
	for _, order := range orders {
		v := &variant{qname: qname, qtype: qtype, rcode: dns.RcodeSuccess, items: make([]item, len(order))}
		for i, j := range order {
			v.items[i] = items[j]
		}
		full, err := v.pack(len(v.items), false)
		if err != nil {
			return nil, err
		}
		v.full = full
		vs = append(vs, v)
	}
	return newEntry(index, dns.RcodeSuccess, qname, vs), nil
}

// shuffleOrders returns the index orders of the variants of n items, each
// of at most w items.
func shuffleOrders(n, w int) [][]int {
	if n == 0 {
		return nil
	}
	w = min(w, n)
	count := maxVariants
	if n <= maxVariants {
		count = n * (maxVariants / n)
		switch n { // no more variants than there are distinct orders
		case 1:
			count = 1
		case 2:
			count = 2
		case 3:
			count = 6
		case 4:
			count = 24
		}
	}
	base := rand.Perm(n)
	orders := make([][]int, count)
	for i := range orders {
		start := i * n / count
		o := make([]int, w)
		for j := range o {
			o[j] = base[(start+j)%n]
		}
		rest := o
		if n <= maxVariants {
			rest = o[1:] // keep the rotation's first: first places stay even
		}
		rand.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
		orders[i] = o
	}
	return orders
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
