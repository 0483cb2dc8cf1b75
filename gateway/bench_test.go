package gateway_test

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
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

// cannedTransport answers every request at once, so that a benchmark
// measures the proxy's own work without a network.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("hello")), ContentLength: 5, Request: r}, nil
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func serveCanned(b *testing.B, h http.Handler) {
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/x", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

// testBufferPool gives the bare proxy the gateway's copy-buffer pool, so
// the comparison leaves out the 32 KiB a bare ReverseProxy allocates per
// request.
type testBufferPool struct{ p sync.Pool }

func (bp *testBufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *testBufferPool) Put(b []byte) { bp.p.Put(&b) }

// BenchmarkOverhead compares the gateway's work per request (routing,
// request id, picking, accounting) with a bare httputil.ReverseProxy's,
// both over a transport that answers at once: the difference is what the
// gateway adds to every request.
func BenchmarkOverhead(b *testing.B) {
	b.Run("bare-reverse-proxy", func(b *testing.B) {
		u, _ := url.Parse("http://127.0.0.1:1")
		p := httputil.NewSingleHostReverseProxy(u)
		p.Transport = cannedTransport{}
		p.BufferPool = &testBufferPool{p: sync.Pool{New: func() any { x := make([]byte, 32<<10); return &x }}}
		serveCanned(b, p)
	})
	b.Run("gateway", func(b *testing.B) {
		r := startRoster(b)
		be := startBackend(b, "bench-1")
		r.register(b, "bench", be, 1)
		g := startGateway(b, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, Transport: cannedTransport{},
			Routes: []gateway.Route{{Prefix: "/", Service: "bench"}}})
		serveCanned(b, g.Handler())
	})
}
