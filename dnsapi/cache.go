package dnsapi

import (
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// The answer cache holds, per name and kind of question, the answer for one
// view of the service (its index): the records packed once, which a query
// writes in a random rotation with only the id, flags and question patched
// (records.go). A query looks its slot up without a lock (sync.Map: a hash
// trie, so a new name costs O(log n), never a copy of the map), compares
// the index with the view's and writes. A change to the service moves its
// index, so the next query rebuilds the entry: the apply path does no DNS
// work.
//
// Memory is bounded by a byte budget (Config.AnswerCacheBytes). Inserts
// trigger a sweep, run by one querying goroutine at a time and at most once
// per budget/4 bytes or per as many new entries as the cache holds, so its
// O(entries) cost is O(1) per insert: it drops the entries of services
// that changed since (old views) or have no instances left, and, while the
// cache is over budget, the entries not read since the sweep before
// (CLOCK), then any, down to 3/4 of the budget.

// DefaultAnswerCacheBytes is the answer cache's byte budget when
// Config.AnswerCacheBytes is 0: enough for an A and an SRV answer of each of
// 10,000 services of 100 instances (issue #18's million instances), about
// 12 KB a service (BenchmarkWalkServices/2000x100: 6,112 bytes per entry).
const DefaultAnswerCacheBytes = 128 << 20

// entryOverhead approximates what an entry costs beyond its packed bytes:
// the entry, its slot, the map's node and the key.
const entryOverhead = 320

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

// slot holds the current entry of one key. A slot dropped from the map is
// marked dead, so that an entry a racing query stores into it afterwards
// is taken out again and its bytes are not counted twice.
type slot struct {
	service string // the service the name answers from
	e       atomic.Pointer[entry]
	used    atomic.Bool // read since the last sweep
	dead    atomic.Bool
}

type answerCache struct {
	slots   [qANY + 1]sync.Map // per class: name -> *slot (a string key hashes fastest)
	budget  int64
	bytes   atomic.Int64 // sizes of the entries held
	entries atomic.Int64
	// since the last sweep: entries stored, bytes stored
	stored, storedBytes atomic.Int64
	sweeping            sync.Mutex // TryLock: one sweep at a time
	evicted             atomic.Int64
}

// load returns the key's slot, or nil.
func (c *answerCache) load(k cacheKey) *slot {
	if v, ok := c.slots[k.class].Load(k.name); ok {
		return v.(*slot)
	}
	return nil
}

// slotFor returns the key's slot, creating it.
func (c *answerCache) slotFor(k cacheKey, service string) *slot {
	if sl := c.load(k); sl != nil {
		return sl
	}
	v, _ := c.slots[k.class].LoadOrStore(k.name, &slot{service: service})
	return v.(*slot)
}

// store makes e the slot's entry and counts it; it returns false when the
// slot no longer held old (a racing query stored another entry first).
// With old nil it stores unconditionally.
func (c *answerCache) store(sl *slot, old, e *entry) bool {
	if old != nil {
		if !sl.e.CompareAndSwap(old, e) {
			return false
		}
	} else {
		old = sl.e.Swap(e)
	}
	c.account(e, +1)
	c.account(old, -1)
	if sl.dead.Load() {
		c.account(sl.e.Swap(nil), -1)
	}
	c.stored.Add(1)
	c.storedBytes.Add(e.size)
	return true
}

// drop removes the key's slot and its entry.
func (c *answerCache) drop(k cacheKey, sl *slot) {
	sl.dead.Store(true)
	c.slots[k.class].CompareAndDelete(k.name, sl)
	c.account(sl.e.Swap(nil), -1)
}

func (c *answerCache) account(e *entry, sign int64) {
	if e == nil {
		return
	}
	c.bytes.Add(sign * e.size)
	c.entries.Add(sign)
}

// sweepDue says whether enough was stored since the last sweep for the next.
func (c *answerCache) sweepDue() bool {
	return c.storedBytes.Load() >= c.budget/4 ||
		c.stored.Load() >= max(c.entries.Load(), 1024)
}

// sweep drops what current says is stale (an old view, a service without
// instances) and, over budget, what was not read since the last sweep,
// then anything, down to 3/4 of the budget.
func (c *answerCache) sweep(current func(service string, e *entry) bool) {
	if !c.sweeping.TryLock() {
		return
	}
	defer c.sweeping.Unlock()
	c.stored.Store(0)
	c.storedBytes.Store(0)
	target := c.budget / 4 * 3
	for class := range c.slots {
		c.slots[class].Range(func(k, v any) bool {
			sl := v.(*slot)
			e := sl.e.Load()
			used := sl.used.Swap(false)
			switch {
			case e == nil || !current(sl.service, e):
			case !used && c.bytes.Load() > c.budget:
				c.evicted.Add(1)
			default:
				return true
			}
			c.drop(cacheKey{name: k.(string), class: qclass(class)}, sl)
			return true
		})
	}
	if c.bytes.Load() <= c.budget {
		return
	}
	for class := range c.slots {
		c.slots[class].Range(func(k, v any) bool {
			if c.bytes.Load() <= target {
				return false
			}
			c.drop(cacheKey{name: k.(string), class: qclass(class)}, v.(*slot))
			c.evicted.Add(1)
			return true
		})
	}
}

// entry is the answer to one question for one view of a service: records
// written per query (set), or one packed message (fixed: negative answers
// and the server's own names).
type entry struct {
	index uint64 // the view's index it was built from
	rcode int
	qname string // the question name packed into the answer
	qtype uint16 // the question type packed (canonicalQtype)
	qlen  int    // its wire length
	size  int64  // bytes held, for the cache's budget

	fixed *variant
	set   *recordSet

	// A set taken from a service too large to answer from whole is a
	// window of it: its eligible instances from start, in id order, up to
	// the window's size; next is where the following window starts.
	// Queries are counted (served) and give each record of the window the
	// first place once; the query that completes the pass builds the next
	// window, so every instance comes first once per cycle of the service.
	window      bool
	start, next string
	served      atomic.Int64
	advancing   atomic.Bool // the next window is being built
}

// item is one answer record with the additional records that go with it
// (an SRV and its target's address); truncation keeps or drops them together.
type item struct {
	answer dns.RR
	extra  dns.RR // may be nil
}

// variant is one packed answer, with what is needed to pack a truncated
// copy for a smaller size on demand.
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
