package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fleet is the set of watchers and the bookkeeping of one measured change:
// the index every watcher must pass, when each one did, and a channel
// closed by the last to arrive (so the coordinator waits without polling).
type fleet struct {
	c  config
	t0 time.Time // arrival times are monotonic nanoseconds since t0

	ws     []*watch
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	base    atomic.Uint64 // a change counts once a watcher sees an index above it; 0 disarms
	arrived atomic.Int64
	done    atomic.Pointer[chan struct{}]
	ready   atomic.Int64 // watchers holding their first answer
	failed  atomic.Int64
	errMu   sync.Mutex
	err     error // the first watcher error
}

// watch is one watcher: one connection, one goroutine.
type watch struct {
	f    *fleet
	mu   sync.Mutex // guards conn against close racing the dial
	conn net.Conn
	last atomic.Uint64 // the last index received
	at   atomic.Int64  // when an index above base arrived (ns since t0); 0 none
}

func newFleet(c config) *fleet {
	f := &fleet{c: c, t0: time.Now(), ws: make([]*watch, c.watchers)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for i := range f.ws {
		f.ws[i] = &watch{f: f}
	}
	return f
}

// connect starts every watcher and returns once each holds an answer at
// index at least from.
func (f *fleet) connect(ctx context.Context, from uint64) error {
	sem := make(chan struct{}, f.c.parallel)
	for _, w := range f.ws {
		f.wg.Go(func() {
			if err := w.run(sem); err != nil && f.ctx.Err() == nil {
				f.fail(err)
			}
		})
	}
	deadline := time.Now().Add(f.c.timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := f.firstErr(); err != nil {
			return fmt.Errorf("connect: %d watchers failed, first: %w", f.failed.Load(), err)
		}
		if f.ready.Load() == int64(len(f.ws)) {
			for _, w := range f.ws {
				if w.last.Load() < from {
					return fmt.Errorf("connect: a watcher holds index %d, below the service's %d", w.last.Load(), from)
				}
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connect: only %d of %d watchers have an answer after %s", f.ready.Load(), len(f.ws), f.c.timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// result is what one change measured.
type result struct {
	lat      []time.Duration // per watcher, from the write's acknowledgement (0 if it came first)
	fromSend []time.Duration // per watcher, from sending the write
	early    int             // watchers that had the change before the acknowledgement reached the tool
	write    time.Duration   // the write's round trip
}

// change makes one change and waits until every watcher has it.
func (f *fleet) change(ctx context.Context, wr *writer) (result, error) {
	done := make(chan struct{})
	f.done.Store(&done)
	f.arrived.Store(0)
	for _, w := range f.ws {
		w.at.Store(0)
	}
	from := wr.index()
	f.base.Store(from)
	defer f.base.Store(0)
	sent := int64(time.Since(f.t0))
	index, err := wr.change(ctx)
	ack := int64(time.Since(f.t0))
	if err != nil {
		return result{}, err
	}
	if index <= from {
		return result{}, fmt.Errorf("write answered index %d, not above %d: the change did not move the service", index, from)
	}
	timer := time.NewTimer(f.c.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return result{}, fmt.Errorf("only %d of %d watchers got index %d within %s (%d failed)",
			f.arrived.Load(), len(f.ws), index, f.c.timeout, f.failed.Load())
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	r := result{
		lat:      make([]time.Duration, len(f.ws)),
		fromSend: make([]time.Duration, len(f.ws)),
		write:    time.Duration(ack - sent),
	}
	for i, w := range f.ws {
		at := w.at.Load()
		r.fromSend[i] = time.Duration(at - sent)
		d := at - ack
		if d < 0 {
			d, r.early = 0, r.early+1
		}
		r.lat[i] = time.Duration(d)
	}
	return r, nil
}

// saw records an index a watcher received.
func (w *watch) saw(index uint64) {
	f := w.f
	if w.last.Swap(index) == 0 {
		f.ready.Add(1)
	}
	if b := f.base.Load(); b != 0 && index > b && w.at.CompareAndSwap(0, max(1, int64(time.Since(f.t0)))) {
		if f.arrived.Add(1) == int64(len(f.ws)) {
			close(*f.done.Load())
		}
	}
}

func (f *fleet) fail(err error) {
	f.failed.Add(1)
	f.errMu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.errMu.Unlock()
}

func (f *fleet) firstErr() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

// close ends every watcher and waits for their goroutines.
func (f *fleet) close() {
	f.cancel()
	for _, w := range f.ws {
		w.mu.Lock()
		if w.conn != nil {
			_ = w.conn.Close()
		}
		w.mu.Unlock()
	}
	f.wg.Wait()
}

// run dials (at most cap(sem) at a time, until the first answer) and
// follows the service until the connection ends.
func (w *watch) run(sem chan struct{}) error {
	f := w.f
	select {
	case sem <- struct{}{}:
	case <-f.ctx.Done():
		return nil
	}
	held := true
	release := func() {
		if held {
			held = false
			<-sem
		}
	}
	defer release()
	var d net.Dialer
	conn, err := d.DialContext(f.ctx, "tcp", f.c.addr)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.conn = conn
	w.mu.Unlock()
	if f.ctx.Err() != nil {
		_ = conn.Close()
		return nil
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	c := &client{w: w, conn: conn, raw: raw, buf: make([]byte, 16<<10),
		path: "/v1/services/" + f.c.service + "/instances", release: release}
	if f.c.mode == "sse" {
		return c.followSSE()
	}
	return c.followBlocking()
}

// client is one watcher's connection. Its read buffer is big enough that
// one read takes a whole event or answer: the tool shares the CPU with the
// server, so it reads as little as it can.
type client struct {
	w       *watch
	conn    net.Conn
	raw     syscall.RawConn
	buf     []byte
	path    string
	release func() // frees the dial slot after the first answer
}

// followSSE reads one event stream, noting each event's id (the index).
func (c *client) followSSE() error {
	req := "GET " + c.path + " HTTP/1.1\r\nHost: " + c.w.f.c.addr + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	var hr headReader
	var p *eventParser
	return readLoop(c.raw, c.buf, func(b []byte) error {
		if p == nil {
			h, body, done, err := hr.add(b)
			if !done {
				return err
			}
			if h.status != http.StatusOK {
				return fmt.Errorf("event stream answered %d", h.status)
			}
			p = &eventParser{chunked: h.chunked, onID: func(index uint64) {
				c.w.saw(index)
				c.release()
			}}
			b = body
		}
		if err := p.feed(b); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		return nil
	})
}

// followBlocking runs blocking queries back to back on one connection,
// each asking for an index above the last answer's.
func (c *client) followBlocking() error {
	prefix := []byte("GET " + c.path + "?index=")
	suffix := []byte("&wait=5m HTTP/1.1\r\nHost: " + c.w.f.c.addr + "\r\n\r\n")
	req := make([]byte, 0, len(prefix)+len(suffix)+20)
	ask := func(index uint64) error {
		req = append(strconv.AppendUint(append(req[:0], prefix...), index, 10), suffix...)
		_, err := c.conn.Write(req)
		return err
	}
	if err := ask(0); err != nil {
		return err
	}
	var hr headReader
	var h head
	inBody := false
	var left int64
	// One answer is in flight at a time, so a piece holds part of one
	// answer and nothing after it.
	return readLoop(c.raw, c.buf, func(b []byte) error {
		if !inBody {
			var done bool
			var err error
			h, b, done, err = hr.add(b)
			if !done {
				return err
			}
			if h.status != http.StatusOK {
				return fmt.Errorf("blocking query answered %d", h.status)
			}
			if h.length < 0 || h.index == 0 {
				return errors.New("blocking query answer without Content-Length or X-Roster-Index")
			}
			inBody, left = true, h.length
		}
		if int64(len(b)) > left {
			return errors.New("bytes after a blocking query's answer")
		}
		if left -= int64(len(b)); left > 0 {
			return nil
		}
		inBody = false
		c.w.saw(h.index)
		c.release()
		if h.close {
			return errors.New("server closed the connection")
		}
		return ask(h.index)
	})
}
