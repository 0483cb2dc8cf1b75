// Command proxybase is the baseline of the gateway benchmark
// (scripts/bench-gateway.sh): -mode backend answers every request with a
// fixed body; -mode proxy is a bare httputil.ReverseProxy to one target,
// with the same keep-alive pool size and copy-buffer pool as the gateway,
// doing no routing, balancing or accounting. The gateway's throughput is reported
// as a ratio of the bare proxy's, measured in the same run.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// bufferPool recycles ReverseProxy's 32 KiB copy buffers, as the gateway
// does: without it each request allocates one.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

func main() {
	mode := flag.String("mode", "backend", "backend or proxy")
	addr := flag.String("addr", "127.0.0.1:18700", "listen address")
	target := flag.String("target", "127.0.0.1:18701", "proxy: the backend's address")
	size := flag.Int("size", 256, "backend: body size in bytes")
	idle := flag.Int("idle", 64, "proxy: idle keep-alive connections to the backend")
	flag.Parse()

	var h http.Handler
	switch *mode {
	case "backend":
		body := bytes.Repeat([]byte("x"), *size)
		length := strconv.Itoa(len(body))
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", length)
			_, _ = w.Write(body)
		})
	case "proxy":
		u, err := url.Parse("http://" + *target)
		if err != nil {
			log.Fatal(err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = *idle
		tr.DisableCompression = true
		p := httputil.NewSingleHostReverseProxy(u)
		p.Transport = tr
		p.BufferPool = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
		h = p
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("ready %s on %s", *mode, *addr)
	log.Fatal(srv.ListenAndServe())
}
