package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// roster is a dev Roster server in-process, with a client to register
// through.
type roster struct {
	n *node.Node
	c *client.Client
}

func startRoster(t testing.TB) *roster {
	t.Helper()
	n := testkit.StartDev(t)
	return &roster{n: n, c: newClient(t, n)}
}

// newClient is a client of n, closed at the end of the test.
func newClient(t testing.TB, n *node.Node) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Addrs: []string{n.HTTPAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (r *roster) addr() string { return r.n.HTTPAddr() }

func (r *roster) stop() { testkit.Close(r.n) }

// register puts an instance of service at b's address (no TTL: it stays
// until deregistered).
func (r *roster) register(t testing.TB, service string, b *backend, weight int, tags ...string) {
	t.Helper()
	if err := r.tryRegister(service, b, weight, tags...); err != nil {
		t.Fatal(err)
	}
}

func (r *roster) tryRegister(service string, b *backend, weight int, tags ...string) error {
	host, port, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(port)
	body := api.RegisterRequest{Address: host, Port: p, Tags: tags, Weight: &weight}
	if err := r.put(fmt.Sprintf("/v1/services/%s/instances/%s", service, b.id), body); err != nil {
		return fmt.Errorf("register %s/%s: %w", service, b.id, err)
	}
	return nil
}

func (r *roster) deregister(t testing.TB, service, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+r.addr()+"/v1/services/"+service+"/instances/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deregister %s/%s: %s", service, id, resp.Status)
	}
}

func (r *roster) setStatus(t testing.TB, service, id string, status api.Status) {
	t.Helper()
	if err := r.put(fmt.Sprintf("/v1/services/%s/instances/%s/heartbeat", service, id), api.HeartbeatRequest{Status: status}); err != nil {
		t.Fatalf("heartbeat %s/%s: %v", service, id, err)
	}
}

func (r *roster) put(path string, body any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, "http://"+r.addr()+path, strings.NewReader(string(b)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return nil
}

// echo is what a backend answers by default: who answered and what it got.
type echo struct {
	Instance  string `json:"instance"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Host      string `json:"host"`
	XFF       string `json:"xff"`
	XFHost    string `json:"xf_host"`
	XFProto   string `json:"xf_proto"`
	RequestID string `json:"request_id"`
	Body      string `json:"body"`
}

// backend is a real HTTP server on loopback standing for one instance.
type backend struct {
	id   string
	addr string
	srv  *http.Server
	hits atomic.Int64
	// status, when set, is answered instead of the echo.
	status atomic.Int64
	// release unblocks /slow requests.
	release     chan struct{}
	releaseOnce sync.Once
	// started counts /slow requests that arrived.
	started atomic.Int64
}

func startBackend(t testing.TB, id string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{id: id, addr: ln.Addr().String(), release: make(chan struct{})}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(b.kill)
	return b
}

// kill closes the listener and every connection at once, as a SIGKILL
// looks from the network.
func (b *backend) kill() { _ = b.srv.Close() }

func (b *backend) unblock() { b.releaseOnce.Do(func() { close(b.release) }) }

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	switch {
	case strings.HasSuffix(r.URL.Path, "/slow"):
		b.started.Add(1)
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
	case strings.HasSuffix(r.URL.Path, "/stream"):
		b.stream(w, r)
		return
	case strings.HasSuffix(r.URL.Path, "/ws"):
		b.upgrade(w, r)
		return
	}
	if d, err := time.ParseDuration(r.URL.Query().Get("work")); err == nil {
		// Simulated work, so that requests are in flight when the
		// instance dies.
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if s := b.status.Load(); s != 0 {
		http.Error(w, "failing on purpose", int(s))
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echo{
		Instance: b.id, Method: r.Method, Path: r.URL.Path, Host: r.Host,
		XFF: r.Header.Get("X-Forwarded-For"), XFHost: r.Header.Get("X-Forwarded-Host"),
		XFProto: r.Header.Get("X-Forwarded-Proto"), RequestID: r.Header.Get("X-Request-Id"),
		Body: string(body),
	})
}

// stream sends one line per request of the client's ?n=, each flushed and
// the next only after release is closed (so the test sees the first before
// the last is written).
func (b *backend) stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	rc := http.NewResponseController(w)
	fmt.Fprintf(w, "first from %s\n", b.id)
	_ = rc.Flush()
	select {
	case <-b.release:
	case <-r.Context().Done():
		return
	}
	fmt.Fprintf(w, "last from %s\n", b.id)
}

// upgrade switches to a raw echo protocol the way a WebSocket server
// switches (the gateway only tunnels bytes).
func (b *backend) upgrade(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want an upgrade", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Instance: %s\r\n\r\n", b.id)
	_ = rw.Flush()
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(rw, "%s echoes %s", b.id, line)
		if err := rw.Flush(); err != nil {
			return
		}
	}
}

// gw is a gateway serving on loopback.
type gw struct {
	*gateway.Gateway
	url string
}

func startGateway(t testing.TB, cfg gateway.Config) *gw {
	t.Helper()
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = g.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return &gw{Gateway: g, url: "http://" + ln.Addr().String()}
}

// answer is one response through the gateway.
type answer struct {
	status int
	header http.Header
	body   string
	echo   echo
}

var hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

func do(method, url, host, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &a.echo)
	}
	return a, nil
}

func get(t testing.TB, url string) answer {
	t.Helper()
	a, err := do(http.MethodGet, url, "", "")
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return a
}

// answeredBy checks that a GET is answered 200 by one of the instances.
func answeredBy(url string, ids ...string) error {
	a, err := do(http.MethodGet, url, "", "")
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, a.status, a.body)
	}
	for _, id := range ids {
		if a.echo.Instance == id {
			return nil
		}
	}
	return fmt.Errorf("GET %s answered by %q, want one of %v", url, a.echo.Instance, ids)
}

// spread sends n GETs and counts answers per instance.
func spread(t testing.TB, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		a := get(t, url)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, a.status, a.body)
		}
		seen[a.echo.Instance]++
	}
	return seen
}

// health reads /healthz.
func health(t testing.TB, g *gw) gateway.Health {
	t.Helper()
	a := get(t, g.url+"/healthz")
	if a.status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", a.status, a.body)
	}
	var h gateway.Health
	if err := json.Unmarshal([]byte(a.body), &h); err != nil {
		t.Fatalf("/healthz: %v in %s", err, a.body)
	}
	return h
}

// metric returns the value of the first sample of /metrics whose line
// starts with prefix (name and labels as exposed), or an error.
func metric(g *gw, prefix string) (float64, error) {
	a, err := do(http.MethodGet, g.url+"/metrics", "", "")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(a.body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	return 0, errors.New("no metric " + prefix)
}
