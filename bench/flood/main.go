// Command flood measures what one hostile client costs everyone else: a
// paced set of lookup clients reads a 10-instance service while, in the
// second phase, one flooding client (from its own loopback address) sends
// registrations and heartbeats as fast as it can. It prints the lookups'
// latency percentiles and success rate for both phases, and what the
// flooder got through (accepted and refused with 429). Run it from a
// second process against a running server (scripts/bench-flood.sh).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type stats struct {
	mu   sync.Mutex
	lat  []time.Duration
	fail int
}

func (s *stats) add(d time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.lat = append(s.lat, d)
	} else {
		s.fail++
	}
}

func (s *stats) line(name string, secs float64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.lat)
	pct := func(p float64) time.Duration {
		if len(s.lat) == 0 {
			return 0
		}
		return s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))]
	}
	total := len(s.lat) + s.fail
	success := 0.0
	if total > 0 {
		success = 100 * float64(len(s.lat)) / float64(total)
	}
	return fmt.Sprintf("%-10s lookups %7.0f/s  success %6.2f%%  p50 %8v  p99 %8v  p99.9 %8v",
		name, float64(total)/secs, success, pct(0.50).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond))
}

// client returns an HTTP client whose connections leave from local (a
// loopback address of its own, so that the server tells the clients apart).
func client(local string, conns int) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
	}}
}

// lookups reads the service at rate per second from workers goroutines
// until ctx ends.
func lookups(ctx context.Context, base string, rate, workers int, st *stats) {
	c := client("127.0.0.1", workers)
	var wg sync.WaitGroup
	interval := time.Duration(workers) * time.Second / time.Duration(rate)
	for w := range workers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(w) * interval / time.Duration(workers))
			for ctx.Err() == nil {
				due := next
				time.Sleep(time.Until(due))
				next = next.Add(interval)
				resp, err := c.Get(base + "/v1/services/web/instances")
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				// Latency counts from when the lookup was due, so a stall
				// shows even when the client fell behind its pace.
				st.add(time.Since(due), ok)
			}
		})
	}
	wg.Wait()
}

// flood sends registrations (and a heartbeat batch for each) from its own
// address as fast as conns connections allow until ctx ends.
func flood(ctx context.Context, base, local string, conns int, accepted, limited, failed *atomic.Int64) {
	c := client(local, conns)
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := seq.Add(1)
				var req *http.Request
				if n%2 == 0 {
					req, _ = http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v1/services/flood-%d/instances/f-%d", base, n%100, n),
						bytes.NewReader([]byte(`{"address":"10.9.0.1","port":80,"ttl":"5m"}`)))
				} else {
					body := fmt.Sprintf(`{"instances":[{"service":"flood-%d","id":"f-%d"}]}`, (n-1)%100, n-1)
					req, _ = http.NewRequest(http.MethodPut, base+"/v1/heartbeats", bytes.NewReader([]byte(body)))
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				switch {
				case err != nil:
					failed.Add(1)
					continue
				case resp.StatusCode == http.StatusTooManyRequests:
					limited.Add(1)
				case resp.StatusCode < 300:
					accepted.Add(1)
				default:
					failed.Add(1)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18701", "server HTTP address")
	secs := flag.Duration("duration", 10*time.Second, "length of each phase")
	rate := flag.Int("rate", 2000, "lookups per second (paced) from the well-behaved clients")
	workers := flag.Int("workers", 16, "lookup connections")
	conns := flag.Int("flood-conns", 64, "connections of the flooding client")
	floodFrom := flag.String("flood-from", "127.0.0.2", "loopback address the flooding client sends from")
	flag.Parse()
	base := "http://" + *addr

	var unloaded stats
	ctx, cancel := context.WithTimeout(context.Background(), *secs)
	lookups(ctx, base, *rate, *workers, &unloaded)
	cancel()

	var loaded stats
	var accepted, limited, failed atomic.Int64
	ctx, cancel = context.WithTimeout(context.Background(), *secs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		flood(ctx, base, *floodFrom, *conns, &accepted, &limited, &failed)
	}()
	lookups(ctx, base, *rate, *workers, &loaded)
	cancel()
	<-done

	s := secs.Seconds()
	fmt.Println(unloaded.line("unloaded", s))
	fmt.Println(loaded.line("flooded", s))
	fmt.Printf("flooder    accepted %7.0f/s  refused 429 %7.0f/s  failed %d\n",
		float64(accepted.Load())/s, float64(limited.Load())/s, failed.Load())
	if unloaded.lat == nil || loaded.lat == nil {
		log.Print("no successful lookup in a phase")
		os.Exit(1)
	}
}
