package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

// A wait given in plain seconds too large to count is capped like a huge
// duration, not refused (issue #15).
func TestHugeWaitIsCappedLikeAHugeDuration(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.MaxWait = 200 * time.Millisecond })
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
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.BodyReadTimeout = 300 * time.Millisecond })
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
			if _, ok := n.store.c.cat.Instance("w1"); ok {
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
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.MaxRestoreBytes = 1 << 20 })
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
