package registry

import (
	"sync"
	"sync/atomic"
)

// watchers hands out channels closed at the next change of a service or of
// the service list. Taking a channel takes no lock (a sync.Map read and an
// atomic load): when a change wakes thousands of watchers at once, each one
// takes its next channel without queueing behind the others. A channel is
// made only when someone watches, and a change closes only the channel of
// what changed.
//
// The notifier of every service ever watched is kept, like the catalog
// keeps the index of every service ever seen: a notifier holds no channel
// between a change and the next watch, so it costs a map entry.
type watchers struct {
	svc  sync.Map // service name -> *notifier
	list notifier
	any  notifier // every change of any service
}

// notifier is one closable-once channel, replaced after every close. The
// channel is made by the first watch after a fire, so a change that nobody
// watches allocates nothing.
type notifier struct {
	cur atomic.Pointer[wakeup]
}

type wakeup struct{ ch chan struct{} }

// wait returns the channel the next fire closes.
func (n *notifier) wait() <-chan struct{} {
	for {
		if w := n.cur.Load(); w != nil {
			return w.ch
		}
		w := &wakeup{ch: make(chan struct{})}
		if n.cur.CompareAndSwap(nil, w) {
			return w.ch
		}
	}
}

// fire closes the current channel, if anyone took it. A watcher that loads
// the notifier after the swap makes a new channel and then reads state that
// the caller published before calling fire, so no change is missed.
func (n *notifier) fire() {
	if w := n.cur.Swap(nil); w != nil {
		close(w.ch)
	}
}

func (w *watchers) service(name string) <-chan struct{} {
	n, ok := w.svc.Load(name)
	if !ok {
		n, _ = w.svc.LoadOrStore(name, new(notifier))
	}
	return n.(*notifier).wait()
}

func (w *watchers) services() <-chan struct{} {
	return w.list.wait()
}

func (w *watchers) anyService() <-chan struct{} {
	return w.any.wait()
}

// fire wakes the watchers of the named services and, if list is set, of
// the service list. The caller publishes the new views first.
func (w *watchers) fire(names []string, list bool) {
	for _, name := range names {
		if n, ok := w.svc.Load(name); ok {
			n.(*notifier).fire()
		}
	}
	if list {
		w.list.fire()
	}
	if len(names) > 0 {
		w.any.fire()
	}
}

// fireAll wakes every watcher (after a restore).
func (w *watchers) fireAll() {
	w.svc.Range(func(_, n any) bool {
		n.(*notifier).fire()
		return true
	})
	w.list.fire()
	w.any.fire()
}
