package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// The lookup benchmarks compare the default listing of a 10-instance
// service with the limit: a minimal handler writing the same bytes and the
// same headers (design.md, "Performance targets"). "direct" calls the
// handler with a reused ResponseWriter (the handler's own work only);
// "server" goes through net/http on loopback with keep-alive clients.
//
//	go test -run '^$' -bench 'Lookup|FixedBody' -benchmem ./httpapi/

func lookupFixture(b *testing.B) (*Handler, []byte, uint64) {
	b.Helper()
	st := openDevStore(b)
	for i := range 10 {
		_, _, err := st.Register(context.Background(), registry.Instance{
			Service: "web", ID: fmt.Sprintf("web-%02d", i), Address: fmt.Sprintf("10.0.0.%d", i+1), Port: 8080,
			Tags: []string{"v1", "zone-a"}, Meta: map[string]string{"version": "1.4.2"}, TTL: 10e9,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	h, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	view := st.Catalog().Service("web")
	return h, view.Encode(instanceList{}, registry.FilterHealthy).Bytes(), view.Index
}

// fixedBody is the limit: the same bytes and headers, no lookup.
func fixedBody(body []byte, index uint64) http.Handler {
	clen := []string{strconv.Itoa(len(body))}
	idx := []string{strconv.FormatUint(index, 10)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Content-Type"] = jsonCTHdr
		hdr["Content-Length"] = clen
		hdr[api.HeaderIndex] = idx
		hdr[api.HeaderKnownLeader] = trueHdr
		hdr[api.HeaderLastContact] = zeroHdr
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// discardWriter is a reusable ResponseWriter for direct calls.
type discardWriter struct {
	hdr    http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header { return d.hdr }
func (d *discardWriter) WriteHeader(s int)   { d.status = s }
func (d *discardWriter) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}

func benchDirect(b *testing.B, h http.Handler, wantLen int) {
	req := httptest.NewRequest(http.MethodGet, "/v1/services/web/instances", nil)
	w := &discardWriter{hdr: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.hdr)
		w.n = 0
		h.ServeHTTP(w, req)
	}
	if w.n != wantLen || w.status != http.StatusOK {
		b.Fatalf("answered %d with %d bytes, want 200 with %d", w.status, w.n, wantLen)
	}
}

// serveLoopback serves h through net/http on loopback until the benchmark
// ends, and returns a keep-alive client and the URL of web's listing.
func serveLoopback(b *testing.B, h http.Handler) (*http.Client, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), h)
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	return &http.Client{Transport: tr}, "http://" + ln.Addr().String() + "/v1/services/web/instances"
}

func benchServer(b *testing.B, h http.Handler, wantLen int) {
	client, url := serveLoopback(b, h)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 8192)
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.ReadFull(resp.Body, buf[:wantLen])
			resp.Body.Close()
			if n != wantLen || resp.StatusCode != http.StatusOK {
				b.Errorf("answered %d with %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	h, body, _ := lookupFixture(b)
	b.Run("direct", func(b *testing.B) { benchDirect(b, h, len(body)) })
	b.Run("direct-mux", func(b *testing.B) {
		h.noFastPath = true
		defer func() { h.noFastPath = false }()
		benchDirect(b, h, len(body))
	})
	b.Run("server", func(b *testing.B) { benchServer(b, h, len(body)) })
}

func BenchmarkFixedBody(b *testing.B) {
	_, body, index := lookupFixture(b)
	fixed := fixedBody(body, index)
	b.Run("direct", func(b *testing.B) { benchDirect(b, fixed, len(body)) })
	b.Run("server", func(b *testing.B) { benchServer(b, fixed, len(body)) })
}
