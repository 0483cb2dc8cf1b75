package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/internal/retry"
)

func TestStreamingAnswersPassThroughAsWritten(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "events-1")
	t.Cleanup(b.unblock)
	r.register(t, "events", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/events", Service: "events"}}})

	resp, err := hc.Get(g.url + "/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	// The first line arrives while the instance still holds the rest back.
	line, err := rd.ReadString('\n')
	if err != nil || line != "first from events-1\n" {
		t.Fatalf("first line %q %v", line, err)
	}
	b.unblock()
	line, err = rd.ReadString('\n')
	if err != nil || line != "last from events-1\n" {
		t.Fatalf("last line %q %v", line, err)
	}
}

func TestWebSocketUpgradesAreTunnelled(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "chat-1")
	r.register(t, "chat", b, 1, "gateway.route=/chat")
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}})

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /chat/ws HTTP/1.1\r\nHost: chat.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Instance") != "chat-1" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	for _, msg := range []string{"hello", "again"} {
		fmt.Fprintf(conn, "%s\n", msg)
		line, err := rd.ReadString('\n')
		if err != nil || line != "chat-1 echoes "+msg+"\n" {
			t.Fatalf("echo of %q: %q %v", msg, line, err)
		}
	}
}

func TestAClientLeavingMidStreamFreesTheInstance(t *testing.T) {
	r := startRoster(t)
	b := startBackend(t, "events-1")
	t.Cleanup(b.unblock)
	r.register(t, "events", b, 1)
	g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true,
		Routes: []gateway.Route{{Prefix: "/events", Service: "events"}}})
	const inFlight = `roster_gateway_instance_in_flight{instance="events-1",service="events"}`

	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
	rd := bufio.NewReader(conn)
	if _, err := http.ReadResponse(rd, nil); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if v, err := metric(g, inFlight); err != nil || v != 1 {
			return fmt.Errorf("in flight %v %v, want 1 while streaming", v, err)
		}
		return nil
	})
	conn.Close() // the client goes away with the stream open
	retry.Eventually(t, 5*time.Second, func() error {
		if v, err := metric(g, inFlight); err != nil || v != 0 {
			return fmt.Errorf("in flight %v %v after the client left, want 0", v, err)
		}
		return nil
	})
}
