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

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roster_dns_queries_total",
		Help: "DNS queries answered, by response code.",
	}, []string{"rcode"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roster_dns_answer_cache_total",
		Help: "Service answers served from the packed-answer cache (hit) or built from the catalog (miss).",
	}, []string{"result"})
	m := &metrics{
		otherRcode:  queries.WithLabelValues("other"),
		cacheHits:   cache.WithLabelValues("hit"),
		cacheMisses: cache.WithLabelValues("miss"),
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
		for _, c := range []prometheus.Collector{queries, cache} {
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
