package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/rosterhq/roster/internal/listen"
)

// Sampling of the block and mutex profiles while --pprof-addr is set:
// every blocking event of 10 µs or more (shorter ones in proportion) and one
// contended lock in 10. Without the flag both stay off, as Go's default.
const (
	pprofBlockRate     = 10_000
	pprofMutexFraction = 10
)

// servePprof serves Go's profiles (net/http/pprof: /debug/pprof/profile,
// block, mutex, heap, goroutine, trace) on their own listener at addr, never
// on the API's address, and turns on block and mutex sampling so that those
// profiles have data. It is opt-in (--pprof-addr) because the sampling costs
// a few percent and the profiles show internals. stop closes the listener.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listen.Error("pprof", addr, err)
	}
	runtime.SetBlockProfileRate(pprofBlockRate)
	runtime.SetMutexProfileFraction(pprofMutexFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving profiles", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() {
		srv.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}, nil
}
