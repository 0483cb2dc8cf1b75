package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/raftstore"
)

// A wait given in plain seconds too large to count is capped like a huge
// duration, not refused (issue #15).
func TestHugeWaitIsCappedLikeAHugeDuration(t *testing.T) {
	n := startDev(t, func(c *Config) { c.MaxWait = 200 * time.Millisecond })
	reg := n.register("web", "w1", webBody)
	for _, wait := range []string{"10000h", "99999999999", "99999999999999999999999"} {
		start := time.Now()
		list, a := n.list(fmt.Sprintf("/v1/services/web/instances?index=%d&wait=%s", reg.Index, wait))
		if a.status != http.StatusOK || list.Index != reg.Index {
			t.Fatalf("wait=%s answered %s", wait, a)
		}
		if elapsed := time.Since(start); elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("wait=%s answered after %v, want about MaxWait", wait, elapsed)
		}
	}
}

// A body trickled in a byte at a time is cut off at the body deadline
// instead of holding the connection (issue #15).
func TestSlowBodyIsCutOffAtTheDeadline(t *testing.T) {
	n := startDev(t, func(c *Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := webBody
	fmt.Fprintf(conn, "PUT /v1/services/web/instances/w1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:1])
	start := time.Now()
	done := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn)
		done <- b
	}()
	for i := 1; i < len(body); i++ {
		select {
		case b := <-done:
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Fatalf("cut off only after %v", elapsed)
			}
			if len(b) > 0 && !bytes.Contains(b, []byte("408")) {
				t.Fatalf("answered %q, want 408 or a closed connection", b)
			}
			if _, ok := n.dev.Catalog().Instance("w1"); ok {
				t.Fatal("a cut-off body registered the instance")
			}
			return
		case <-time.After(100 * time.Millisecond):
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return // the server closed the connection
			}
		}
	}
	t.Fatalf("the whole body was taken at a byte per 100ms (%v)", time.Since(start))
}

// Only one restore runs at a time; a body declared larger than the cap is
// refused before it is read (issue #15).
func TestRestoreOneAtATimeAndDeclaredSizeChecked(t *testing.T) {
	n := startDev(t, func(c *Config) { c.MaxRestoreBytes = 1 << 20 })
	// A first restore whose body is still arriving.
	pr, pw := io.Pipe()
	defer pw.Close()
	first := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, "http://"+n.addr()+"/v1/snapshot", pr)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		first <- resp
	}()
	if _, err := pw.Write([]byte("ROSTERBK")); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if !n.h.restoring.Load() {
			return errors.New("the first restore has not started")
		}
		return nil
	})
	a := n.do(http.MethodPut, "/v1/snapshot", "ROSTERBK")
	checkError(t, a, http.StatusConflict, "conflict", "snapshot", true)

	req, _ := http.NewRequest(http.MethodPut, "http://"+n.addr()+"/v1/snapshot", strings.NewReader("x"))
	req.ContentLength = 2 << 20
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("declared 2 MiB over a 1 MiB cap answered %d", resp.StatusCode)
		}
	}
	pw.Close()
	<-first
}

// Past the connection cap a new connection is answered 429 with
// Retry-After at once (never left hanging), and served again once a
// connection closes (issue #15).
func TestConnectionCapAnswers429(t *testing.T) {
	n := startDev(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), n.h)
	go func() { _ = srv.Serve(LimitListener(ln, 3, nil, nil)) }()
	t.Cleanup(func() { srv.Close() })
	get := func(c net.Conn) string {
		fmt.Fprint(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		k, _ := c.Read(buf)
		return string(buf[:k])
	}
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if a := get(c); !strings.HasPrefix(a, "HTTP/1.1 200") {
			t.Fatalf("under the cap: %q", a)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if a := get(c); !strings.HasPrefix(a, "HTTP/1.1 429") || !strings.Contains(a, "Retry-After: 1") ||
		!strings.Contains(a, `"code":"too_many"`) || time.Since(start) > 2*time.Second {
		t.Fatalf("over the cap after %v: %q", time.Since(start), a)
	}
	held[0].Close()
	retry.Eventually(t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		if a := get(c); !strings.HasPrefix(a, "HTTP/1.1 200") {
			return fmt.Errorf("after a connection closed: %q", a)
		}
		return nil
	})
}

func TestConnAndWatcherCapsFromTheFileLimit(t *testing.T) {
	for _, tc := range []struct {
		files uint64
		conns int
	}{{1024, 768}, {4096, 3072}, {65536, 64512}, {100, 16}} {
		if got := ConnCap(tc.files); got != tc.conns {
			t.Errorf("ConnCap(%d) = %d, want %d", tc.files, got, tc.conns)
		}
	}
	if w := WatcherCap(ConnCap(1024)); w >= ConnCap(1024) || w < 500 {
		t.Errorf("WatcherCap(768) = %d", w)
	}
}

// One client past its write or heartbeat rate gets 429 with Retry-After
// (held back a moment, so a client retrying at once is slowed), and the
// refused write changes nothing (issue #15).
//
// A member's address is believed when it names a client, and over
// loopback the test client would share 127.0.0.1 with the server's own
// addresses: so the real dev server here has its Raft and gossip on
// 127.0.0.2 and advertises a TEST-NET HTTP address, and the test client is
// no member.
func TestPerClientRateLimits(t *testing.T) {
	n := startStoreNode(t, raftstore.Config{NodeName: "dev1", Dev: true, HTTPAddr: "192.0.2.1:8500",
		RaftAddr: "127.0.0.2:0", GossipAddr: "127.0.0.2:0"}, func(c *Config) {
		c.WriteRate, c.WriteBurst = 0.001, 5
		c.HeartbeatRate, c.HeartbeatBurst = 0.001, 20
	})
	waitArmedLeader(t, n.dev)
	for i := range 5 {
		n.register("web", fmt.Sprint("w", i), webBody)
	}
	a := n.do(http.MethodPut, "/v1/services/web/instances/w5", webBody)
	checkError(t, a, http.StatusTooManyRequests, "too_many", "", true)
	if _, ok := n.dev.Catalog().Instance("w5"); ok {
		t.Fatal("a rate-limited registration was applied")
	}
	// A forged client header from an address that is no cluster member
	// is not believed.
	a = n.do(http.MethodDelete, "/v1/services/web/instances/w0", "", "X-Roster-Forwarded", "1", "X-Roster-Client", "10.9.9.9")
	checkError(t, a, http.StatusTooManyRequests, "too_many", "", true)

	n = startDev(t, func(c *Config) {
		c.WriteRate = -1
		c.HeartbeatRate, c.HeartbeatBurst = 0.001, 20
	})
	n.register("web", "w1", webBody)
	batch := `{"instances":[` + strings.TrimSuffix(strings.Repeat(`{"service":"web","id":"w1"},`, 15), ",") + `]}`
	n.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", batch)
	a = n.do(http.MethodPut, "/v1/heartbeats", batch)
	checkError(t, a, http.StatusTooManyRequests, "too_many", "", true)
	// What is left of the bucket still serves smaller batches.
	n.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", `{"instances":[`+strings.TrimSuffix(strings.Repeat(`{"service":"web","id":"w1"},`, 5), ",")+`]}`)
	a = n.do(http.MethodPut, "/v1/services/web/instances/w1/heartbeat", "")
	checkError(t, a, http.StatusTooManyRequests, "too_many", "", true)
}

// The defaults let a client register and renew far more than the Go
// client does in normal use.
func TestDefaultRateLimitsAreGenerous(t *testing.T) {
	n := startDev(t, nil)
	for i := range 300 {
		n.register("web", fmt.Sprint("w", i), webBody)
	}
	var b strings.Builder
	b.WriteString(`{"instances":[`)
	for i := range 300 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"service":"web","id":"w%d"}`, i)
	}
	b.WriteString(`]}`)
	for range 20 {
		n.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", b.String())
	}
}

// A write a follower forwards is counted for the client the follower names,
// because it comes from a member's address: here the real dev server's own
// (127.0.0.1, the test client's too).
func TestForwardedWritesCountForTheOriginalClient(t *testing.T) {
	n := startDev(t, func(c *Config) { c.WriteRate, c.WriteBurst = 0.001, 2 })
	fwd := func(client, id string) answer {
		return n.do(http.MethodPut, "/v1/services/web/instances/"+id, webBody,
			"X-Roster-Forwarded", "1", "X-Roster-Client", client)
	}
	for i := range 2 {
		if a := fwd("10.1.1.1", fmt.Sprint("a", i)); a.status != http.StatusOK {
			t.Fatalf("forwarded write %d: %s", i, a)
		}
	}
	checkError(t, fwd("10.1.1.1", "a2"), http.StatusTooManyRequests, "too_many", "", true)
	if a := fwd("10.2.2.2", "b0"); a.status != http.StatusOK {
		t.Fatalf("another client behind the same follower was limited: %s", a)
	}
}

// Other front ends (the Consul subset) take their writes through
// ForwardWrite, and so meet the same per-client write limit.
func TestForwardWriteAppliesTheWriteLimit(t *testing.T) {
	n := startDev(t, func(c *Config) { c.WriteRate, c.WriteBurst = 0.001, 1 })
	req := httptest.NewRequest(http.MethodPut, "/v1/agent/service/register", strings.NewReader(`{}`))
	if rec := httptest.NewRecorder(); n.h.ForwardWrite(rec, req) {
		t.Fatalf("the first write was not left to the caller: %d %s", rec.Code, rec.Body)
	}
	rec := httptest.NewRecorder()
	if !n.h.ForwardWrite(rec, req) || rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the second write answered %d %v", rec.Code, rec.Header())
	}
}
