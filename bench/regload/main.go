// Command regload registers new instances from a fixed number of
// connections for a while, each connection sending its next registration
// as soon as the previous one is answered (as wrk does), and prints the
// rate and the latency of every registration as its client saw it.
//
// It exists beside wrk because wrk 4 corrects its latency figures for
// coordinated omission (it adds, for each slow answer, the answers a
// constant-rate client would have waited for meanwhile), which is the right
// view for a paced client but turns a closed-loop run's percentiles into
// figures no client saw: a 200 ms stall on one answer in twenty becomes a
// p75 of 56 ms when every real answer but that one took 10 ms.
// scripts/bench-register.sh takes rates from wrk (the same tool as for
// etcd) and registration latency from this.
//
// Any answer other than 200 or a transport error fails the run (exit 1):
// a rate of errors is no rate.
//
// Usage: regload -addr HOST:PORT [-duration 5s] [-conns 64] [-services 100] [-service bench] [-prefix ID]
//
// It prints one line:
//
//	registrations: 2310 /s p50 21.30 ms p99 48.20 ms (11550 in 5.0 s, 64 connections)
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// body is the registration scripts/lua/roster-register.lua sends.
const body = `{"address":"10.1.0.1","port":8080,"tags":["bench"],"ttl":"10m"}`

func main() {
	log.SetFlags(0)
	addr := flag.String("addr", "", "Roster server HTTP address (required)")
	duration := flag.Duration("duration", 5*time.Second, "how long to register")
	conns := flag.Int("conns", 64, "connections, each with one registration in flight")
	services := flag.Int("services", 100, "services to spread over (1: all into -service)")
	service := flag.String("service", "bench", "service name, or its prefix (bench-0, bench-1, ...) when -services > 1")
	prefix := flag.String("prefix", strconv.FormatInt(time.Now().UnixNano(), 36), "instance id prefix, unique to the run (registering the same data again is no write)")
	flag.Parse()
	if *addr == "" || *conns < 1 || *services < 1 {
		log.Fatal("regload: -addr is required; -conns and -services must be at least 1")
	}
	line, err := run(*addr, *duration, *conns, *services, *service, *prefix)
	if err != nil {
		log.Fatalf("regload: %v", err)
	}
	fmt.Println(line)
}

func run(addr string, duration time.Duration, conns, services int, service, prefix string) (string, error) {
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		Timeout:   10 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var err error
			for n := 0; ctx.Err() == nil; n++ {
				svc := service
				if services > 1 {
					svc = service + "-" + strconv.Itoa((c+n*conns)%services)
				}
				url := fmt.Sprintf("http://%s/v1/services/%s/instances/i-%s-%d-%d", addr, svc, prefix, c, n)
				t := time.Now()
				if err = register(client, url); err != nil {
					break
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		return "", fmt.Errorf("%d of %d connections met errors, first: %w", len(errs), conns, errs[0])
	}
	if len(lat) == 0 {
		return "", errors.New("no registration answered")
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	return fmt.Sprintf("registrations: %.0f /s p50 %.2f ms p99 %.2f ms (%d in %.1f s, %d connections)",
		float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99), len(lat), elapsed.Seconds(), conns), nil
}

// register sends one registration; an answer other than 200 is an error.
func register(client *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}
