// End-to-end test of the examples: the gateway and two users instances run
// as real processes against a Roster dev server started in-process; requests
// go through the gateway while an instance dies.
package examples_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/node"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roster-examples")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	for _, name := range []string{"service", "gateway"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./"+name)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", name, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one example process and the address it announced.
type proc struct {
	cmd  *exec.Cmd
	addr string
	id   string
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, once done is closed
}

// start runs an example binary and waits for its "listening on ADDR" line.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s %v stderr:\n%s", name, args, logs.String())
		}
	})
	select {
	case line := <-lines:
		fields := strings.Fields(line) // "listening on ADDR [as ID]"
		if len(fields) < 3 {
			t.Fatalf("%s said %q", name, line)
		}
		p.addr = fields[2]
		if len(fields) == 5 {
			p.id = fields[4]
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return p
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rosterServer is a dev Roster server running in-process.
type rosterServer struct {
	n *node.Node
	c *client.Client
}

func startRoster(t *testing.T) *rosterServer {
	t.Helper()
	n := testkit.StartDev(t)
	c, err := client.New(client.Config{Addrs: []string{n.HTTPAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	retry.Eventually(t, 10*time.Second, func() error { return c.Ready(context.Background()) })
	return &rosterServer{n: n, c: c}
}

func (r *rosterServer) Addr() string { return r.n.HTTPAddr() }

// Get returns the instance with this id, any status; false when the server
// says it does not exist. Any other error fails the test: a lookup that did
// not happen proves nothing.
func (r *rosterServer) Get(t *testing.T, service, id string) (api.Instance, bool) {
	t.Helper()
	inst, err := r.c.Instance(context.Background(), service, id)
	if errors.Is(err, client.ErrNotFound) {
		return api.Instance{}, false
	}
	if err != nil {
		t.Fatalf("look up %s/%s: %v", service, id, err)
	}
	return *inst, true
}

func TestGatewayKeepsAnsweringWhenAnInstanceDies(t *testing.T) {
	roster := startRoster(t)

	a := start(t, "service", "--name", "users", "--roster", roster.Addr(), "--ttl", "2s")
	b := start(t, "service", "--name", "users", "--roster", roster.Addr(), "--ttl", "2s")
	start(t, "service", "--name", "orders", "--roster", roster.Addr(), "--ttl", "2s")
	gw := start(t, "gateway", "--roster", roster.Addr())
	base := "http://" + gw.addr

	// Both users instances take traffic, and /orders goes to orders.
	retry.Eventually(t, 10*time.Second, func() error {
		seen := map[string]bool{}
		for range 10 {
			code, body := get(t, base+"/users/42")
			if code != http.StatusOK {
				return fmt.Errorf("%d %s", code, body)
			}
			if !strings.Contains(body, "path /users/42") {
				return fmt.Errorf("body %q", body)
			}
			seen[strings.Fields(body)[3]] = true
		}
		if !seen[a.id] || !seen[b.id] {
			return fmt.Errorf("answered by %v, want %s and %s", seen, a.id, b.id)
		}
		return nil
	})
	if code, body := get(t, base+"/orders"); code != http.StatusOK || !strings.HasPrefix(body, "service orders") {
		t.Fatalf("/orders: %d %q", code, body)
	}
	if code, _ := get(t, base+"/nowhere"); code != http.StatusNotFound {
		t.Fatalf("/nowhere: %d", code)
	}

	// a dies without deregistering: every later request is answered by b,
	// first through the retry on connection refused, later because a's
	// lease expired and the gateway followed the change.
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	deadline := time.Now().Add(4 * time.Second) // past a's 2s TTL
	n := 0
	for time.Now().Before(deadline) {
		code, body := get(t, base+"/users/7")
		if code != http.StatusOK || !strings.Contains(body, "instance "+b.id+" ") {
			t.Fatalf("request %d after a died: %d %q", n, code, body)
		}
		n++
	}
	if inst, ok := roster.Get(t, "users", a.id); ok && inst.Status != api.StatusCritical {
		t.Fatalf("dead instance still %s after its TTL", inst.Status)
	}
	t.Logf("%d requests after the kill, all answered by %s", n, b.id)
}

func TestServiceDeregistersOnSIGTERM(t *testing.T) {
	roster := startRoster(t)
	p := start(t, "service", "--name", "users", "--roster", roster.Addr())
	if _, ok := roster.Get(t, "users", p.id); !ok {
		t.Fatalf("%s not registered", p.id)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit: %v", p.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("service did not stop on SIGTERM")
	}
	if _, ok := roster.Get(t, "users", p.id); ok {
		t.Fatal("still registered after SIGTERM")
	}
}
