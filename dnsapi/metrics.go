package dnsapi

import (
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds counters resolved once, so that a query only increments.
type metrics struct {
	byRcode     [dns.RcodeBadVers + 1]prometheus.Counter
	otherRcode  prometheus.Counter
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, cache *answerCache) (*metrics, error) {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roster_dns_queries_total",
		Help: "DNS queries answered, by response code.",
	}, []string{"rcode"})
	answers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roster_dns_answer_cache_total",
		Help: "Service answers served from the packed-answer cache (hit) or built from the catalog (miss).",
	}, []string{"result"})
	m := &metrics{
		otherRcode:  queries.WithLabelValues("other"),
		cacheHits:   answers.WithLabelValues("hit"),
		cacheMisses: answers.WithLabelValues("miss"),
	}
	for _, rc := range []int{
		dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError,
		dns.RcodeNotImplemented, dns.RcodeRefused,
	} {
		m.byRcode[rc] = queries.WithLabelValues(dns.RcodeToString[rc])
	}
	// 16 is BADSIG in miekg/dns's table; this server only means BADVERS.
	m.byRcode[dns.RcodeBadVers] = queries.WithLabelValues("BADVERS")
	if reg != nil {
		size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "roster_dns_answer_cache_bytes",
			Help: "Bytes held by the packed-answer cache (its budget is AnswerCacheBytes).",
		}, func() float64 { return float64(cache.bytes.Load()) })
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "roster_dns_answer_cache_entries",
			Help: "Answers held by the packed-answer cache: one per service name and kind of question asked.",
		}, func() float64 { return float64(cache.entries.Load()) })
		evictions := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "roster_dns_answer_cache_evictions_total",
			Help: "Current answers dropped from the packed-answer cache to keep it within its budget (stale ones are not counted).",
		}, func() float64 { return float64(cache.evicted.Load()) })
		for _, c := range []prometheus.Collector{queries, answers, size, entries, evictions} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// rcode counts one answer with the given response code.
func (m *metrics) rcode(rc int) {
	if rc >= 0 && rc < len(m.byRcode) && m.byRcode[rc] != nil {
		m.byRcode[rc].Inc()
		return
	}
	m.otherRcode.Inc()
}

// acceptCounted is acceptQuery with the packets it refuses counted in
// roster_dns_queries_total: miekg/dns answers them (NOTIMP, FORMERR)
// without reaching ServeDNS.
func (s *Server) acceptCounted(dh dns.Header) dns.MsgAcceptAction {
	action := acceptQuery(dh)
	switch action {
	case dns.MsgReject:
		s.metrics.rcode(dns.RcodeFormatError)
	case dns.MsgRejectNotImplemented:
		s.metrics.rcode(dns.RcodeNotImplemented)
	}
	return action
}
