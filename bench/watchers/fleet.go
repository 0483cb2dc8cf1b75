package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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

// change makes one change and waits until every watcher has it. It returns
// each watcher's latency from the write's acknowledgement, and how many
// watchers had the change before the acknowledgement reached the tool
// (counted as 0).
func (f *fleet) change(ctx context.Context, wr *writer) (lat []time.Duration, early int, err error) {
	done := make(chan struct{})
	f.done.Store(&done)
	f.arrived.Store(0)
	for _, w := range f.ws {
		w.at.Store(0)
	}
	from := wr.index()
	f.base.Store(from)
	defer f.base.Store(0)
	index, err := wr.change(ctx)
	ack := int64(time.Since(f.t0))
	if err != nil {
		return nil, 0, err
	}
	if index <= from {
		return nil, 0, fmt.Errorf("write answered index %d, not above %d: the change did not move the service", index, from)
	}
	timer := time.NewTimer(f.c.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, 0, fmt.Errorf("only %d of %d watchers got index %d within %s (%d failed)",
			f.arrived.Load(), len(f.ws), index, f.c.timeout, f.failed.Load())
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	lat = make([]time.Duration, len(f.ws))
	for i, w := range f.ws {
		d := w.at.Load() - ack
		if d < 0 {
			d, early = 0, early+1
		}
		lat[i] = time.Duration(d)
	}
	return lat, early, nil
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
	br := bufio.NewReaderSize(conn, 1024)
	path := "/v1/services/" + f.c.service + "/instances"
	if f.c.mode == "sse" {
		return w.followSSE(conn, br, path, release)
	}
	return w.followBlocking(conn, br, path, release)
}

// followSSE reads one event stream, noting each event's id (the index).
func (w *watch) followSSE(conn net.Conn, br *bufio.Reader, path string, release func()) error {
	req := "GET " + path + " HTTP/1.1\r\nHost: " + w.f.c.addr + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("event stream answered %s", resp.Status)
	}
	lines := bufio.NewReaderSize(resp.Body, 512)
	lineStart := true
	for {
		line, err := lines.ReadSlice('\n')
		if lineStart {
			if rest, ok := bytes.CutPrefix(line, []byte("id: ")); ok && err == nil {
				index, perr := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
				if perr != nil {
					return fmt.Errorf("event id %q: %w", rest, perr)
				}
				w.saw(index)
				release()
			}
		}
		switch err {
		case nil:
			lineStart = true
		case bufio.ErrBufferFull:
			lineStart = false // the rest of a long data: line follows
		default:
			return fmt.Errorf("event stream: %w", err)
		}
	}
}

// followBlocking runs blocking queries back to back on one connection,
// each asking for an index above the last answer's.
func (w *watch) followBlocking(conn net.Conn, br *bufio.Reader, path string, release func()) error {
	prefix := []byte("GET " + path + "?index=")
	suffix := []byte("&wait=5m HTTP/1.1\r\nHost: " + w.f.c.addr + "\r\n\r\n")
	req := make([]byte, 0, len(prefix)+len(suffix)+20)
	var index uint64
	for {
		req = append(strconv.AppendUint(append(req[:0], prefix...), index, 10), suffix...)
		if _, err := conn.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("blocking query answered %s", resp.Status)
		}
		n, err := strconv.ParseUint(resp.Header.Get("X-Roster-Index"), 10, 64)
		if err != nil {
			return fmt.Errorf("blocking query answer without a valid X-Roster-Index: %w", err)
		}
		w.saw(n)
		release()
		if resp.Close {
			return fmt.Errorf("server closed the connection")
		}
		index = n
	}
}
