package httpapi

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rosterhq/roster/api"
)

// BenchmarkForwardedWrites: what the leader spends on a registration that
// reaches it in a forwarded batch (binary, 16 writes) against one that
// reaches it as the client's own request, both run through the handler
// over a real dev store (in-memory Raft) without sockets, with enough in
// flight (8 x GOMAXPROCS groups of 16) that the cores, not the Raft round,
// bound it: ns/op is CPU per registration. The difference is the leader's
// share of forwarding (issue #18):
//
//	go test -run '^$' -bench ForwardedWrites -benchmem ./httpapi
func BenchmarkForwardedWrites(b *testing.B) {
	const batch = 16
	body := []byte(`{"address":"10.1.0.1","port":8080,"tags":["bench"],"ttl":"10m"}`)
	for _, mode := range []string{"direct", "batch"} {
		b.Run(mode, func(b *testing.B) {
			st := openDevStore(b)
			h, err := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), WriteRate: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(h.Close)
			var seq atomic.Int64
			uri := func(n int64) string {
				return fmt.Sprintf("/v1/services/bench-%d/instances/%s-%d", n%100, mode, n)
			}
			one := func(n int64) {
				req := httptest.NewRequest(http.MethodPut, uri(n), bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("register: %d %s", rec.Code, rec.Body)
				}
			}
			group := func(first int64) {
				if mode == "direct" {
					var wg sync.WaitGroup
					for k := range int64(batch) {
						wg.Add(1)
						go func() { defer wg.Done(); one(first + k) }()
					}
					wg.Wait()
					return
				}
				items := make([]fwdItem, batch)
				for k := range items {
					items[k] = fwdItem{Method: http.MethodPut, URI: uri(first + int64(k)), Client: "127.0.0.1",
						Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
				}
				req := httptest.NewRequest(http.MethodPut, ForwardBatchPath, bytes.NewReader(encodeFwdBatch(items)))
				req.RemoteAddr = "127.0.0.1:40000"
				req.Header["Content-Type"] = fwdBinaryCTHdr
				req.Header["Accept"] = fwdBinaryCTHdr
				req.Header[api.HeaderForwarded] = forwardedHdrOnce
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("batch: %d %s", rec.Code, rec.Body)
				}
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for {
					// Each group is batch writes: take batch iterations.
					for k := 0; k < batch; k++ {
						if !pb.Next() {
							return
						}
					}
					group(seq.Add(batch) - batch)
				}
			})
		})
	}
}
