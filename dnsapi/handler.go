package dnsapi

import (
	"encoding/binary"
	"net"
	"strings"

	"github.com/miekg/dns"
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
	switch p.kind {
	case nameService:
		e, err = s.serviceEntry(p, name, q.Qtype)
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
	s.write(w, r, opt, e)
}

// serviceEntry returns the cached entry for a service question, rebuilding
// it when the service's view moved on.
func (s *Server) serviceEntry(p parsedName, name string, qtype uint16) (*entry, error) {
	view := s.cat.Service(p.service)
	var index uint64
	if view != nil {
		index = view.Index
	}
	key := cacheKey{name: name, class: classOf(qtype)}
	sl := s.answers.slot(key, false)
	if sl != nil {
		if e := sl.e.Load(); e != nil && e.index == index && index != 0 {
			s.metrics.cacheHits.Inc()
			return e, nil
		}
	}
	s.metrics.cacheMisses.Inc()
	e, err := s.serviceAnswer(p, name, canonicalQtype(qtype), view)
	if err != nil {
		return nil, err
	}
	switch {
	case e.rcode == dns.RcodeNameError:
		// Not cached: names that do not exist are unbounded in number.
		if sl != nil {
			sl.e.Store(nil)
		}
	case index != 0:
		if sl == nil {
			sl = s.answers.slot(key, true)
		}
		sl.e.Store(e)
	}
	return e, nil
}

// canonicalQtype is the type packed into a shared entry's question; the
// request's own type is patched in when the answer is written.
func canonicalQtype(qtype uint16) uint16 {
	if classOf(qtype) == qOther {
		return dns.TypeTXT
	}
	return qtype
}

// write sends a packed variant of e with the request's id, RD and CD bits,
// question (its case, type and class) and, for EDNS0 requests, an OPT
// record; over UDP it sends the copy that fits the requester's size.
func (s *Server) write(w dns.ResponseWriter, r *dns.Msg, opt *dns.OPT, e *entry) {
	v := e.pick()
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
	msg := v.full
	if len(msg)+extra > size {
		b := udpBuckets[0]
		for _, u := range udpBuckets {
			if u <= size {
				b = u
			}
		}
		var err error
		if msg, err = v.fit(b - extra); err != nil {
			s.log.Error("dns answer not truncated", "name", e.qname, "err", err)
			s.fail(w, r, dns.RcodeServerFailure, opt)
			return
		}
	}

	bp := s.bufs.Get().(*[]byte)
	buf := append((*bp)[:0], msg...)
	ok := patch(buf, r, e)
	if ok && opt != nil {
		buf = appendOPT(buf, s.udpSize)
	}
	if ok {
		w.Write(buf) //nolint:errcheck // a lost UDP answer is the client's retry
		s.metrics.rcode(e.rcode)
	} else {
		s.writeSlow(w, r, opt, msg)
	}
	*bp = buf
	s.bufs.Put(bp)
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
