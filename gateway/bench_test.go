package gateway_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/gateway"
)

// BenchmarkProxy measures one request through the gateway to a real
// backend over loopback (the whole path: routing, picking, the proxy, the
// keep-alive pool, metrics). Not a test: the figures that count come from
// scripts/bench-gateway.sh, against a bare ReverseProxy in the same run.
func BenchmarkProxy(b *testing.B) {
	r := startRoster(b)
	be := startBackend(b, "bench-1")
	r.register(b, "bench", be, 1)
	g := startGateway(b, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/", Service: "bench"}}})
	url := g.url + "/x"
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
