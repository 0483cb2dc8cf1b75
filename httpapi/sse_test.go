package httpapi

import (
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every stream of a service gets every change's list, byte for byte the
// GET answer, however many streams a change wakes at once.
func TestSSEManyStreamsGetEveryChange(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w0", webBody)
	const streams = 100
	ss := make([]*sseStream, streams)
	for i := range ss {
		ss[i] = openSSE(t, n, "/v1/services/web/instances")
		ss[i].next(t, "instances")
	}
	for c := 1; c <= 3; c++ {
		reg := n.register("web", fmt.Sprintf("w%d", c), webBody)
		want := strings.TrimSpace(string(n.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "").body))
		for i, s := range ss {
			ev := s.next(t, "instances")
			if ev.id != strconv.FormatUint(reg.Index, 10) || ev.data != want {
				t.Fatalf("stream %d, change %d: id %s data %s; want id %d data %s", i, c, ev.id, ev.data, reg.Index, want)
			}
		}
	}
}

// A consumer that stops reading is dropped once its writes block, and its
// watcher slot is freed: it never holds up the other streams.
func TestSSEDropsAConsumerThatStopsReading(t *testing.T) {
	n := startDev(t, func(c *Config) {
		// Long enough for the healthy reader to take a big event under
		// -race on a loaded machine, short enough to end the test soon.
		c.WriteTimeout = time.Second
		c.SSEKeepAlive = 200 * time.Millisecond
	})
	// Big events fill the socket buffers in a few changes.
	var meta strings.Builder
	for k := range 60 {
		fmt.Fprintf(&meta, `"k%02d":"%s",`, k, strings.Repeat("x", 500))
	}
	big := func(rev int) string {
		return fmt.Sprintf(`{"address":"10.0.0.1","port":80,"meta":{%s"rev":"%d"}}`, meta.String(), rev)
	}
	for i := range 20 {
		n.register("web", fmt.Sprintf("w%d", i), big(0))
	}

	conn, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/services/web/instances HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	healthy := openSSE(t, n, "/v1/services/web/instances")
	healthy.next(t, "instances")
	waitWatchers(t, n.h, 2)

	rev := 0
	retry.Eventually(t, 20*time.Second, func() error {
		rev++
		reg := n.register("web", "w0", big(rev))
		if ev := healthy.next(t, "instances"); ev.id != strconv.FormatUint(reg.Index, 10) {
			return fmt.Errorf("healthy stream got id %s, want %d", ev.id, reg.Index)
		}
		if got := n.h.watchers.Load(); got != 1 {
			return fmt.Errorf("%d watchers open after %d changes; want the stalled one dropped", got, rev)
		}
		return nil
	})
}
