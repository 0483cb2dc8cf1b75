// Command scale measures Roster at 100,000 and 1,000,000 registered
// instances against design.md's targets ("100,000: under 150 MB resident per
// server; restart and catch-up under 5 s"; "1,000,000 over 10,000 services:
// under 1.2 GB per server, restart under 10 s, a new follower caught up by
// snapshot under 30 s"): it runs real `roster server` processes with data
// dirs (fsync on), registers instances over HTTP with concurrent clients,
// renews every lease with batched heartbeats, and reports resident memory
// (VmRSS, which counts bbolt's mapped file), data dir and raft.db sizes,
// restart time of a single server, catch-up time of a restarted follower and
// of a new (fourth) server that receives the leader's snapshot in a
// 3-server cluster. Mode sweep repeats the single-server run at several
// sizes and writes one CSV row per size (scripts/bench-scale.sh plots it).
// docs/bench/scale.md shows how to run it and the figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
)

type options struct {
	roster    string
	work      string
	mode      string
	services  int
	per       int
	extra     int
	clients   int
	ttl       time.Duration
	batch     int
	settleMax time.Duration
	keep      bool
	sizes     string
	csv       string
}

func main() {
	var o options
	flag.StringVar(&o.roster, "roster", "", "path to the roster binary (required)")
	flag.StringVar(&o.work, "work", "", "directory for data dirs and server logs (default: a new temp dir)")
	flag.StringVar(&o.mode, "mode", "single", "single, cluster or both")
	flag.IntVar(&o.services, "services", 1000, "services to register")
	flag.IntVar(&o.per, "per", 100, "instances per service")
	flag.IntVar(&o.extra, "extra", 10000, "cluster mode: instances registered while a follower is down")
	flag.IntVar(&o.clients, "clients", 64, "concurrent registering clients")
	flag.DurationVar(&o.ttl, "ttl", 10*time.Minute, "TTL of every instance; the tool renews every registered instance each third of it, in batches, as clients would")
	flag.IntVar(&o.batch, "batch", 100, "instances per PUT /v1/heartbeats")
	flag.DurationVar(&o.settleMax, "settle", 150*time.Second, "longest wait for memory to settle after load (Go forces a GC every 2 minutes)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir")
	flag.StringVar(&o.sizes, "sizes", "10000,100000", "sweep mode: instance counts, comma-separated (services = count / -per)")
	flag.StringVar(&o.csv, "csv", "", "sweep mode: append one CSV row per size to this file (header first when new)")
	flag.Parse()
	if o.roster == "" {
		log.Fatal("-roster is required")
	}
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if o.work != "" {
		if err := os.MkdirAll(o.work, 0o750); err != nil {
			log.Fatal(err)
		}
	} else {
		d, err := os.MkdirTemp("", "roster-scale-")
		if err != nil {
			log.Fatal(err)
		}
		o.work = d
	}
	b := &bench{o: o, hc: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute},
	}}
	var err error
	switch o.mode {
	case "single":
		_, err = b.single(b.o.services, "single-s1")
	case "sweep":
		err = b.sweep()
	case "cluster":
		err = b.cluster()
	case "both":
		if _, err = b.single(b.o.services, "single-s1"); err == nil {
			err = b.cluster()
		}
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	b.stopAll()
	if err != nil {
		// The work dir stays: it holds the servers' logs.
		log.Fatalf("FAILED: %v (data dirs and server logs in %s)", err, o.work)
	}
	if !o.keep {
		os.RemoveAll(o.work)
	}
}

type bench struct {
	o       options
	hc      *http.Client
	servers []*server

	// registered is every instance registered in the current phase, for
	// the background renewer.
	regMu      sync.Mutex
	registered []api.BatchHeartbeat
}

// keepAlive renews every instance registered so far through
// PUT /v1/heartbeats, 100 per request, each third of the TTL, until the
// returned stop is called: at a million instances the load alone takes
// longer than a TTL on two shared cores, and clients renew while others
// register. Failures (the server restarting) are counted, not fatal: the
// explicit heartbeat rounds check renewals.
func (b *bench) keepAlive(addr string) (stop func()) {
	b.regMu.Lock()
	b.registered = nil
	b.regMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.o.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b.regMu.Lock()
			refs := b.registered[:len(b.registered):len(b.registered)]
			b.regMu.Unlock()
			renewed, failed := 0, 0
			for i := 0; i < len(refs) && ctx.Err() == nil; i += b.o.batch {
				body, _ := json.Marshal(api.HeartbeatsRequest{Instances: refs[i:min(i+b.o.batch, len(refs))]})
				var resp api.HeartbeatsResponse
				if err := b.do(ctx, http.MethodPut, addr, "/v1/heartbeats", body, &resp); err != nil {
					failed++
					continue
				}
				renewed += resp.Renewed
			}
			log.Printf("background renewal: %d of %d renewed, %d requests failed", renewed, len(refs), failed)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// singleResult is what one single-server run measured: a row of the
// sweep's CSV.
type singleResult struct {
	instances           int
	regRate             float64
	load, restarted     memReport
	peak                int64
	raftDB, snapshot    int64
	stop, ready, listed time.Duration
	armed               time.Duration
	lookups, dnsQueries float64
}

var csvHeader = "instances,registrations_per_s,rss_mb,anon_mb,file_mb,heap_inuse_mb,peak_rss_mb," +
	"raft_db_mb,snapshot_mb,stop_s,restart_ready_s,restart_listed_s,restart_armed_s,rss_after_restart_mb," +
	"lookups_per_s,dns_per_s"

func (r singleResult) csv() string {
	m := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) }
	s := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	return strings.Join([]string{strconv.Itoa(r.instances), strconv.FormatFloat(r.regRate, 'f', 0, 64),
		m(r.load.rss), m(r.load.anon), m(r.load.file), m(int64(r.load.heapInuse)), m(r.peak),
		m(r.raftDB), m(r.snapshot), s(r.stop), s(r.ready), s(r.listed), s(r.armed), m(r.restarted.rss),
		strconv.FormatFloat(r.lookups, 'f', 0, 64), strconv.FormatFloat(r.dnsQueries, 'f', 0, 64)}, ",")
}

// sweep runs single at every size of -sizes, each on a fresh server, and
// appends a CSV row per size.
func (b *bench) sweep() error {
	var sizes []int
	for _, f := range strings.Split(b.o.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < b.o.per || n%b.o.per != 0 {
			return fmt.Errorf("-sizes: %q is not a positive multiple of -per %d", f, b.o.per)
		}
		sizes = append(sizes, n)
	}
	var out io.Writer = io.Discard
	if b.o.csv != "" {
		fi, statErr := os.Stat(b.o.csv)
		f, err := os.OpenFile(b.o.csv, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if statErr != nil || fi.Size() == 0 {
			fmt.Fprintln(f, csvHeader)
		}
		out = f
	}
	for _, n := range sizes {
		r, err := b.single(n/b.o.per, fmt.Sprintf("sweep-%d", n))
		if err != nil {
			return fmt.Errorf("%d instances: %w", n, err)
		}
		fmt.Fprintln(out, r.csv())
		fmt.Printf("csv %s\n", r.csv())
	}
	return nil
}

// single: one server, load, memory, restart.
func (b *bench) single(services int, name string) (singleResult, error) {
	total := services * b.o.per
	r := singleResult{instances: total}
	fmt.Printf("== single server, %d services x %d instances = %d, %d clients, ttl %s\n",
		services, b.o.per, total, b.o.clients, b.o.ttl)
	s, err := b.newServer(name, nil, 0)
	if err != nil {
		return r, err
	}
	if err := s.start(); err != nil {
		return r, err
	}
	if _, err := s.waitReady(30 * time.Second); err != nil {
		return r, err
	}
	defer b.keepAlive(s.http)()
	peak := s.trackPeak()
	if r.regRate, err = b.register(s.http, 0, services, b.o.per, "i"); err != nil {
		return r, err
	}
	if err := b.heartbeat(s.http, services, b.o.per, "i"); err != nil {
		return r, err
	}
	if err := b.leases(s, total); err != nil {
		return r, err
	}
	r.peak = peak()
	if r.load, err = s.settle(b.o.settleMax); err != nil {
		return r, err
	}
	fmt.Printf("memory after load: %s (peak VmRSS during load %s)\n", r.load, mb(r.peak))
	if _, _, err := s.diskReport(); err != nil {
		return r, err
	}
	if r.lookups, r.dnsQueries, err = b.lookups(s, services); err != nil {
		return r, err
	}

	// Restart: SIGTERM, start again, time until ready and every instance listed.
	t0 := time.Now()
	if err := s.stop(syscall.SIGTERM, 2*time.Minute); err != nil {
		return r, err
	}
	r.stop = time.Since(t0)
	fmt.Printf("shutdown (SIGTERM to exit): %s\n", ms(r.stop))
	if r.raftDB, r.snapshot, err = s.diskReport(); err != nil {
		return r, err
	}
	start := time.Now()
	if err := s.start(); err != nil {
		return r, err
	}
	ready, err := s.waitReady(2 * time.Minute)
	if err != nil {
		return r, err
	}
	listed, err := s.waitCount(total, 2*time.Minute)
	if err != nil {
		return r, err
	}
	r.ready, r.listed = ready.Sub(start), listed.Sub(start)
	fmt.Printf("restart: ready after %s, all %d listed after %s (from process start)\n",
		ms(r.ready), total, ms(r.listed))
	armed, err := s.waitArmed(2 * time.Minute)
	if err != nil {
		return r, err
	}
	r.armed = armed.Sub(start)
	fmt.Printf("restart: leases re-armed after %s\n", ms(r.armed))
	if err := b.heartbeat(s.http, services, b.o.per, "i"); err != nil {
		return r, fmt.Errorf("heartbeats after restart: %w", err)
	}
	if r.restarted, err = s.settle(b.o.settleMax); err != nil {
		return r, err
	}
	fmt.Printf("memory after restart: %s\n", r.restarted)
	if err := s.stop(syscall.SIGTERM, 2*time.Minute); err != nil {
		return r, err
	}
	// A sweep's next size starts from a clean disk.
	return r, os.RemoveAll(s.dir)
}

// cluster: three servers, load, memory of each, a follower killed and
// restarted while more registrations arrive.
func (b *bench) cluster() error {
	total := b.o.services * b.o.per
	fmt.Printf("== 3 servers, %d services x %d instances = %d, %d clients, ttl %s\n",
		b.o.services, b.o.per, total, b.o.clients, b.o.ttl)
	var ss []*server
	for i := range 3 {
		var join []string
		if i > 0 {
			join = []string{ss[0].gossip}
		}
		s, err := b.newServer(fmt.Sprintf("cluster-s%d", i+1), join, 3)
		if err != nil {
			return err
		}
		if err := s.start(); err != nil {
			return err
		}
		ss = append(ss, s)
	}
	for _, s := range ss {
		if _, err := s.waitReady(60 * time.Second); err != nil {
			return err
		}
	}
	leader, err := b.leader(ss)
	if err != nil {
		return err
	}
	fmt.Printf("leader: %s\n", leader.name)
	defer b.keepAlive(leader.http)()
	peaks := make([]func() int64, len(ss))
	for i, s := range ss {
		peaks[i] = s.trackPeak()
	}
	if _, err := b.register(leader.http, 0, b.o.services, b.o.per, "i"); err != nil {
		return err
	}
	if err := b.heartbeat(leader.http, b.o.services, b.o.per, "i"); err != nil {
		return err
	}
	for _, s := range ss {
		if _, err := s.waitCount(total, 60*time.Second); err != nil {
			return err
		}
	}
	if err := b.leases(leader, total); err != nil {
		return err
	}
	for i, s := range ss {
		p := peaks[i]()
		mem, err := s.settle(b.o.settleMax)
		if err != nil {
			return err
		}
		role := "follower"
		if s == leader {
			role = "leader"
		}
		fmt.Printf("%s (%s) memory after load: %s (peak VmRSS during load %s)\n", s.name, role, mem, mb(p))
		if _, _, err := s.diskReport(); err != nil {
			return err
		}
	}

	// Kill a follower, register more, restart it, time its catch-up.
	var f *server
	for _, s := range ss {
		if s != leader {
			f = s
			break
		}
	}
	fmt.Printf("on follower %s: ", f.name)
	if _, _, err := b.lookups(f, b.o.services); err != nil {
		return err
	}
	if err := f.stop(syscall.SIGKILL, 30*time.Second); err != nil {
		return err
	}
	fmt.Printf("killed follower %s (SIGKILL)\n", f.name)
	extraServices := (b.o.extra + b.o.per - 1) / b.o.per
	if _, err := b.register(leader.http, 0, extraServices, b.o.per, "x"); err != nil {
		return err
	}
	want := total + extraServices*b.o.per
	start := time.Now()
	if err := f.start(); err != nil {
		return err
	}
	ready, err := f.waitReady(60 * time.Second)
	if err != nil {
		return err
	}
	listed, err := f.waitCount(want, 60*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("follower restart: ready after %s, all %d listed after %s (from process start)\n",
		ms(ready.Sub(start)), want, ms(listed.Sub(start)))
	mem, err := f.settle(b.o.settleMax)
	if err != nil {
		return err
	}
	fmt.Printf("%s memory after catch-up: %s\n", f.name, mem)

	// A new server joins: the leader no longer holds the log from the
	// start (once a snapshot compacted it), so it sends its snapshot.
	n, err := b.newServer("cluster-s4", []string{leader.gossip}, 0)
	if err != nil {
		return err
	}
	ss = append(ss, n)
	start = time.Now()
	if err := n.start(); err != nil {
		return err
	}
	ready, err = n.waitReady(2 * time.Minute)
	if err != nil {
		return err
	}
	listed, err = n.waitCount(want, 2*time.Minute)
	if err != nil {
		return err
	}
	how := "by log replication (the leader's log still starts at its first entry)"
	if n.logged("restored catalog from snapshot") {
		how = "by snapshot install"
	}
	fmt.Printf("new follower %s: ready after %s, all %d listed after %s (from process start), caught up %s\n",
		n.name, ms(ready.Sub(start)), want, ms(listed.Sub(start)), how)
	if mem, err = n.settle(b.o.settleMax); err != nil {
		return err
	}
	fmt.Printf("%s memory after catch-up: %s\n", n.name, mem)
	for _, s := range ss {
		if err := s.stop(syscall.SIGTERM, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// register PUTs services x per instances (ids <svc>-<kind><n>) with the
// configured concurrency: one TTL, one meta key, one tag each.
func (b *bench) register(addr string, from, services, per int, kind string) (rate float64, err error) {
	type job struct{ svc, id string }
	jobs := make(chan job, 1024)
	var (
		done  atomic.Int64
		errMu sync.Mutex
		first error
		wg    sync.WaitGroup
		lat   = make([][]time.Duration, b.o.clients)
		ctx   = context.Background()
	)
	fail := func(err error) {
		errMu.Lock()
		if first == nil {
			first = err
		}
		errMu.Unlock()
	}
	start := time.Now()
	for w := range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				n := done.Load()
				body, _ := json.Marshal(api.RegisterRequest{
					Address: fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255),
					Port:    8080,
					Tags:    []string{"v1"},
					Meta:    map[string]string{"version": "1.4.2"},
					TTL:     b.o.ttl.String(),
				})
				t := time.Now()
				err := retry503(func() error {
					return b.do(ctx, http.MethodPut, addr, "/v1/services/"+j.svc+"/instances/"+j.id, body, nil)
				})
				lat[w] = append(lat[w], time.Since(t))
				if err != nil {
					fail(fmt.Errorf("register %s/%s: %w", j.svc, j.id, err))
					continue
				}
				b.regMu.Lock()
				b.registered = append(b.registered, api.BatchHeartbeat{Service: j.svc, ID: j.id})
				b.regMu.Unlock()
				done.Add(1)
			}
		}()
	}
	for s := from; s < from+services; s++ {
		svc := fmt.Sprintf("svc-%s%04d", kind, s)
		for i := range per {
			jobs <- job{svc, fmt.Sprintf("%s-%d", svc, i)}
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return 0, first
	}
	d := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	rate = float64(done.Load()) / d.Seconds()
	fmt.Printf("registered %d in %s: %.0f/s, latency %s\n", done.Load(), ms(d), rate, percentiles(all))
	return rate, nil
}

// lookups measures, for lookupTime each, HTTP lookups
// (GET /v1/services/{s}/instances) and DNS A queries ({s}.service.roster.)
// of lookupServices of the registered services (the same ones at every
// size, spread over the catalog), round-robin, from 16 clients, after one
// query of each has built its pre-encoded answers: a sweep shows whether
// either rate moves with the catalog's size.
func (b *bench) lookups(s *server, services int) (httpRate, dnsRate float64, err error) {
	const clients, lookupTime, lookupServices = 16, 3 * time.Second, 100
	names := make([]string, min(lookupServices, services))
	for i := range names {
		names[i] = fmt.Sprintf("svc-i%04d", i*services/len(names))
	}
	run := func(fn func(svc string) error) (float64, error) {
		for _, svc := range names {
			if err := fn(svc); err != nil {
				return 0, err
			}
		}
		var (
			n     atomic.Int64
			wg    sync.WaitGroup
			errMu sync.Mutex
			first error
		)
		start := time.Now()
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; time.Since(start) < lookupTime; i += clients {
					if err := fn(names[i%len(names)]); err != nil {
						errMu.Lock()
						first = cmpErr(first, err)
						errMu.Unlock()
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds(), first
	}
	httpRate, err = run(func(svc string) error {
		return b.do(context.Background(), http.MethodGet, s.http, "/v1/services/"+svc+"/instances", nil, nil)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lookup: %w", err)
	}
	dc := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	dnsRate, err = run(func(svc string) error {
		m := new(dns.Msg)
		m.SetQuestion(svc+".service.roster.", dns.TypeA)
		r, _, err := dc.Exchange(m, s.dns)
		if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0) {
			err = fmt.Errorf("%s: rcode %s, %d answers", svc, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("dns: %w", err)
	}
	fmt.Printf("lookups (%d clients, %s each): HTTP %.0f/s, DNS %.0f/s\n", clients, lookupTime, httpRate, dnsRate)
	return httpRate, dnsRate, nil
}

// heartbeat renews every instance through PUT /v1/heartbeats in batches.
func (b *bench) heartbeat(addr string, services, per int, kind string) error {
	var refs []api.BatchHeartbeat
	for s := range services {
		svc := fmt.Sprintf("svc-%s%04d", kind, s)
		for i := range per {
			refs = append(refs, api.BatchHeartbeat{Service: svc, ID: fmt.Sprintf("%s-%d", svc, i)})
		}
	}
	batches := make(chan []api.BatchHeartbeat, 64)
	var (
		renewed atomic.Int64
		missing atomic.Int64
		errMu   sync.Mutex
		first   error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				body, _ := json.Marshal(api.HeartbeatsRequest{Instances: batch})
				var resp api.HeartbeatsResponse
				err := retry503(func() error {
					return b.do(context.Background(), http.MethodPut, addr, "/v1/heartbeats", body, &resp)
				})
				if err != nil {
					errMu.Lock()
					first = cmpErr(first, fmt.Errorf("heartbeats: %w", err))
					errMu.Unlock()
					continue
				}
				renewed.Add(int64(resp.Renewed))
				missing.Add(int64(len(resp.Missing) + len(resp.Gone)))
			}
		}()
	}
	for i := 0; i < len(refs); i += b.o.batch {
		batches <- refs[i:min(i+b.o.batch, len(refs))]
	}
	close(batches)
	wg.Wait()
	if first != nil {
		return first
	}
	d := time.Since(start)
	fmt.Printf("heartbeats: %d renewed, %d missing in %s (%.0f renewals/s, %d per request)\n",
		renewed.Load(), missing.Load(), ms(d), float64(renewed.Load())/d.Seconds(), b.o.batch)
	if int(renewed.Load()) != len(refs) {
		return fmt.Errorf("renewed %d of %d", renewed.Load(), len(refs))
	}
	return nil
}

// leases checks the leader's lease table holds every instance.
func (b *bench) leases(s *server, want int) error {
	var ls api.LeaseState
	if err := b.do(context.Background(), http.MethodGet, s.http, "/v1/cluster/leases", nil, &ls); err != nil {
		return err
	}
	fmt.Printf("lease table on %s: %d leases, %d pending, paused=%v\n", s.name, ls.Leases, ls.Pending, ls.Paused)
	if ls.Leases != want {
		return fmt.Errorf("lease table holds %d leases, want %d", ls.Leases, want)
	}
	return nil
}

func (b *bench) leader(ss []*server) (*server, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var l api.Leader
		if err := b.do(context.Background(), http.MethodGet, ss[0].http, "/v1/cluster/leader", nil, &l); err == nil && l.Known {
			for _, s := range ss {
				if s.http == l.HTTPAddr {
					return s, nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, errors.New("no leader known within 30s")
}

// do sends one request and decodes a 2xx JSON answer into out (if not nil).
func (b *bench) do(ctx context.Context, method, addr, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(data))}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// retry503 retries while the server answers 503 (a new leader re-arming its
// leases answers heartbeats with 503 and Retry-After).
func retry503(fn func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		var se *statusError
		if err == nil || !errors.As(err, &se) || se.code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (b *bench) stopAll() {
	for _, s := range b.servers {
		if s.cmd != nil {
			_ = s.stop(syscall.SIGKILL, 10*time.Second)
		}
	}
}

// server is one `roster server` process with its data dir and ports, which
// it keeps across restarts.
type server struct {
	b                       *bench
	name, dir               string
	http, dns, raft, gossip string
	args                    []string
	logf                    *os.File
	cmd                     *exec.Cmd
	exited                  chan struct{}
}

func (b *bench) newServer(name string, join []string, expect int) (*server, error) {
	s := &server{b: b, name: name, dir: filepath.Join(b.o.work, name)}
	for _, p := range []*string{&s.http, &s.dns, &s.raft, &s.gossip} {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		*p = a
	}
	s.args = []string{"server", "--node", name, "--data-dir", s.dir,
		"--http-addr", s.http, "--dns-addr", s.dns, "--raft-addr", s.raft, "--gossip-addr", s.gossip,
		// The whole load comes from one address: per-client rate limits off.
		"--client-write-rate", "-1", "--client-heartbeat-rate", "-1"}
	if expect > 0 {
		s.args = append(s.args, "--bootstrap-expect", strconv.Itoa(expect))
	}
	for _, j := range join {
		s.args = append(s.args, "--join", j)
	}
	f, err := os.Create(filepath.Join(b.o.work, name+".log"))
	if err != nil {
		return nil, err
	}
	s.logf = f
	b.servers = append(b.servers, s)
	return s, nil
}

// freeAddr finds a loopback port free for both TCP and UDP (DNS and gossip
// bind both).
func freeAddr() (string, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr, nil
		}
	}
	return "", errors.New("no free port")
}

func (s *server) start() error {
	cmd := exec.Command(s.b.o.roster, s.args...)
	cmd.Stdout, cmd.Stderr = s.logf, s.logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return nil
}

func (s *server) stop(sig syscall.Signal, timeout time.Duration) error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
		return fmt.Errorf("%s did not exit within %s of %s", s.name, timeout, sig)
	}
	s.cmd = nil
	return nil
}

func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited (see %s)", s.name, s.logf.Name())
	default:
		return nil
	}
}

func (s *server) waitReady(timeout time.Duration) (time.Time, error) {
	return s.poll(timeout, "ready", func() error {
		return s.b.do(context.Background(), http.MethodGet, s.http, "/readyz", nil, nil)
	})
}

func (s *server) waitCount(want int, timeout time.Duration) (time.Time, error) {
	return s.poll(timeout, fmt.Sprintf("%d instances listed", want), func() error {
		var l api.ServiceList
		if err := s.b.do(context.Background(), http.MethodGet, s.http, "/v1/services", nil, &l); err != nil {
			return err
		}
		n := 0
		for _, svc := range l.Services {
			n += svc.Instances
		}
		if n != want {
			return fmt.Errorf("%d listed", n)
		}
		return nil
	})
}

func (s *server) waitArmed(timeout time.Duration) (time.Time, error) {
	return s.poll(timeout, "leases armed", func() error {
		var ls api.LeaseState
		if err := s.b.do(context.Background(), http.MethodGet, s.http, "/v1/cluster/leases", nil, &ls); err != nil {
			return err
		}
		if !ls.Armed {
			return errors.New("not armed")
		}
		return nil
	})
}

func (s *server) poll(timeout time.Duration, what string, fn func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return time.Now(), nil
		}
		if aerr := s.alive(); aerr != nil {
			return time.Time{}, aerr
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: not %s within %s: %v", s.name, what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// trackPeak samples VmRSS every 100 ms until the returned func is called,
// which answers the highest sample.
func (s *server) trackPeak() func() int64 {
	stop := make(chan struct{})
	var peak atomic.Int64
	done := make(chan struct{})
	pid := s.cmd.Process.Pid
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readProcMem(pid); err == nil && m.rss > peak.Load() {
				peak.Store(m.rss)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

type memReport struct {
	rss, anon, file  int64 // VmRSS, RssAnon, RssFile from /proc (bytes)
	heapInuse, goSys float64
	gcs              float64
	waited           time.Duration
}

func (m memReport) String() string {
	return fmt.Sprintf("VmRSS %s (anon %s, file %s: the bolt mmap and binary), Go heap in use %s, Go sys %s, after %s settling, %v GCs",
		mb(m.rss), mb(m.anon), mb(m.file), mb(int64(m.heapInuse)), mb(int64(m.goSys)), ms(m.waited), m.gcs)
}

// settle waits until the process has run a GC after the load and its RSS
// stops moving (under 1 MB over 5 s), or max, then reports memory.
func (s *server) settle(max time.Duration) (memReport, error) {
	start := time.Now()
	pid := s.cmd.Process.Pid
	g0, err := s.goMetrics()
	if err != nil {
		return memReport{}, err
	}
	var last int64
	var stableSince time.Time
	for {
		g, err := s.goMetrics()
		if err != nil {
			return memReport{}, err
		}
		m, err := readProcMem(pid)
		if err != nil {
			return memReport{}, err
		}
		if abs(m.rss-last) > 1<<20 {
			last, stableSince = m.rss, time.Now()
		}
		gcAfter := g["go_gc_duration_seconds_count"] > g0["go_gc_duration_seconds_count"]
		if (gcAfter && time.Since(stableSince) >= 5*time.Second) || time.Since(start) > max {
			m.heapInuse = g["go_memstats_heap_inuse_bytes"]
			m.goSys = g["go_memstats_sys_bytes"]
			m.gcs = g["go_gc_duration_seconds_count"]
			m.waited = time.Since(start)
			return m, nil
		}
		time.Sleep(time.Second)
	}
}

func (s *server) goMetrics() (map[string]float64, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.http+"/metrics", nil)
	resp, err := s.b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "go_") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func readProcMem(pid int) (memReport, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memReport{}, err
	}
	var m memReport
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "RssAnon":
			m.anon = n << 10
		case "RssFile":
			m.file = n << 10
		}
	}
	return m, nil
}

// diskReport prints the data dir's size and raft.db's, and answers
// raft.db's size and the newest snapshot's.
func (s *server) diskReport() (raftDB, snapshot int64, err error) {
	var total int64
	var snaps []string
	var newest time.Time
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		if d.Name() == "state.bin" {
			if fi.ModTime().After(newest) {
				newest, snapshot = fi.ModTime(), fi.Size()
			}
			snaps = append(snaps, fmt.Sprintf("%s %s", filepath.Base(filepath.Dir(p)), mb(fi.Size())))
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(filepath.Join(s.dir, "raft.db"))
	if err != nil {
		return 0, 0, err
	}
	fmt.Printf("%s disk: data dir %s, raft.db %s, snapshots [%s]\n", s.name, mb(total), mb(fi.Size()), strings.Join(snaps, ", "))
	return fi.Size(), snapshot, nil
}

// logged reports whether the server's log holds the text.
func (s *server) logged(text string) bool {
	data, err := os.ReadFile(s.logf.Name())
	return err == nil && bytes.Contains(data, []byte(text))
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return fmt.Sprintf("p50 %s p99 %s max %s", p(0.5).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), d[len(d)-1].Round(10*time.Microsecond))
}
