package dnsapi

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
)

// A service larger than an answer's window (4 x MaxRecords, at least 256
// instances) is answered a window at a time; each window moves on once each
// of its records came first, so every instance comes first within about
// as many queries as the service has instances, changes or not.
func TestRotationGivesEveryInstanceOfABigServiceItsTurn(t *testing.T) {
	const n, per = 1000, 4
	c := newCatalog(t)
	c.fill("big", n)
	srv := startServer(t, c.cat, func(c *Config) { c.MaxRecords = per })
	first := map[string]int{}
	seen := map[string]bool{}
	queries := 0
	for ; queries < 2*n && len(first) < n; queries++ {
		if queries%50 == 49 { // a change to the service now and then
			c.register(inst("big", "big-7", "10.1.0.8", 9000+queries))
		}
		r := exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 0)
		if len(r.Answer) != per || r.Truncated {
			t.Fatalf("query %d: %d records, TC %v; want %d, no TC", queries, len(r.Answer), r.Truncated, per)
		}
		first[r.Answer[0].(*dns.A).A.String()]++
		for _, rr := range r.Answer {
			seen[rr.(*dns.A).A.String()] = true
		}
	}
	if len(first) < n {
		t.Fatalf("%d of %d instances came first in %d queries (%d in any place)", len(first), n, queries, len(seen))
	}
	// A window of 256 puts each first once before moving on: 1,000
	// instances take four windows, 1,024 queries.
	if queries > 4*256 {
		t.Errorf("every instance came first only after %d queries, want at most %d", queries, 4*256)
	}
}

// A change is in the next answer of a big service too: the window is
// rebuilt from the new view where it was.
func TestChangeToABigServiceSeenOnTheNextQuery(t *testing.T) {
	const n = 600
	c := newCatalog(t)
	c.fill("big", n)
	srv := startServer(t, c.cat, func(c *Config) { c.MaxRecords = 8 })
	ids := map[string]string{} // address -> id
	for i := range n {
		ids[fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)] = fmt.Sprintf("big-%d", i)
	}
	r := exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 0)
	down := map[string]bool{}
	for _, rr := range r.Answer {
		a := rr.(*dns.A).A.String()
		down[a] = true
		c.status(ids[a], api.StatusCritical)
	}
	for q := range 300 {
		r := exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 0)
		if len(r.Answer) != 8 {
			t.Fatalf("query %d: %d records, want 8", q, len(r.Answer))
		}
		for _, rr := range r.Answer {
			if a := rr.(*dns.A).A.String(); down[a] {
				t.Fatalf("query %d after the change still answers %s, now critical", q, a)
			}
		}
	}
	for i := range n {
		c.deregister("big", fmt.Sprintf("big-%d", i))
	}
	if r := exchange(t, srv, "udp", "big.service.roster.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("every instance gone: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// Every SRV answer of a big service carries the address of each target,
// in whichever rotation, over UDP (truncated) and TCP.
func TestBigServiceSRVAnswersCarryTheirAddresses(t *testing.T) {
	c := newCatalog(t)
	c.fill("big", 5000)
	for i := range 40 { // instances sharing hosts: one address record each
		c.register(inst("big", fmt.Sprintf("big-shared-%d", i), "10.2.0.1", 9000+i))
	}
	srv := startServer(t, c.cat, func(c *Config) { c.MaxRecords = -1 })
	for range 20 {
		for _, network := range []string{"udp", "tcp"} {
			r := exchange(t, srv, network, "_big._tcp.service.roster.", dns.TypeSRV, 0)
			if len(r.Answer) == 0 || network == "udp" && !r.Truncated {
				t.Fatalf("%s: %d records, TC %v", network, len(r.Answer), r.Truncated)
			}
			checkSRVGlue(t, r)
		}
	}
}
