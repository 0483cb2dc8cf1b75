package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/internal/retry"
)

func TestRoutesFromConfigTakeTheLongestPrefix(t *testing.T) {
	r := startRoster(t)
	users, admin, root := startBackend(t, "users-1"), startBackend(t, "admin-1"), startBackend(t, "web-1")
	r.register(t, "users", users, 1)
	r.register(t, "admin", admin, 1)
	r.register(t, "web", root, 1)
	g := startGateway(t, gateway.Config{
		Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{
			{Prefix: "/users", Service: "users"},
			{Prefix: "/users/admin", Service: "admin", Strip: true},
			{Prefix: "/", Service: "web"},
		},
	})

	for _, c := range []struct{ path, instance, seen string }{
		{"/users", "users-1", "/users"},
		{"/users/42", "users-1", "/users/42"},
		{"/usersx", "web-1", "/usersx"}, // prefixes match whole segments
		{"/users/admin/7", "admin-1", "/7"},
		{"/users/admin", "admin-1", "/"},
		{"/", "web-1", "/"},
		{"/orders/1", "web-1", "/orders/1"},
	} {
		a := get(t, g.url+c.path)
		if a.status != http.StatusOK || a.echo.Instance != c.instance || a.echo.Path != c.seen {
			t.Errorf("GET %s: %d from %q saw %q, want %s seeing %s (%s)", c.path, a.status, a.echo.Instance, a.echo.Path, c.instance, c.seen, a.body)
		}
	}
}

func TestForwardingHeadersAndRequestID(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "users-1")
	r.register(t, "users", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})

	a, err := do(http.MethodGet, g.url+"/users/1", "shop.example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.echo.Host != "shop.example.com" || a.echo.XFHost != "shop.example.com" || a.echo.XFProto != "http" || a.echo.XFF != "127.0.0.1" {
		t.Errorf("instance saw host %q X-Forwarded-Host %q -Proto %q -For %q", a.echo.Host, a.echo.XFHost, a.echo.XFProto, a.echo.XFF)
	}
	id := a.header.Get("X-Request-Id")
	if len(id) != 32 || a.echo.RequestID != id {
		t.Errorf("request id: client got %q, instance got %q", id, a.echo.RequestID)
	}
	if vals := a.header.Values("X-Request-Id"); len(vals) != 1 {
		t.Errorf("X-Request-Id answered %d times: %v", len(vals), vals)
	}

	// A client's own id and X-Forwarded-For: the id is kept, the forwarded
	// chain is not trusted by default.
	req, _ := http.NewRequest(http.MethodGet, g.url+"/users/1", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e echo
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if e.RequestID != "abc-123" || resp.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("client id not kept: instance %q, answer %q", e.RequestID, resp.Header.Get("X-Request-Id"))
	}
	if e.XFF != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want only the client address", e.XFF)
	}
}

func TestTrustForwardedAppendsToTheChain(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "users-1")
	r.register(t, "users", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, TrustForwarded: true,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	req, _ := http.NewRequest(http.MethodGet, g.url+"/x", nil)
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e echo
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if e.XFF != "10.9.9.9, 127.0.0.1" || e.XFProto != "https" {
		t.Errorf("X-Forwarded-For %q -Proto %q, want the chain kept", e.XFF, e.XFProto)
	}
}

func TestRoutesFromTags(t *testing.T) {
	r := startRoster(t)
	orders := startBackend(t, "orders-1")
	api1 := startBackend(t, "api-1")
	plain := startBackend(t, "plain-1")
	r.register(t, "orders", orders, 1, "gateway.route=/orders", "gateway.strip=true", "v2")
	r.register(t, "api", api1, 1, "gateway.host=api.example.com", "gateway.route=/v1")
	r.register(t, "plain", plain, 1, "no-gateway-tag")
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}})

	if a := get(t, g.url+"/orders/9"); a.echo.Instance != "orders-1" || a.echo.Path != "/9" {
		t.Errorf("/orders/9: %d %q saw %q (%s)", a.status, a.echo.Instance, a.echo.Path, a.body)
	}
	if a, _ := do(http.MethodGet, g.url+"/v1/x", "API.example.com:8080", ""); a.echo.Instance != "api-1" || a.echo.Path != "/v1/x" {
		t.Errorf("host route: %d %q saw %q", a.status, a.echo.Instance, a.echo.Path)
	}
	if a := get(t, g.url+"/v1/x"); a.status != http.StatusNotFound {
		t.Errorf("host route answered another host: %d %s", a.status, a.body)
	}
	h := health(t, g)
	if len(h.Routes) != 2 {
		t.Fatalf("routes %+v, want two from tags", h.Routes)
	}

	// A new tagged service gets a route while the gateway runs; a tag
	// removed removes it.
	users := startBackend(t, "users-1")
	r.register(t, "users", users, 1, "gateway.route=/users")
	retry.Eventually(t, 2*time.Second, func() error { return answeredBy(g.url+"/users/1", "users-1") })
	r.register(t, "users", users, 1)
	retry.Eventually(t, 2*time.Second, func() error {
		if a := get(t, g.url+"/users/1"); a.status != http.StatusNotFound {
			return fmt.Errorf("route still answers: %d", a.status)
		}
		return nil
	})
}

func TestConfiguredRouteWinsOverATag(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "squatter-1")
	r.register(t, "users", a, 1)
	r.register(t, "squatter", b, 1, "gateway.route=/users")
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()},
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	if got := spread(t, g.url+"/users", 10); got["users-1"] != 10 {
		t.Errorf("answers %v, want all from the configured service", got)
	}
}

func TestNewInstanceGetsTrafficWithinASecond(t *testing.T) {
	r := startRoster(t)
	a := startBackend(t, "users-1")
	r.register(t, "users", a, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	if got := spread(t, g.url+"/users", 4); got["users-1"] != 4 {
		t.Fatalf("answers %v", got)
	}

	b := startBackend(t, "users-2")
	r.register(t, "users", b, 1)
	registered := time.Now()
	retry.EventuallyEvery(t, time.Second, 5*time.Millisecond, func() error {
		return answeredBy(g.url+"/users", "users-2")
	})
	t.Logf("users-2 answered %v after registering", time.Since(registered))
}

func TestNoRouteIs404AndNoInstanceIs503(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "users-1")
	r.register(t, "users", b, 1, "gateway.route=/tagged")
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()},
		Routes: []gateway.Route{{Prefix: "/orders", Service: "orders"}, {Prefix: "/users", Service: "users"}}})

	check := func(path string, status int, code string) answer {
		t.Helper()
		a := get(t, g.url+path)
		var e api.Error
		if err := json.Unmarshal([]byte(a.body), &e); err != nil || a.status != status || e.Code != code || e.Message == "" {
			t.Errorf("GET %s: %d %s, want %d with code %q", path, a.status, a.body, status, code)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if a.header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no request id", path)
		}
		return a
	}
	check("/nowhere", http.StatusNotFound, api.CodeNotFound)
	a := check("/orders/1", http.StatusServiceUnavailable, api.CodeUnavailable)
	if a.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	// Every instance critical: the route stays (503), the tag route too.
	r.setStatus(t, "users", "users-1", api.StatusCritical)
	retry.Eventually(t, 2*time.Second, func() error {
		if a := get(t, g.url+"/users"); a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("/users: %d", a.status)
		}
		if a := get(t, g.url+"/tagged"); a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("/tagged: %d", a.status)
		}
		return nil
	})
	if v, err := metric(g, `roster_gateway_requests_total{code="5xx",instance="",route="/orders",service="orders"}`); err != nil || v < 1 {
		t.Errorf("no-instance answers not counted: %v %v", v, err)
	}
	if v, err := metric(g, `roster_gateway_requests_total{code="4xx",instance="",route="",service=""}`); err != nil || v < 1 {
		t.Errorf("unrouted answers not counted: %v %v", v, err)
	}
}

func TestBalancingOverInstances(t *testing.T) {
	r := startRoster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "users-2")
	r.register(t, "users", a, 1)
	r.register(t, "users", b, 3)

	rr := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	retry.Eventually(t, 2*time.Second, func() error {
		if n := len(rr.Health().Routes[0:1]); n == 0 || rr.Health().Routes[0].Instances != 2 {
			return fmt.Errorf("routes %+v", rr.Health().Routes)
		}
		return nil
	})
	if got := spread(t, rr.url+"/x", 40); got["users-1"] != 20 || got["users-2"] != 20 {
		t.Errorf("round robin: %v, want 20 each", got)
	}

	w := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, Balance: gateway.Weighted,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	if got := spread(t, w.url+"/x", 40); got["users-1"] != 10 || got["users-2"] != 30 {
		t.Errorf("weighted 1:3: %v, want 10 and 30", got)
	}

	// Least requests: with a request stuck on one instance, every new one
	// goes to the other.
	lr := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, Balance: gateway.LeastRequests,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	stuck := make(chan answer, 1)
	go func() { a, _ := do(http.MethodGet, lr.url+"/slow", "", ""); stuck <- a }()
	retry.Eventually(t, 2*time.Second, func() error {
		if a.started.Load()+b.started.Load() == 0 {
			return fmt.Errorf("slow request not arrived")
		}
		return nil
	})
	busy, free := "users-1", "users-2"
	if b.started.Load() > 0 {
		busy, free = free, busy
	}
	if got := spread(t, lr.url+"/x", 20); got[free] != 20 {
		t.Errorf("least requests with %s busy: %v", busy, got)
	}
	a.unblock()
	b.unblock()
	if a := <-stuck; a.status != http.StatusOK {
		t.Errorf("slow request: %d", a.status)
	}
}

func TestRetriesIdempotentRequestsOnAnotherInstance(t *testing.T) {
	r := startRoster(t)
	bad, good := startBackend(t, "users-1"), startBackend(t, "users-2")
	bad.status.Store(http.StatusServiceUnavailable)
	r.register(t, "users", bad, 1)
	r.register(t, "users", good, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, EjectAfter: 1000,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	retry.Eventually(t, 2*time.Second, func() error {
		if g.Health().Routes[0].Instances != 2 {
			return fmt.Errorf("%+v", g.Health().Routes)
		}
		return nil
	})

	for i := range 10 {
		if a := get(t, g.url+"/x"); a.status != http.StatusOK || a.echo.Instance != "users-2" {
			t.Fatalf("GET %d: %d from %q", i, a.status, a.echo.Instance)
		}
	}
	if bad.hits.Load() == 0 {
		t.Fatal("the failing instance was never tried")
	}
	// A POST reaching the failing instance gets its answer: it is not sent twice.
	statuses := map[int]int{}
	for range 10 {
		a, err := do(http.MethodPost, g.url+"/x", "", "order")
		if err != nil {
			t.Fatal(err)
		}
		statuses[a.status]++
	}
	if statuses[http.StatusServiceUnavailable] != 5 || statuses[http.StatusOK] != 5 {
		t.Errorf("POST answers %v, want 5 of each (round robin, no retry)", statuses)
	}
	if v, err := metric(g, `roster_gateway_retries_total{instance="users-1",route="/",service="users"}`); err != nil || v < 5 {
		t.Errorf("retries metric %v %v", v, err)
	}
}

func TestResponseTimeoutIs504(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "users-1")
	t.Cleanup(b.unblock)
	r.register(t, "users", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, ResponseTimeout: 200 * time.Millisecond,
		Routes: []gateway.Route{{Prefix: "/", Service: "users"}}})
	a := get(t, g.url+"/slow")
	if a.status != http.StatusGatewayTimeout || !strings.Contains(a.body, gateway.CodeGatewayTimeout) {
		t.Errorf("slow instance: %d %s, want 504", a.status, a.body)
	}
	if n := b.started.Load(); n != 1 {
		t.Errorf("timed-out GET sent %d times, want once", n)
	}
}
