package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/raftstore"

	"github.com/rosterhq/roster/api"
)

func TestBlockingQueryWakesOnItsServiceOnly(t *testing.T) {
	n := startDev(t, nil)
	first := n.register("web", "w1", webBody)

	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d&wait=30s", first.Index))
	waitWatchers(t, n.h, 1)

	// A change to another service does not answer the watch of web.
	n.register("db", "d1", webBody)
	select {
	case a := <-ch:
		t.Fatalf("web's blocking query answered on a change to db: %s", a)
	case <-time.After(100 * time.Millisecond):
	}

	second := n.register("web", "w2", webBody)
	a := await(t, ch, 5*time.Second)
	var list api.InstanceList
	decode(t, a.body, &list)
	if list.Index != second.Index || headerIndex(t, a) != second.Index || ids(list) != "w1,w2" {
		t.Fatalf("woken query answered %+v, want index %d with w1,w2", list, second.Index)
	}
	waitWatchers(t, n.h, 0)
}

func TestBlockingQueryFiltersApply(t *testing.T) {
	n := startDev(t, nil)
	first := n.register("web", "w1", webBody)
	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d&wait=30s&tag=canary&status=any", first.Index))
	waitWatchers(t, n.h, 1)
	n.register("web", "w2", `{"address":"10.0.0.2","port":80,"tags":["canary"],"status":"critical"}`)
	a := await(t, ch, 5*time.Second)
	var list api.InstanceList
	decode(t, a.body, &list)
	if ids(list) != "w2" {
		t.Fatalf("filtered blocking query answered %s", a)
	}
}

func TestBlockingQueryTimesOutWithTheSameIndex(t *testing.T) {
	n := startDev(t, nil)
	reg := n.register("web", "w1", webBody)
	start := time.Now()
	list, a := n.list(fmt.Sprintf("/v1/services/web/instances?index=%d&wait=200ms", reg.Index))
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Fatalf("answered after %v, before the wait passed", elapsed)
	}
	if list.Index != reg.Index || headerIndex(t, a) != reg.Index {
		t.Fatalf("timed-out query answered index %d, want %d", list.Index, reg.Index)
	}
}

func TestBlockingQueryWithIndexAheadAnswersAtOnce(t *testing.T) {
	n := startDev(t, nil)
	reg := n.register("web", "w1", webBody)
	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d&wait=1m", reg.Index+1000))
	a := await(t, ch, 5*time.Second)
	if a.status != http.StatusOK || headerIndex(t, a) != reg.Index {
		t.Fatalf("index-ahead query answered %s", a)
	}
	ch = n.async(http.MethodGet, fmt.Sprintf("/v1/services?index=%d&wait=1m", reg.Index+1000))
	if a := await(t, ch, 5*time.Second); a.status != http.StatusOK {
		t.Fatalf("index-ahead service list answered %s", a)
	}
}

func TestBlockingServiceList(t *testing.T) {
	n := startDev(t, nil)
	reg := n.register("web", "w1", webBody)
	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/services?index=%d&wait=30s", reg.Index))
	waitWatchers(t, n.h, 1)
	db := n.register("db", "d1", webBody)
	a := await(t, ch, 5*time.Second)
	var sl api.ServiceList
	decode(t, a.body, &sl)
	if sl.Index != db.Index || len(sl.Services) != 2 {
		t.Fatalf("service list watch answered %s, want index %d with 2 services", a, db.Index)
	}
}

// A blocking members query answers when a real server joins.
func TestBlockingMembers(t *testing.T) {
	poll := func(c *Config) { c.MembersPoll = 5 * time.Millisecond }
	n := startStoreNode(t, raftstore.Config{NodeName: "s1", DataDir: t.TempDir()}, poll) // bootstraps alone
	waitArmedLeader(t, n.dev)
	a := n.must(http.StatusOK, http.MethodGet, "/v1/cluster/members", "")
	version := headerIndex(t, a)

	// Unchanged: the same version after the wait.
	a = n.must(http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/cluster/members?index=%d&wait=50ms", version), "")
	if headerIndex(t, a) != version {
		t.Fatalf("unchanged members answered version %d, want %d", headerIndex(t, a), version)
	}

	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/cluster/members?index=%d&wait=30s", version))
	waitWatchers(t, n.h, 1)
	startStoreNode(t, raftstore.Config{NodeName: "s2", DataDir: t.TempDir(), Join: []string{n.dev.GossipAddr()}}, nil)
	a = await(t, ch, 20*time.Second)
	var ml api.MemberList
	decode(t, a.body, &ml)
	if len(ml.Members) != 2 || ml.Members[1].Name != "s2" || headerIndex(t, a) == version {
		t.Fatalf("members watch answered %s (version %d)", a, headerIndex(t, a))
	}
}

func TestCloseAnswersBlockingQueries(t *testing.T) {
	n := startDev(t, nil)
	reg := n.register("web", "w1", webBody)
	ch := n.async(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d&wait=5m", reg.Index))
	waitWatchers(t, n.h, 1)
	n.h.Close()
	a := await(t, ch, 5*time.Second)
	if a.status != http.StatusOK || headerIndex(t, a) != reg.Index {
		t.Fatalf("blocking query at close answered %s", a)
	}
	// After Close, new watches are refused.
	a = n.do(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d", reg.Index), "")
	checkError(t, a, http.StatusServiceUnavailable, "unavailable", "", true)
}

func TestWatcherLimit(t *testing.T) {
	n := startDev(t, func(c *Config) { c.MaxWatchers = 2 })
	reg := n.register("web", "w1", webBody)
	s1 := openSSE(t, n, "/v1/services/web/instances")
	s1.next(t, "instances")
	blocking := n.async(http.MethodGet, fmt.Sprintf("/v1/services/web/instances?index=%d&wait=30s", reg.Index))
	waitWatchers(t, n.h, 2)

	for _, path := range []string{
		fmt.Sprintf("/v1/services/web/instances?index=%d&wait=30s", reg.Index),
		fmt.Sprintf("/v1/services?index=%d&wait=30s", reg.Index),
	} {
		checkError(t, n.do(http.MethodGet, path, ""), http.StatusTooManyRequests, "too_many", "", true)
	}
	checkError(t, n.do(http.MethodGet, "/v1/services/web/instances", "", "Accept", "text/event-stream"),
		http.StatusTooManyRequests, "too_many", "", true)
	// Plain reads are not watches and are not limited.
	n.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "")

	// A slot frees when a watch ends.
	n.register("web", "w2", webBody)
	await(t, blocking, 5*time.Second)
	waitWatchers(t, n.h, 1)
	s2 := openSSE(t, n, "/v1/services/web/instances")
	s2.next(t, "instances")
}

// sseStream reads events from one SSE answer.
type sseStream struct {
	resp   *http.Response
	events chan sseMessage
	cancel context.CancelFunc
	done   chan struct{}
}

// sseMessage is one event, or one comment when comment is set.
type sseMessage struct {
	event, id, data, comment string
}

func openSSE(t *testing.T, n *testNode, path string, hdr ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("open stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp, events: make(chan sseMessage, 4096), cancel: cancel, done: make(chan struct{})}
	go s.read()
	t.Cleanup(func() {
		cancel()
		<-s.done
		resp.Body.Close()
	})
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	defer close(s.events)
	r := bufio.NewReader(s.resp.Body)
	var m sseMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m != (sseMessage{}) {
				s.events <- m
			}
			m = sseMessage{}
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			m.event = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			m.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			m.data += line[len("data: "):]
		}
	}
}

// next returns the next event (skipping keep-alive comments unless kind
// is "comment").
func (s *sseStream) next(t *testing.T, kind string) sseMessage {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended while waiting for %s", kind)
			}
			if kind == "comment" && m.comment != "" || kind != "comment" && m.event == kind {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s event within 5s", kind)
		}
	}
}

func (m sseMessage) list(t *testing.T) api.InstanceList {
	t.Helper()
	var l api.InstanceList
	decode(t, []byte(m.data), &l)
	if strconv.FormatUint(l.Index, 10) != m.id {
		t.Fatalf("event id %s but data index %d", m.id, l.Index)
	}
	return l
}

func TestSSEStreamsTheListAndItsChanges(t *testing.T) {
	n := startDev(t, func(c *Config) { c.SSEKeepAlive = 20 * time.Millisecond })
	reg := n.register("web", "w1", webBody)
	s := openSSE(t, n, "/v1/services/web/instances")
	if headerIndex(t, answer{header: s.resp.Header}) != reg.Index {
		t.Fatalf("stream index header %s, want %d", s.resp.Header.Get(api.HeaderIndex), reg.Index)
	}

	// The first event is the list now, the same JSON as a GET.
	ev := s.next(t, "instances")
	get := n.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "")
	if ev.data != strings.TrimSpace(string(get.body)) || ev.id != strconv.FormatUint(reg.Index, 10) {
		t.Fatalf("first event id %s data %s; GET answered %s", ev.id, ev.data, get.body)
	}

	second := n.register("web", "w2", webBody)
	if l := s.next(t, "instances").list(t); l.Index != second.Index || ids(l) != "w1,w2" {
		t.Fatalf("change event %+v, want index %d", l, second.Index)
	}

	// Idle streams get keep-alive comments.
	if c := s.next(t, "comment"); c.comment != "keep-alive" {
		t.Fatalf("comment %q", c.comment)
	}

	// Close ends the stream cleanly.
	n.h.Close()
	retry.Eventually(t, 5*time.Second, func() error {
		select {
		case _, ok := <-s.events:
			if !ok {
				return nil
			}
			return fmt.Errorf("stream still delivering")
		default:
			return fmt.Errorf("stream still open")
		}
	})
}

func TestSSEFiltersApply(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w1", webBody)
	s := openSSE(t, n, "/v1/services/web/instances?tag=canary&status=any")
	if l := s.next(t, "instances").list(t); len(l.Instances) != 0 {
		t.Fatalf("first filtered event %+v", l)
	}
	n.register("web", "w2", `{"address":"10.0.0.2","port":80,"tags":["canary"],"status":"critical"}`)
	if l := s.next(t, "instances").list(t); ids(l) != "w2" {
		t.Fatalf("filtered change event %+v", l)
	}
}

func TestSSEResumesFromLastEventID(t *testing.T) {
	n := startDev(t, nil)
	reg := n.register("web", "w1", webBody)

	// Resuming at the current index: no first event, the next change is.
	s := openSSE(t, n, "/v1/services/web/instances", "Last-Event-ID", strconv.FormatUint(reg.Index, 10))
	second := n.register("web", "w2", webBody)
	if ev := s.next(t, "instances"); ev.id != strconv.FormatUint(second.Index, 10) {
		t.Fatalf("resumed stream's first event has id %s, want %d (the change after Last-Event-ID)", ev.id, second.Index)
	}

	// Resuming from an older index: the current list at once.
	s = openSSE(t, n, "/v1/services/web/instances", "Last-Event-ID", strconv.FormatUint(reg.Index, 10))
	if ev := s.next(t, "instances"); ev.id != strconv.FormatUint(second.Index, 10) {
		t.Fatalf("stream resumed from an old index sent id %s, want %d", ev.id, second.Index)
	}
}

func TestSSEBurstDeliversTheFinalState(t *testing.T) {
	n := startDev(t, nil)
	s := openSSE(t, n, "/v1/services/web/instances?status=any")
	s.next(t, "instances")
	var last api.RegisterResponse
	const changes = 1000
	for i := range changes {
		status := []string{"passing", "warning", "critical"}[i%3]
		last = n.register("web", fmt.Sprintf("w%d", i%50), `{"address":"10.0.0.1","port":80,"status":"`+status+`"}`)
	}
	want := n.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances?status=any", "")
	timeout := time.After(10 * time.Second)
	events := 0
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended after %d events", events)
			}
			if ev.event == "" {
				continue
			}
			events++
			if ev.id == strconv.FormatUint(last.Index, 10) {
				if ev.data != strings.TrimSpace(string(want.body)) {
					t.Fatalf("final event differs from the final list:\n%s\n%s", ev.data, want.body)
				}
				t.Logf("%d changes delivered as %d events", changes, events)
				return
			}
		case <-timeout:
			t.Fatalf("final state (index %d) not delivered after %d events", last.Index, events)
		}
	}
}
