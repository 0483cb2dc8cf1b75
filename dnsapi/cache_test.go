package dnsapi

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/api"
)

// metricValue is the value of the counter or gauge name (with the label
// value, for a vector; "" for none) in reg.
func metricValue(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// The cache used to hold at most 8,192 names and start afresh when full,
// so a resolver walking more services than that never got a cached answer.
func TestEveryServiceAnsweredFromTheCacheBeyond8192Services(t *testing.T) {
	const services = 8300
	c := newCatalog(t)
	for i := range services {
		svc := fmt.Sprintf("s%d", i)
		c.register(inst(svc, svc+"-1", fmt.Sprintf("10.%d.%d.1", i/250, i%250), 80))
	}
	reg := prometheus.NewRegistry()
	srv := startServer(t, c.cat, func(c *Config) { c.Metrics = reg })
	walk := func() {
		t.Helper()
		for i := range services {
			r := exchange(t, srv, "udp", fmt.Sprintf("s%d.service.roster.", i), dns.TypeA, 0)
			want := fmt.Sprintf("10.%d.%d.1", i/250, i%250)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
				t.Fatalf("s%d: %v, want %s", i, r.Answer, want)
			}
		}
	}
	walk()
	if got := metricValue(t, reg, "roster_dns_answer_cache_total", "miss"); got != services {
		t.Fatalf("first walk: %v misses, want %d", got, services)
	}
	walk()
	if got := metricValue(t, reg, "roster_dns_answer_cache_total", "hit"); got != services {
		t.Errorf("second walk: %v of %d answers from the cache", got, services)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_total", "miss"); got != services {
		t.Errorf("second walk: %v misses in all, want still %d", got-services, services)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_entries", ""); got != services {
		t.Errorf("%v entries cached, want %d", got, services)
	}
}

func TestDeletedServiceAnswersNXDOMAINAndLeavesTheCache(t *testing.T) {
	c := newCatalog(t)
	c.fill("gone", 3)
	c.fill("kept", 3)
	reg := prometheus.NewRegistry()
	srv := startServer(t, c.cat, func(c *Config) { c.Metrics = reg })
	for _, name := range []string{"gone.service.roster.", "kept.service.roster."} {
		exchange(t, srv, "udp", name, dns.TypeA, 0)
		exchange(t, srv, "udp", name, dns.TypeA, 0)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_entries", ""); got != 2 {
		t.Fatalf("%v entries cached, want 2", got)
	}
	for i := range 3 {
		c.deregister("gone", fmt.Sprintf("gone-%d", i))
	}
	if r := exchange(t, srv, "udp", "gone.service.roster.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Fatalf("deleted service: %s %v, want NXDOMAIN", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_entries", ""); got != 1 {
		t.Errorf("%v entries cached after the service went, want 1", got)
	}
	if r := exchange(t, srv, "udp", "kept.service.roster.", dns.TypeA, 0); len(r.Answer) != 3 {
		t.Errorf("kept service: %v", r.Answer)
	}
}

// A sweep drops what no query would serve again: entries of services
// that changed since, or have no instances left.
func TestSweepDropsOldViewsAndDeletedServices(t *testing.T) {
	c := newCatalog(t)
	for i := range 30 {
		c.fill(fmt.Sprintf("s%d", i), 2)
	}
	reg := prometheus.NewRegistry()
	srv := startServer(t, c.cat, func(c *Config) { c.Metrics = reg })
	for i := range 30 {
		exchange(t, srv, "udp", fmt.Sprintf("s%d.service.roster.", i), dns.TypeA, 0)
		exchange(t, srv, "udp", fmt.Sprintf("_s%d._tcp.service.roster.", i), dns.TypeSRV, 0)
	}
	for i := range 10 { // changed
		c.status(fmt.Sprintf("s%d-0", i), api.StatusCritical)
	}
	for i := 10; i < 20; i++ { // deleted
		c.deregister(fmt.Sprintf("s%d", i), fmt.Sprintf("s%d-0", i))
		c.deregister(fmt.Sprintf("s%d", i), fmt.Sprintf("s%d-1", i))
	}
	before := metricValue(t, reg, "roster_dns_answer_cache_bytes", "")
	srv.answers.sweep(srv.current)
	if got := metricValue(t, reg, "roster_dns_answer_cache_entries", ""); got != 20 {
		t.Errorf("%v entries after the sweep, want the 20 of the unchanged services", got)
	}
	if after := metricValue(t, reg, "roster_dns_answer_cache_bytes", ""); after >= before || after <= 0 {
		t.Errorf("cache bytes %v before the sweep, %v after", before, after)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_evictions_total", ""); got != 0 {
		t.Errorf("%v current entries evicted within budget", got)
	}
	if r := exchange(t, srv, "udp", "s0.service.roster.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("changed service after the sweep: %v, want its one passing instance", r.Answer)
	}
}

// Over its budget the cache evicts; its bytes stay within the budget and
// the quarter more it may take between sweeps, and answers stay right.
func TestCacheStaysWithinItsBudget(t *testing.T) {
	const services, budget = 3000, 256 << 10
	c := newCatalog(t)
	for i := range services {
		c.fill(fmt.Sprintf("s%d", i), 3)
	}
	reg := prometheus.NewRegistry()
	srv := startServer(t, c.cat, func(c *Config) { c.Metrics = reg; c.AnswerCacheBytes = budget })
	peak := 0.0
	for i := range services {
		r := exchange(t, srv, "udp", fmt.Sprintf("_s%d._tcp.service.roster.", i), dns.TypeSRV, 0)
		if len(r.Answer) != 3 {
			t.Fatalf("s%d: %d SRV records, want 3", i, len(r.Answer))
		}
		peak = max(peak, metricValue(t, reg, "roster_dns_answer_cache_bytes", ""))
	}
	if peak > budget*5/4 {
		t.Errorf("cache reached %v bytes, budget %d", peak, budget)
	}
	if got := metricValue(t, reg, "roster_dns_answer_cache_evictions_total", ""); got == 0 {
		t.Errorf("no eviction while %d answers went through a %d-byte cache", services, budget)
	}
}
