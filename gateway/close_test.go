package gateway_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rosterhq/roster/gateway"
)

func TestCloseStopsEveryGoroutine(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "users-1")
	r.register(t, "users", b, 1, "gateway.route=/tagged")
	hc.CloseIdleConnections()
	ignore := goleak.IgnoreCurrent()

	g, err := gateway.New(gateway.Config{Addrs: []string{r.addr()}, Routes: []gateway.Route{{Prefix: "/users", Service: "users"}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/users/1", "/tagged/1"} {
		if a := get(t, "http://"+ln.Addr().String()+path); a.status != http.StatusOK {
			t.Fatalf("%s: %d", path, a.status)
		}
	}
	_ = srv.Shutdown(ctx)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	hc.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}
