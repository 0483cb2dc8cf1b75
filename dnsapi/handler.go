package dnsapi

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/registry"
)

// acceptQuery screens packets before they are unpacked: responses are
// dropped (answering them invites loops and reflection), other opcodes get
// NOTIMP, and anything but one question with at most OPT and TSIG in the
// additional section gets FORMERR. ServeDNS checks the same again, so it
// stays correct under any server.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// optLen is the wire length of the OPT record added to answers of EDNS0
// requests: root name, type, class (UDP size), TTL (flags), empty RDATA.
const optLen = 11

// udpBuckets are the sizes truncated answers are packed for: a requester's
// EDNS0 size is rounded down to one of them, so a handful of truncated
// copies serves every requester.
var udpBuckets = [...]int{512, 1024, 1232, 1280, 1400, 1432, 1452, 1480, 1500, 2048, 4096, 8192, 16384, 32768, dns.MaxMsgSize}

// ServeDNS answers one query. It is safe for concurrent use and never
// panics on any message miekg/dns can unpack.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r == nil || r.Response {
		return // never answer a response
	}
	if r.Opcode != dns.OpcodeQuery {
		s.fail(w, r, dns.RcodeNotImplemented, nil)
		return
	}
	var opt *dns.OPT
	for _, rr := range r.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				s.fail(w, r, dns.RcodeFormatError, nil) // RFC 6891 6.1.1
				return
			}
			opt = o
		}
	}
	if len(r.Question) != 1 || len(r.Answer) != 0 || len(r.Ns) != 0 {
		s.fail(w, r, dns.RcodeFormatError, opt)
		return
	}
	if opt != nil && opt.Version() != 0 {
		s.fail(w, r, dns.RcodeBadVers, opt)
		return
	}
	q := r.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		s.fail(w, r, dns.RcodeRefused, opt) // we serve no other class
		return
	}
	switch q.Qtype {
	case dns.TypeNone, dns.TypeOPT, dns.TypeTSIG:
		s.fail(w, r, dns.RcodeFormatError, opt) // not a question one can ask
		return
	case dns.TypeAXFR, dns.TypeIXFR:
		s.fail(w, r, dns.RcodeRefused, opt) // no zone transfers
		return
	case dns.TypeMAILA, dns.TypeMAILB, dns.TypeTKEY:
		s.fail(w, r, dns.RcodeNotImplemented, opt)
		return
	}

	name, escaped, ok := canonical(q.Name)
	if !ok {
		s.fail(w, r, dns.RcodeFormatError, opt)
		return
	}
	rel, ok := relativeTo(name, s.domain, escaped)
	if !ok {
		s.fail(w, r, dns.RcodeRefused, opt) // not an open resolver
		return
	}
	p := parseRelative(rel, escaped)

	var e *entry
	var err error
	first := -1
	switch p.kind {
	case nameService:
		e, first, err = s.serviceEntry(p, name, q.Qtype)
	case nameApex:
		e, err = s.apexAnswer(name, q.Qtype)
	case nameNS:
		e, err = s.nsAnswer(name, q.Qtype)
	case nameAddr:
		e, err = s.addrAnswer(name, q.Qtype, p.addr)
	case nameEmpty:
		e, err = s.negative(name, q.Qtype, dns.RcodeSuccess, 0)
	default:
		e, err = s.negative(name, q.Qtype, dns.RcodeNameError, 0)
	}
	if err != nil {
		s.log.Error("dns answer not packed", "name", name, "type", dns.Type(q.Qtype).String(), "err", err)
		s.fail(w, r, dns.RcodeServerFailure, opt)
		return
	}
	s.write(w, r, opt, e, first)
}

// serviceEntry returns the cached entry for a service question, rebuilding
// it when the service's view moved on, and the first record this query
// writes of a window's set (-1: any, at random).
func (s *Server) serviceEntry(p parsedName, name string, qtype uint16) (*entry, int, error) {
	view := s.cat.Service(p.service)
	var index uint64
	if view != nil {
		index = view.Index
	}
	key := cacheKey{name: name, class: classOf(qtype)}
	sl := s.answers.load(key)
	var old *entry
	if sl != nil {
		old = sl.e.Load()
		if old != nil && old.index == index && index != 0 {
			s.metrics.cacheHits.Inc()
			if !sl.used.Load() {
				sl.used.Store(true)
			}
			if !old.window {
				return old, -1, nil
			}
			return old, s.turn(sl, old, p, view), nil
		}
	}
	s.metrics.cacheMisses.Inc()
	// A window carries on where the last view's was: a service that keeps
	// changing still comes round whole.
	start, served := "", int64(0)
	if old != nil && old.window {
		if n := old.served.Load(); n >= int64(old.set.len()) {
			start = old.next
		} else {
			start, served = old.start, n
		}
	}
	e, err := s.serviceAnswer(p, name, canonicalQtype(qtype), view, start)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case e.rcode == dns.RcodeNameError:
		// Not cached: names that do not exist are unbounded in number.
		if sl != nil {
			s.answers.drop(key, sl)
		}
	case index != 0:
		if sl == nil {
			sl = s.answers.slotFor(key, p.service)
		}
		sl.used.Store(true)
		e.served.Store(served)
		s.answers.store(sl, nil, e)
		if s.answers.sweepDue() {
			s.answers.sweep(s.current)
		}
	}
	if !e.window {
		return e, -1, nil
	}
	return e, s.turn(sl, e, p, view), nil
}

// turn counts a query of a window's set and returns the record it puts
// first: each in turn, so that a pass of as many queries as the set holds
// puts every record first once. The query that completes the pass builds
// the window after it from the same view.
func (s *Server) turn(sl *slot, e *entry, p parsedName, view *registry.ServiceView) int {
	j := e.served.Add(1) - 1
	n := int64(e.set.len())
	if j >= n-1 && sl != nil && e.advancing.CompareAndSwap(false, true) {
		next, err := s.serviceAnswer(p, e.qname, e.qtype, view, e.next)
		if err == nil && next.rcode == dns.RcodeSuccess {
			s.answers.store(sl, e, next)
		}
	}
	return int(j % n)
}

// current says whether a cached entry still answers for its service: the
// service has instances and its view is the one the entry was built from.
func (s *Server) current(service string, e *entry) bool {
	v := s.cat.Service(service)
	return v != nil && v.Len() > 0 && v.Index == e.index
}

// canonicalQtype is the type packed into a shared entry's question; the
// request's own type is patched in when the answer is written.
func canonicalQtype(qtype uint16) uint16 {
	if classOf(qtype) == qOther {
		return dns.TypeTXT
	}
	return qtype
}

// write sends e with the request's id, RD and CD bits, question (its case,
// type and class) and, for EDNS0 requests, an OPT record; over UDP it sends
// what fits the requester's size. A set of records is written from its
// record first (at random when negative) in a random stride.
func (s *Server) write(w dns.ResponseWriter, r *dns.Msg, opt *dns.OPT, e *entry, first int) {
	size := dns.MaxMsgSize
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); !tcp {
		size = dns.MinMsgSize
		if opt != nil {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), s.udpSize)
		}
	}
	extra := 0
	if opt != nil {
		extra = optLen
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	var buf []byte
	if rs := e.set; rs != nil {
		x := rand.Uint64()
		if first < 0 {
			first = int((x >> 32) % uint64(rs.len()))
		}
		buf = rs.write(sc, size-extra, first, int(x&0xFFFF))
	} else {
		msg := e.fixed.full
		if len(msg)+extra > size {
			b := udpBuckets[0]
			for _, u := range udpBuckets {
				if u <= size {
					b = u
				}
			}
			var err error
			if msg, err = e.fixed.fit(b - extra); err != nil {
				s.log.Error("dns answer not truncated", "name", e.qname, "err", err)
				s.fail(w, r, dns.RcodeServerFailure, opt)
				return
			}
		}
		buf = append(sc.buf[:0], msg...)
	}
	sc.buf = buf
	if !patch(buf, r, e) {
		s.writeSlow(w, r, opt, buf)
		return
	}
	if opt != nil {
		buf = appendOPT(buf, s.udpSize)
		sc.buf = buf
	}
	w.Write(buf) //nolint:errcheck // a lost UDP answer is the client's retry
	s.metrics.rcode(e.rcode)
}

// patch writes the request's id, RD and CD bits and question into a packed
// answer. It fails when the request's name does not pack to the same length
// as the cached one (only for names miekg/dns would not present itself).
func patch(buf []byte, r *dns.Msg, e *entry) bool {
	q := r.Question[0]
	binary.BigEndian.PutUint16(buf[0:], r.Id)
	if r.RecursionDesired {
		buf[2] |= 0x01
	}
	if r.CheckingDisabled {
		buf[3] |= 0x10
	}
	if e.qlen < 0 || len(buf) < 12+e.qlen+4 {
		return false
	}
	if q.Name != e.qname {
		// Same name, other case: echo the requester's case (resolvers
		// using 0x20 randomisation check it). Answer names point at the
		// question, so they follow.
		var nb [256]byte
		n, err := dns.PackDomainName(q.Name, nb[:], 0, nil, false)
		if err != nil || n != e.qlen {
			return false
		}
		copy(buf[12:], nb[:n])
	}
	off := 12 + e.qlen
	binary.BigEndian.PutUint16(buf[off:], q.Qtype)
	binary.BigEndian.PutUint16(buf[off+2:], q.Qclass)
	return true
}

// appendOPT adds an OPT record advertising size and counts it in ARCOUNT.
func appendOPT(buf []byte, size int) []byte {
	binary.BigEndian.PutUint16(buf[10:], binary.BigEndian.Uint16(buf[10:])+1)
	return append(buf, 0, 0, byte(dns.TypeOPT), byte(size>>8), byte(size), 0, 0, 0, 0, 0, 0)
}

// writeSlow answers with the cached records under the request's question
// when the packed bytes cannot be patched.
func (s *Server) writeSlow(w dns.ResponseWriter, r *dns.Msg, opt *dns.OPT, packed []byte) {
	m := new(dns.Msg)
	if err := m.Unpack(packed); err != nil {
		s.fail(w, r, dns.RcodeServerFailure, opt)
		return
	}
	m.Id = r.Id
	m.RecursionDesired = r.RecursionDesired
	m.CheckingDisabled = r.CheckingDisabled
	m.Question = []dns.Question{r.Question[0]}
	if opt != nil {
		m.SetEdns0(uint16(s.udpSize), false)
	}
	w.WriteMsg(m) //nolint:errcheck // as in write
	s.metrics.rcode(m.Rcode)
}

// fail answers with an error rcode and the request's question.
func (s *Server) fail(w dns.ResponseWriter, r *dns.Msg, rcode int, opt *dns.OPT) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	if len(r.Question) > 1 {
		m.Question = nil
	}
	if opt != nil || rcode == dns.RcodeBadVers {
		m.SetEdns0(uint16(s.udpSize), false)
	}
	if err := w.WriteMsg(m); err != nil {
		// Nothing else can be said: the packet or connection is gone.
		return
	}
	s.metrics.rcode(rcode)
}

// canonical returns the lowercase form of a presented name, with escapes
// reduced to the ones miekg/dns itself presents. escaped says the result
// still holds escapes (an escaped dot or an unprintable byte).
func canonical(name string) (string, bool, bool) {
	if strings.IndexByte(name, '\\') < 0 {
		return lowerASCII(name), false, name != "" && name[len(name)-1] == '.'
	}
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return "", false, false
	}
	// Lowercase the label bytes; length bytes (0-63) are never letters.
	for i := range buf[:n] {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	out, _, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return "", false, false
	}
	return out, strings.IndexByte(out, '\\') >= 0, true
}
