package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// BenchmarkWatchFanout measures how long a change takes to reach every
// watcher of one service (issue 4): each iteration registers an instance
// and waits until every watcher holds the new index; latencies run from the
// registration's acknowledgement to each watcher's receipt. Watchers and
// server share this process (two descriptors per watcher; the machine's
// limit is 20,000), so the count defaults to 4,000 and is set with
// ROSTER_BENCH_WATCHERS. mem/watcher includes the client side.
//
//	ROSTER_BENCH_WATCHERS=9000 go test -run '^$' -bench WatchFanout -benchtime 20x ./httpapi/
func BenchmarkWatchFanout(b *testing.B) {
	watchers := 4000
	if s := os.Getenv("ROSTER_BENCH_WATCHERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("ROSTER_BENCH_WATCHERS=%q: %v", s, err)
		}
		watchers = n
	}
	b.Run("sse", func(b *testing.B) { benchFanout(b, watchers, true) })
	b.Run("blocking", func(b *testing.B) { benchFanout(b, watchers, false) })
}

func benchFanout(b *testing.B, watchers int, sse bool) {
	st := openDevStore(b)
	if _, _, err := st.Register(context.Background(), registry.Instance{Service: "web", ID: "seed", Address: "10.0.0.1", Port: 80}); err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxWatchers: watchers + 10})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tr := &http.Transport{MaxIdleConnsPerHost: watchers, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		h.Close()
		wg.Wait()
		srv.Close()
		tr.CloseIdleConnections()
	}()

	var target atomic.Uint64 // the index every watcher must reach
	var reached atomic.Int64
	arrivals := make([]atomic.Int64, watchers) // unix nanos of receipt
	seen := func(i int, index uint64) {
		if t := target.Load(); t != 0 && index >= t && arrivals[i].Load() == 0 {
			arrivals[i].Store(time.Now().UnixNano())
			reached.Add(1)
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	base := st.Catalog().Service("web").Index
	for i := range watchers {
		wg.Go(func() {
			if sse {
				watchSSE(ctx, client, srv.URL, func(index uint64) { seen(i, index) })
			} else {
				watchBlocking(ctx, client, srv.URL, base, func(index uint64) { seen(i, index) })
			}
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for h.watchers.Load() < int64(watchers) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d watchers connected", h.watchers.Load(), watchers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perWatcher := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / float64(watchers)

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		reached.Store(0)
		for j := range arrivals {
			arrivals[j].Store(0)
		}
		target.Store(st.Catalog().Index() + 1)
		_, index, err := st.Register(ctx, registry.Instance{Service: "web", ID: fmt.Sprintf("i%d", i), Address: "10.0.0.2", Port: 80})
		if err != nil {
			b.Fatal(err)
		}
		ack := time.Now().UnixNano()
		if index < target.Load() {
			b.Fatalf("registered at %d, below the catalog's next index %d", index, target.Load())
		}
		deadline := time.Now().Add(time.Minute)
		for reached.Load() < int64(watchers) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d watchers got index %d", reached.Load(), watchers, index)
			}
			time.Sleep(200 * time.Microsecond)
		}
		for j := range arrivals {
			lat = append(lat, time.Duration(max(0, arrivals[j].Load()-ack)))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(perWatcher, "mem-B/watcher")
	b.ReportMetric(float64(watchers), "watchers")
}

// watchSSE follows one stream, reporting each event's id.
func watchSSE(ctx context.Context, client *http.Client, base string, seen func(uint64)) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/services/web/instances", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 512)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
		if s, ok := strings.CutPrefix(string(line), "id: "); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err == nil {
				seen(n)
			}
		}
	}
}

// watchBlocking runs blocking queries back to back, reporting each answer's
// index.
func watchBlocking(ctx context.Context, client *http.Client, base string, index uint64, seen func(uint64)) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("%s/v1/services/web/instances?index=%d&wait=5m", base, index), nil)
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n, err := strconv.ParseUint(resp.Header.Get(api.HeaderIndex), 10, 64)
		if err != nil || resp.StatusCode != http.StatusOK {
			return
		}
		seen(n)
		index = n
	}
}
