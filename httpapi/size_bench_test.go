package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// BenchmarkServiceSize measures the default listing of one service of 1k,
// 30k or 100k instances through the handler: "steady" reads an unchanged
// service (the cached answer), "first-after-change" changes one instance
// and then reads (the answer rebuilt once), "change" is the write alone.
//
//	go test -run '^$' -bench ServiceSize -benchmem ./httpapi
func BenchmarkServiceSize(b *testing.B) {
	for _, n := range []int{1_000, 30_000, 100_000} {
		fc := newFakeCluster()
		for start := 0; start < n; start += 1000 {
			cmds := make([][]byte, 0, 1000)
			for i := start; i < min(start+1000, n); i++ {
				cmds = append(cmds, registry.EncodeRegister(sizeInstance(i, 8080), 1))
			}
			if res := fc.apply(registry.EncodeBatch(cmds)); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		h, err := New(Config{Store: newLeaderStore(fc), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/services/web/instances", nil)
		w := &discardWriter{hdr: make(http.Header)}
		serve := func(b *testing.B) {
			clear(w.hdr)
			w.n = 0
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK || w.n < n*100 {
				b.Fatalf("answered %d with %d bytes", w.status, w.n)
			}
		}
		// Two rounds over k instances spread over the service, with ports
		// 8000 and 8001, so that every one is a change.
		k := min(n, 1024)
		changes := make([][]byte, 2*k)
		for i := range changes {
			changes[i] = registry.EncodeRegister(sizeInstance((i%k)*(n/k), 8000+i/k), 1)
		}
		b.Run(fmt.Sprintf("steady/n=%d", n), func(b *testing.B) {
			serve(b) // the answer built once, outside the measure
			b.ReportAllocs()
			for b.Loop() {
				serve(b)
			}
		})
		b.Run(fmt.Sprintf("steady-loopback/n=%d", n), func(b *testing.B) {
			benchLoopback(b, h, n)
		})
		i := 0 // the next change, across the sub-benchmarks: each one changes something
		b.Run(fmt.Sprintf("first-after-change/n=%d", n), func(b *testing.B) {
			serve(b) // every chunk encoded once, outside the measure
			b.ReportAllocs()
			for b.Loop() {
				fc.apply(changes[i%len(changes)])
				serve(b)
				i++
			}
		})
		b.Run(fmt.Sprintf("change/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if res := fc.apply(changes[i%len(changes)]); len(res.Changed) != 1 {
					b.Fatalf("change %d changed %d instances", i, len(res.Changed))
				}
				i++
			}
		})
		h.Close()
	}
}

// benchLoopback reads the whole listing through net/http on loopback, one
// request at a time: the cost of writing a large answer to a socket.
func benchLoopback(b *testing.B, h http.Handler, n int) {
	client, url := serveLoopback(b, h)
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || got < int64(n*100) {
			b.Fatalf("answered %d with %d bytes", resp.StatusCode, got)
		}
	}
}

func sizeInstance(i, port int) registry.Instance {
	return registry.Instance{
		Service: "web", ID: fmt.Sprintf("web-%06d", i), Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		Port: port, Tags: []string{"v1", "http"}, Meta: map[string]string{"zone": "eu-1a"}, TTL: 10 * time.Second,
	}
}
