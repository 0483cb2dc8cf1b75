package client

import (
	"context"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Status and Tag filter the list as in QueryOptions (default: passing
	// and warning).
	Status string
	Tag    string
	// Wait is how long each blocking query may wait. Default 60s.
	Wait time.Duration
	// MaxBackoff caps the delay between tries while every server fails.
	// Default 10s.
	MaxBackoff time.Duration
}

// Watcher follows one service: it delivers the current instance list at
// once and then every change, using blocking queries. It survives errors and
// server restarts by retrying with backoff across servers, resumes from the
// last index it saw, and only ever delivers lists that a server answered:
// an outage never turns into an empty list. Stop it (or cancel its context)
// when done.
type Watcher struct {
	c       *Client
	service string
	opts    WatchOptions

	updates chan *api.InstanceList
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	last    *api.InstanceList
	lastErr error
	ready   chan struct{} // closed on the first good list
}

// Watch starts following a service until ctx ends or Stop is called. opts
// may be nil.
func (c *Client) Watch(ctx context.Context, service string, opts *WatchOptions) *Watcher {
	var o WatchOptions
	if opts != nil {
		o = *opts
	}
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		c:       c,
		service: service,
		opts:    o,
		updates: make(chan *api.InstanceList),
		cancel:  cancel,
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
	}
	go w.run(ctx)
	return w
}

// Updates delivers the first list and then each changed list, in index
// order. It is closed when the watcher stops. A consumer that reads slowly
// receives the latest list when it reads again; it never misses the final
// state.
func (w *Watcher) Updates() <-chan *api.InstanceList { return w.updates }

// Last returns the last list a server answered, and false before the first.
// It keeps returning that list while every server is unreachable.
func (w *Watcher) Last() (*api.InstanceList, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.last != nil
}

// Err returns the error of the last failed query, nil once a query
// succeeded again.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Ready is closed once the first list arrived.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Stop ends the watch and waits for its goroutine.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.updates)

	var index uint64 // of the last list delivered, and the next query's
	delivered := false
	backwards := 0                // consecutive answers with a lower index
	var pending *api.InstanceList // a list not yet taken by the consumer
	results := make(chan queryResult, 1)
	inflight := false
	failures := 0
	var retry <-chan time.Time

	for {
		if !inflight && retry == nil {
			inflight = true
			go w.query(ctx, index, results)
		}
		var out chan *api.InstanceList
		if pending != nil {
			out = w.updates
		}
		select {
		case <-ctx.Done():
			if inflight {
				<-results
			}
			return
		case out <- pending:
			pending = nil
		case <-retry:
			retry = nil
		case res := <-results:
			inflight = false
			if res.err != nil {
				if ctx.Err() != nil {
					continue
				}
				w.setErr(res.err)
				failures++
				d := backoffDelay(250*time.Millisecond, w.opts.MaxBackoff, failures-1)
				w.c.log.Warn("roster client watch failed; keeping the last list", "service", w.service, "retry_in", d, "err", res.err)
				retry = time.After(d)
				continue
			}
			failures = 0
			list := res.list
			if list.Index >= index {
				backwards = 0
			}
			switch {
			case !delivered || list.Index > index:
				// The first answer, or a change.
			case list.Index < index:
				// The index went backwards. A lagging follower we failed
				// over to catches up within moments, and one cut off from
				// the leader is stale: ask again rather than step back in
				// time. If it persists on a server that knows a leader,
				// the cluster was wiped or replaced: start over from what
				// it says.
				backwards++
				if backwards < backwardsTolerance || !res.knownLeader {
					retry = time.After(backoffDelay(250*time.Millisecond, w.opts.MaxBackoff, backwards-1))
					continue
				}
				w.c.log.Info("roster client watch index went backwards; resetting", "service", w.service, "from", index, "to", list.Index)
			default:
				// No change (a blocking query timed out). A server that
				// answers at once with the same index (index 0 is not a
				// blocking query) must not make us spin.
				if res.took < 50*time.Millisecond {
					retry = time.After(backoffDelay(250*time.Millisecond, w.opts.MaxBackoff, 0))
				}
				w.setLast(list)
				continue
			}
			delivered = true
			index = list.Index
			w.setLast(list)
			pending = list
		}
	}
}

// backwardsTolerance is how many consecutive answers with a lower index a
// watcher takes as the new truth (a wiped cluster) rather than a lagging
// server.
const backwardsTolerance = 3

type queryResult struct {
	list        *api.InstanceList
	knownLeader bool
	err         error
	took        time.Duration
}

// firstQueryTimeout bounds a watch's first, non-blocking read.
const firstQueryTimeout = 10 * time.Second

func (w *Watcher) query(ctx context.Context, index uint64, out chan<- queryResult) {
	start := time.Now()
	opts := &QueryOptions{Status: w.opts.Status, Tag: w.opts.Tag}
	// A plain first read answers at once: a server that takes the
	// connection and never answers is gone after firstQueryTimeout. A
	// blocking query may take its wait plus the server's jitter (up to
	// wait/16); past that, the server or the path to it is gone.
	limit := firstQueryTimeout
	if index > 0 {
		opts.Index, opts.Wait = index, w.opts.Wait
		limit = w.opts.Wait + w.opts.Wait/8 + 5*time.Second
	}
	qctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	list, known, err := w.c.instances(qctx, w.service, opts)
	out <- queryResult{list: list, knownLeader: known, err: err, took: time.Since(start)}
}

func (w *Watcher) setLast(l *api.InstanceList) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last, w.lastErr = l, nil
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
}

func (w *Watcher) setErr(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}
