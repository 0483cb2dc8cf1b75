package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/internal/retry"
)

// load sends requests from a few goroutines until stopped and records what
// failed.
type load struct {
	stop         chan struct{}
	wg           sync.WaitGroup
	ok           atomic.Int64
	mu           sync.Mutex
	failures     []string
	postFailures atomic.Int64
	getFailures  atomic.Int64
}

func startLoad(url string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				method, body := http.MethodGet, ""
				if (w+i)%4 == 0 {
					method, body = http.MethodPost, "order"
				}
				a, err := do(method, url, "", body)
				if err == nil && a.status == http.StatusOK {
					l.ok.Add(1)
					continue
				}
				if method == http.MethodPost {
					l.postFailures.Add(1)
				} else {
					l.getFailures.Add(1)
				}
				l.mu.Lock()
				l.failures = append(l.failures, fmt.Sprintf("%s: %d %v %s", method, a.status, err, a.body))
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func TestKillingAnInstanceUnderLoadFailsOnlyItsInFlightRequests(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "users-2")
	r.register(t, "users", a, 1)
	r.register(t, "users", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	retry.Eventually(t, 2*time.Second, func() error {
		if n := g.Health().Routes[0].Instances; n != 2 {
			return fmt.Errorf("%d instances", n)
		}
		return nil
	})

	const workers = 8
	l := startLoad(g.url+"/users/1?work=5ms", workers)
	retry.Eventually(t, 5*time.Second, func() error {
		if a.hits.Load() < 50 || b.hits.Load() < 50 {
			return fmt.Errorf("hits %d and %d", a.hits.Load(), b.hits.Load())
		}
		return nil
	})
	// users-1 dies without deregistering: connections cut, port closed.
	a.kill()
	before := l.ok.Load()
	retry.Eventually(t, 5*time.Second, func() error {
		if l.ok.Load() < before+500 {
			return fmt.Errorf("%d answers since the kill", l.ok.Load()-before)
		}
		return nil
	})
	l.end()

	if n := l.getFailures.Load(); n != 0 {
		t.Errorf("%d GETs failed (they are retried on the other instance): %v", n, l.failures)
	}
	// Only POSTs that were on users-1 when it died may fail: at most one
	// per worker.
	if n := l.postFailures.Load(); n > workers {
		t.Errorf("%d POSTs failed, more than the %d that could be in flight: %v", n, workers, l.failures)
	}
	t.Logf("%d answers, %d POSTs failed in flight", l.ok.Load(), l.postFailures.Load())
	h := g.Health()
	if h.Routes[0].Ejected != 1 {
		t.Errorf("healthz %+v, want the dead instance ejected", h.Routes[0])
	}
	// The GETs in flight on users-1 when it died were sent again.
	if v, err := metric(g, `roster_gateway_retries_total{instance="users-1",route="/users",service="users"}`); err != nil || v < 1 {
		t.Errorf("retries metric %v %v", v, err)
	}
	if v, err := metric(g, `roster_gateway_ejections_total{instance="users-1",service="users"}`); err != nil || v < 1 {
		t.Errorf("ejections metric %v %v", v, err)
	}
	if v, err := metric(g, `roster_gateway_route_instances{route="/users",service="users",state="ejected"}`); err != nil || v != 1 {
		t.Errorf("ejected gauge %v %v", v, err)
	}
}

func TestEjectionNeverTakesTheLastInstance(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "users-2")
	a.status.Store(http.StatusInternalServerError)
	b.status.Store(http.StatusInternalServerError)
	r.register(t, "users", a, 1)
	r.register(t, "users", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, EjectAfter: 2, MaxTries: 1,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	retry.Eventually(t, 2*time.Second, func() error {
		if n := g.Health().Routes[0].Instances; n != 2 {
			return fmt.Errorf("%d instances", n)
		}
		return nil
	})
	for range 20 {
		if a := get(t, g.url+"/x"); a.status != http.StatusInternalServerError {
			t.Fatalf("%d, want the instances' 500", a.status)
		}
	}
	if h := g.Health(); h.Routes[0].Ejected != 1 {
		t.Fatalf("%d ejected, want exactly one of two", h.Routes[0].Ejected)
	}
	// The one left keeps its traffic and recovers it when it recovers.
	b.status.Store(0)
	a.status.Store(0)
	retry.Eventually(t, 2*time.Second, func() error { return answeredBy(g.url+"/x", "users-1", "users-2") })
}

func TestDeregisteredInstanceIsDrained(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "users-2")
	r.register(t, "users", a, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})

	// A long request is in flight on users-1 when it deregisters.
	slow := make(chan answer, 1)
	go func() { x, _ := do(http.MethodGet, g.url+"/slow", "", ""); slow <- x }()
	retry.Eventually(t, 5*time.Second, func() error {
		if a.started.Load() == 0 {
			return fmt.Errorf("slow request not on users-1 yet")
		}
		return nil
	})
	r.register(t, "users", b, 1)
	retry.Eventually(t, 2*time.Second, func() error { return answeredBy(g.url+"/x", "users-2") })
	r.deregister(t, "users", "users-1")
	retry.Eventually(t, 2*time.Second, func() error {
		if n := g.Health().Routes[0].Instances; n != 1 {
			return fmt.Errorf("%d instances", n)
		}
		return nil
	})
	if got := spread(t, g.url+"/x", 10); got["users-2"] != 10 {
		t.Errorf("after deregistration: %v, want all on users-2", got)
	}
	select {
	case x := <-slow:
		t.Fatalf("in-flight request ended before its instance answered: %d %s", x.status, x.body)
	default:
	}
	a.unblock()
	if x := <-slow; x.status != http.StatusOK || x.echo.Instance != "users-1" {
		t.Errorf("in-flight request on the drained instance: %d %s", x.status, x.body)
	}
}

func TestKeepsRoutingWhenEveryRosterServerIsDown(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "orders-1")
	r.register(t, "users", a, 1)
	r.register(t, "orders", b, 1, "gateway.route=/orders")
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()},
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	if h := health(t, g); h.Status != "ok" || !h.Registry.Reachable || len(h.Routes) != 2 {
		t.Fatalf("healthz before: %+v", h)
	}

	r.stop()
	retry.Eventually(t, 10*time.Second, func() error {
		if h := health(t, g); h.Status != "stale" || h.Registry.Reachable || h.Registry.Error == "" {
			return fmt.Errorf("healthz %+v", h)
		}
		return nil
	})
	retry.Never(t, time.Second, func() error {
		if err := answeredBy(g.url+"/users/1", "users-1"); err != nil {
			return err
		}
		return answeredBy(g.url+"/orders/1", "orders-1")
	})
	if v, err := metric(g, "roster_gateway_registry_reachable "); err != nil || v != 0 {
		t.Errorf("registry_reachable %v %v, want 0", v, err)
	}
	if v, err := metric(g, "roster_gateway_registry_stale_seconds "); err != nil || v <= 0 {
		t.Errorf("registry_stale_seconds %v %v, want > 0", v, err)
	}
}

func TestRegistryUnreachableFromTheStartAnswersAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close() // nothing listens there now
	g, err := gateway.New(gateway.Config{Addrs: []string{nobody}, ResolveTimeout: 300 * time.Millisecond,
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	retry.Eventually(t, 5*time.Second, func() error {
		if h := g.Health(); h.Status != "stale" {
			return fmt.Errorf("healthz %+v", h)
		}
		return nil
	})
	retry.Eventually(t, 5*time.Second, func() error {
		start := time.Now()
		a := get(t, srv.URL+"/users/1")
		b := get(t, srv.URL+"/nowhere")
		if a.status != http.StatusServiceUnavailable || b.status != http.StatusNotFound {
			return fmt.Errorf("answers %d and %d", a.status, b.status)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			return fmt.Errorf("took %v past the start", d)
		}
		return nil
	})
}
