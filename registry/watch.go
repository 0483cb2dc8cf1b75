package registry

import "sync"

// watchers hands out channels closed at the next change of a service or of
// the service list. Channels are made only when someone watches, and a
// change closes only the channel of what changed.
type watchers struct {
	mu   sync.Mutex
	svc  map[string]chan struct{}
	list chan struct{}
}

func (w *watchers) service(name string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.svc[name]
	if !ok {
		if w.svc == nil {
			w.svc = make(map[string]chan struct{})
		}
		ch = make(chan struct{})
		w.svc[name] = ch
	}
	return ch
}

func (w *watchers) services() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.list == nil {
		w.list = make(chan struct{})
	}
	return w.list
}

// fire wakes the watchers of the named services and, if list is set, of
// the service list.
func (w *watchers) fire(names []string, list bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		if ch, ok := w.svc[name]; ok {
			close(ch)
			delete(w.svc, name)
		}
	}
	if list && w.list != nil {
		close(w.list)
		w.list = nil
	}
}

// fireAll wakes every watcher (after a restore).
func (w *watchers) fireAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.svc {
		close(ch)
	}
	w.svc = nil
	if w.list != nil {
		close(w.list)
		w.list = nil
	}
}
