package dnsapi

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"

	"github.com/miekg/dns"
)

// A service answer's records are packed once per view, each on its own, so
// that a query can write any of them in any order: every answer record's
// owner name is a pointer to the question (offset 12), and the rest of
// the record holds no pointer (an SRV target is never compressed: RFC
// 2782). The additional address record of an SRV target is packed without its
// name, which is written per query as a pointer to the target in the SRV
// record (or the target's bytes, beyond a pointer's reach). A query then
// copies the header and question, the records of a rotation of the set and
// their additional records (one per distinct target), and patches the
// counts: no packing, no allocation, and a truncated answer for any size
// at the same cost.

// maxAnswerRecords is the most answer records a message can hold: an A
// record with a compressed name is 16 bytes, a message 64 KiB with its
// header and a question of up to 259 bytes.
const maxAnswerRecords = (dns.MaxMsgSize - 12 - 259) / 16

// maxStrides is how many different strides a set's rotations use.
const maxStrides = 16

// windowSize is how many eligible instances one answer set holds, given w
// records per answer: a service with more is answered a window of this
// many at a time (entry.window), so that building a set after a change
// costs O(window), not O(service).
func windowSize(w int) int { return min(max(4*w, 256), 4096) }

// recKind is what records a set holds.
type recKind uint8

const (
	recAddr  recKind = iota // A/AAAA of the instances' IPs
	recSRV                  // SRV, with the targets' addresses as additional records
	recCNAME                // CNAME to an instance's hostname, one per answer
)

// cand is an instance's part in an answer.
type cand struct {
	t            target
	port, weight int
}

// recordSet is a service answer's records, packed to be written in any
// rotation (see above).
type recordSet struct {
	head    []byte // header (flags set, counts but QDCOUNT zero) and question
	buf     []byte // the records
	recs    []rec
	groups  int      // distinct additional records
	w       int      // records per answer at most
	strides []uint16 // coprime with len(recs)
}

// rec locates one record in recordSet.buf.
type rec struct {
	off   uint32 // the answer record: buf[off : off+alen]
	alen  uint16
	xlen  uint16 // its additional record without the name, after it; 0 for none
	tgt   uint16 // offset of the SRV target within the answer record
	tlen  uint16 // the target's packed length
	group int32  // the additional record's index among distinct ones
}

// len is the number of records in the set.
func (rs *recordSet) len() int { return len(rs.recs) }

// bytes is what the set holds, for the cache's budget.
func (rs *recordSet) bytes() int64 {
	return int64(cap(rs.head) + cap(rs.buf) + 16*cap(rs.recs) + 2*cap(rs.strides))
}

// newRecordSet packs the records of cands for answers of at most w records
// to the question qname/qtype, in a random order when shuffle is set, else
// in the order given (a window's: in id order, so that a window rebuilt
// after a change keeps its records where they were and the pass in
// progress carries on).
func (s *Server) newRecordSet(qname string, qtype uint16, kind recKind, cands []cand, w int, shuffle bool) *recordSet {
	if shuffle {
		rand.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
	}
	rs := &recordSet{w: max(1, min(w, maxAnswerRecords)), recs: make([]rec, 0, len(cands))}
	var qbuf [256]byte
	qlen, _ := dns.PackDomainName(qname, qbuf[:], 0, nil, false)
	rs.head = make([]byte, 12, 12+qlen+4)
	rs.head[2] = 0x84 // QR, AA
	rs.head[5] = 1    // QDCOUNT
	rs.head = append(rs.head, qbuf[:qlen]...)
	rs.head = binary.BigEndian.AppendUint16(rs.head, qtype)
	rs.head = binary.BigEndian.AppendUint16(rs.head, dns.ClassINET)
	groups := map[netip.Addr]int32{}
	per := 16
	if kind == recSRV {
		per = 48
	}
	rs.buf = make([]byte, 0, per*len(cands))
	for _, c := range cands {
		r := rec{off: uint32(len(rs.buf)), group: -1}
		b := append(rs.buf, 0xC0, 12)
		switch kind {
		case recAddr:
			b = appendAddr(b, s.ttl, c.t.ip)
		case recCNAME:
			b = s.appendHeader(b, dns.TypeCNAME)
			mark := len(b)
			b = appendName(b, c.t.host)
			binary.BigEndian.PutUint16(b[mark-2:], uint16(len(b)-mark))
		case recSRV:
			b = s.appendHeader(b, dns.TypeSRV)
			mark := len(b)
			b = binary.BigEndian.AppendUint16(b, 1) // priority
			b = binary.BigEndian.AppendUint16(b, uint16(min(max(c.weight, 0), 65535)))
			b = binary.BigEndian.AppendUint16(b, uint16(c.port))
			r.tgt = uint16(len(b) - int(r.off))
			if c.t.ip.IsValid() { // <hex-ip>.addr.<domain>, which answers the IP
				label := hex.EncodeToString(c.t.ip.AsSlice())
				b = append(b, byte(len(label)))
				b = append(b, label...)
				b = append(b, 4, 'a', 'd', 'd', 'r')
				b = appendName(b, s.domain)
			} else {
				b = appendName(b, c.t.host)
			}
			r.tlen = uint16(len(b) - int(r.off) - int(r.tgt))
			binary.BigEndian.PutUint16(b[mark-2:], uint16(len(b)-mark))
		}
		r.alen = uint16(len(b) - int(r.off))
		if kind == recSRV && c.t.ip.IsValid() {
			g, ok := groups[c.t.ip]
			if !ok {
				g = int32(len(groups))
				groups[c.t.ip] = g
			}
			r.group = g
			mark := len(b)
			b = appendAddr(b, s.ttl, c.t.ip)
			r.xlen = uint16(len(b) - mark)
		}
		rs.buf = b
		rs.recs = append(rs.recs, r)
	}
	rs.groups = len(groups)
	rs.strides = strides(len(rs.recs))
	return rs
}

// appendHeader appends an RR's type, class, TTL and a zero RDLENGTH to be
// filled in.
func (s *Server) appendHeader(b []byte, rrtype uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, rrtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, s.ttl)
	return append(b, 0, 0)
}

// appendAddr appends an A or AAAA record's type, class, TTL and data.
func appendAddr(b []byte, ttl uint32, ip netip.Addr) []byte {
	rrtype, data := dns.TypeAAAA, ip.AsSlice()
	if ip.Is4() {
		rrtype = dns.TypeA
	}
	b = binary.BigEndian.AppendUint16(b, rrtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// appendName appends a name uncompressed (targetOf made sure it packs).
func appendName(b []byte, name string) []byte {
	var buf [256]byte
	n, _ := dns.PackDomainName(name, buf[:], 0, nil, false)
	return append(b, buf[:n]...)
}

// strides returns up to maxStrides steps coprime with n, spread over 1..n-1
// (just 1 for n <= 2): stepping through n records by any of them from any
// start visits each once.
func strides(n int) []uint16 {
	out := []uint16{1}
	for j := 1; j < maxStrides && n > 2; j++ {
		st := 1 + j*(n-1)/maxStrides
		for gcd(st, n) != 1 {
			st++
		}
		if st < n && uint16(st) != out[len(out)-1] {
			out = append(out, uint16(st))
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// scratch is a query's working space for writing a set: the message and
// the bookkeeping of which records and additional records it holds.
type scratch struct {
	buf   []byte
	stamp []uint32 // stamp[g] == gen: additional record g is in
	gen   uint32
	picks []pick
}

type pick struct {
	rec   int32
	at    int32 // offset of the answer record in the message
	extra bool  // writes its additional record
}

// write assembles an answer of at most size bytes into sc.buf: the
// records from first, stepping by a stride chosen by step (both taken
// modulo the set's size), as many as fit up to w, then their additional
// records. A set that does not fit whole keeps what fits and sets TC.
func (rs *recordSet) write(sc *scratch, size, first, step int) []byte {
	m := len(rs.recs)
	k := min(rs.w, m)
	first %= m
	stride := int(rs.strides[step%len(rs.strides)])
	if len(sc.stamp) < rs.groups {
		sc.stamp = make([]uint32, rs.groups+rs.groups/2)
	}
	if sc.gen++; sc.gen == 0 {
		clear(sc.stamp)
		sc.gen = 1
	}
	if rs.groups == 0 {
		return rs.writeAnswers(sc, size, first, stride, k)
	}
	total, at := len(rs.head), len(rs.head)
	picks := sc.picks[:0]
	tc := false
	for i, idx := 0, first; i < k; i, idx = i+1, idx+stride {
		if idx >= m {
			idx -= m // stride < m
		}
		r := &rs.recs[idx]
		need := int(r.alen)
		extra := r.xlen > 0 && sc.stamp[r.group] != sc.gen
		if extra {
			if at+int(r.tgt) <= 0x3FFF {
				need += 2
			} else {
				need += int(r.tlen)
			}
			need += int(r.xlen)
		}
		if total+need > size {
			tc = true
			break
		}
		total += need
		if extra {
			sc.stamp[r.group] = sc.gen
		}
		picks = append(picks, pick{rec: int32(idx), at: int32(at), extra: extra})
		at += int(r.alen)
	}
	b := append(sc.buf[:0], rs.head...)
	for _, p := range picks {
		r := &rs.recs[p.rec]
		b = append(b, rs.buf[r.off:r.off+uint32(r.alen)]...)
	}
	nx := 0
	for _, p := range picks {
		if !p.extra {
			continue
		}
		r := &rs.recs[p.rec]
		if t := int(p.at) + int(r.tgt); t <= 0x3FFF {
			b = append(b, 0xC0|byte(t>>8), byte(t))
		} else {
			start := r.off + uint32(r.tgt)
			b = append(b, rs.buf[start:start+uint32(r.tlen)]...)
		}
		start := r.off + uint32(r.alen)
		b = append(b, rs.buf[start:start+uint32(r.xlen)]...)
		nx++
	}
	binary.BigEndian.PutUint16(b[6:], uint16(len(picks)))
	binary.BigEndian.PutUint16(b[10:], uint16(nx))
	if tc {
		b[2] |= 0x02
	}
	sc.picks = picks
	return b
}

// writeAnswers is write for a set without additional records: one pass,
// each record copied as it is chosen.
func (rs *recordSet) writeAnswers(sc *scratch, size, first, stride, k int) []byte {
	m := len(rs.recs)
	b := append(sc.buf[:0], rs.head...)
	n, tc := 0, false
	for idx := first; n < k; n, idx = n+1, idx+stride {
		if idx >= m {
			idx -= m
		}
		r := &rs.recs[idx]
		if len(b)+int(r.alen) > size {
			tc = true
			break
		}
		b = append(b, rs.buf[r.off:r.off+uint32(r.alen)]...)
	}
	binary.BigEndian.PutUint16(b[6:], uint16(n))
	if tc {
		b[2] |= 0x02
	}
	return b
}
