package dnsapi

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// The answer cache holds, per name and kind of question, the packed
// responses for one view of the service (its index). A query looks its slot
// up in an immutable map (no lock), compares the index with the view's, and
// writes one of the entry's pre-packed variants with only the id, flags and
// question patched. A change to the service moves its index, so the next
// query rebuilds the entry: the apply path does no DNS work.

// maxCacheKeys bounds the cache. Keys are only made for names that exist in
// the catalog (services and their tags), so reaching it means a very large
// catalog; the map then starts afresh rather than grow.
const maxCacheKeys = 8192

// maxVariants is how many shuffled orders are packed per answer.
const maxVariants = 32

// qclass is the kind of question, as far as it changes the answer. The
// question's real type and class are patched into the packed bytes, so every
// other type shares one NODATA entry.
type qclass uint8

const (
	qOther qclass = iota
	qA
	qAAAA
	qSRV
	qCNAME
	qANY
)

func classOf(qtype uint16) qclass {
	switch qtype {
	case dns.TypeA:
		return qA
	case dns.TypeAAAA:
		return qAAAA
	case dns.TypeSRV:
		return qSRV
	case dns.TypeCNAME:
		return qCNAME
	case dns.TypeANY:
		return qANY
	}
	return qOther
}

type cacheKey struct {
	name  string // lowercase qname as presented
	class qclass
}

type slot struct{ e atomic.Pointer[entry] }

type answerCache struct {
	mu    sync.Mutex // serialises inserts
	slots atomic.Pointer[map[cacheKey]*slot]
}

// slot returns the key's slot, creating it when create is set.
func (c *answerCache) slot(k cacheKey, create bool) *slot {
	if m := c.slots.Load(); m != nil {
		if s := (*m)[k]; s != nil {
			return s
		}
	}
	if !create {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.slots.Load()
	if old != nil {
		if s := (*old)[k]; s != nil {
			return s
		}
	}
	var m map[cacheKey]*slot
	if old == nil || len(*old) >= maxCacheKeys {
		m = make(map[cacheKey]*slot)
	} else {
		m = make(map[cacheKey]*slot, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	}
	s := &slot{}
	m[k] = s
	c.slots.Store(&m)
	return s
}

// entry is every response to one question for one view of a service.
type entry struct {
	index    uint64 // the view's index it was built from
	rcode    int
	qname    string // the question name packed into the variants
	qlen     int    // its wire length
	variants []*variant
}

// item is one answer record with the additional records that go with it
// (an SRV and its target's address); truncation keeps or drops them together.
type item struct {
	answer dns.RR
	extra  dns.RR // may be nil
}

// variant is one shuffled order of an answer, packed, with what is needed to
// pack a truncated copy for a smaller size on demand.
type variant struct {
	full  []byte
	qname string
	items []item
	ns    []dns.RR
	extra []dns.RR // additional records not tied to an item (NS glue)
	qtype uint16
	rcode int

	mu    sync.Mutex // serialises building truncated copies
	trunc atomic.Pointer[[]truncated]
}

type truncated struct {
	size int
	msg  []byte
}

// pick returns a random variant.
func (e *entry) pick() *variant {
	if len(e.variants) == 1 {
		return e.variants[0]
	}
	return e.variants[rand.IntN(len(e.variants))]
}

// fit returns the packed variant that fits in size bytes: the whole answer,
// or the largest prefix of its items that fits, with TC set (RFC 2181 9:
// keep what fits, and say that something was left out).
func (v *variant) fit(size int) ([]byte, error) {
	if len(v.full) <= size {
		return v.full, nil
	}
	if t := v.trunc.Load(); t != nil {
		for _, tr := range *t {
			if tr.size == size {
				return tr.msg, nil
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var list []truncated
	if t := v.trunc.Load(); t != nil {
		for _, tr := range *t {
			if tr.size == size {
				return tr.msg, nil
			}
		}
		list = append(list, (*t)...)
	}
	// Largest k whose packed size fits: packed size grows with k.
	lo, hi := 0, len(v.items)-1 // k = len(items) is known not to fit
	best, err := v.pack(0, true)
	if err != nil {
		return nil, err
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		b, err := v.pack(mid, true)
		if err != nil {
			return nil, err
		}
		if len(b) <= size {
			lo, best = mid, b
		} else {
			hi = mid - 1
		}
	}
	list = append(list, truncated{size: size, msg: best})
	v.trunc.Store(&list)
	return best, nil
}

// pack packs the variant's first k items; tc sets the TC bit. Additional
// records are deduplicated: two instances on one host share an address.
func (v *variant) pack(k int, tc bool) ([]byte, error) {
	m := &dns.Msg{
		MsgHdr: dns.MsgHdr{
			Response:      true,
			Authoritative: true,
			Opcode:        dns.OpcodeQuery,
			Rcode:         v.rcode,
			Truncated:     tc,
		},
		Compress: true,
		Question: []dns.Question{{Name: v.qname, Qtype: v.qtype, Qclass: dns.ClassINET}},
		Ns:       v.ns,
	}
	for _, it := range v.items[:k] {
		m.Answer = append(m.Answer, it.answer)
		if it.extra != nil && !containsRR(m.Extra, it.extra) {
			m.Extra = append(m.Extra, it.extra)
		}
	}
	m.Extra = append(m.Extra, v.extra...)
	return m.Pack()
}

func containsRR(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}
