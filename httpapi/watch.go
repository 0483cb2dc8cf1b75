package httpapi

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// acquireWatch takes one of MaxWatchers slots for a blocking query or SSE
// stream and registers it with Close. It fails with 429 past the limit and
// 503 once the handler is closing.
func (h *Handler) acquireWatch() (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	if h.watchers.Add(1) > int64(h.cfg.MaxWatchers) {
		h.watchers.Add(-1)
		h.metrics.watchRejected.Inc()
		return nil, errTooManyWatchers
	}
	h.streams.Add(1)
	return func() {
		h.watchers.Add(-1)
		h.streams.Done()
	}, nil
}

// waitFor runs a blocking query: it takes the watch channel before reading
// (so no change between the two is missed), and returns the read as soon as
// it is done, or when the wait passes, the request ends or the handler
// closes (then with the current state).
func waitFor[V any](h *Handler, r *http.Request, wait time.Duration, watch func() <-chan struct{}, read func() (V, bool)) V {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		ch := watch()
		v, done := read()
		if done {
			return v
		}
		select {
		case <-ch:
		case <-timer.C:
			v, _ = read()
			return v
		case <-r.Context().Done():
			return v
		case <-h.closing:
			return v
		}
	}
}

// memberWatch gives blocking queries on /v1/cluster/members something to
// wait on: the store has no watch for gossip membership, so one goroutine
// polls Members() every MembersPoll while someone is waiting and closes a
// channel when the list changes. A member list's index is a hash of its
// encoding (an opaque version; see docs/http-api.md).
type memberWatch struct {
	h    *Handler
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	waiters int
	version uint64
	changed chan struct{}
}

func newMemberWatch(h *Handler) *memberWatch {
	m := &memberWatch{h: h, stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	go m.run()
	return m
}

func (m *memberWatch) run() {
	defer close(m.done)
	t := time.NewTicker(m.h.cfg.MembersPoll)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		waiting := m.waiters > 0
		m.mu.Unlock()
		if !waiting {
			continue
		}
		_, version := m.h.readMembers()
		m.mu.Lock()
		if version != m.version {
			m.version = version
			close(m.changed)
			m.changed = make(chan struct{})
		}
		m.mu.Unlock()
	}
}

// watch returns the channel closed at the next membership change seen.
func (m *memberWatch) watch() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *memberWatch) addWaiter(n int) {
	m.mu.Lock()
	m.waiters += n
	m.mu.Unlock()
}

func (m *memberWatch) close() {
	close(m.stop)
	<-m.done
}

// readMembers returns the member list sorted by name, encoded, and its
// version: a 63-bit FNV-1a hash of the encoding, never 0 (0 means "do not
// block").
func (h *Handler) readMembers() ([]byte, uint64) {
	members := append([]api.Member(nil), h.store.Members()...)
	sort.Slice(members, func(i, j int) bool {
		if members[i].Name != members[j].Name {
			return members[i].Name < members[j].Name
		}
		return members[i].ID < members[j].ID
	})
	if members == nil {
		members = []api.Member{}
	}
	body, err := json.Marshal(api.MemberList{Members: members})
	if err != nil {
		// api.Member holds strings only: encoding cannot fail.
		panic("encode member list: " + err.Error())
	}
	f := fnv.New64a()
	_, _ = f.Write(body)
	version := f.Sum64() &^ (1 << 63)
	if version == 0 {
		version = 1
	}
	return body, version
}
