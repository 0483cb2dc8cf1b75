package main

// End-to-end tests of `roster gateway`: the binary in front of real
// backends, routed by a real `roster server --dev` process.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// startEcho serves "<id> <path>" on loopback.
func startEcho(t *testing.T, id string) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", id, r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// gatewayProc is one `roster gateway` process.
type gatewayProc struct {
	cmd    *exec.Cmd
	log    *testkit.LogBuffer
	exited chan struct{}
}

func startGatewayProc(t *testing.T, env []string, args ...string) *gatewayProc {
	t.Helper()
	p := &gatewayProc{log: &testkit.LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(rosterBin, append([]string{"gateway"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("--- gateway log:\n%s", tail(p.log.String(), 4096))
		}
	})
	return p
}

func getText(url string) (int, string, error) {
	resp, err := httpc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestGatewayBinaryRoutesFromFlagsEnvAndTags(t *testing.T) {
	s := newServer(t, "dev", "--dev")
	s.start(t)
	retry.Eventually(t, 30*time.Second, func() error { return ready(s) })
	for _, b := range []struct {
		service, id string
		tags        []string
	}{
		{"users", "users-1", nil},
		{"orders", "orders-1", []string{"gateway.route=/orders", "gateway.strip=true"}},
	} {
		host, port := startEcho(t, b.id)
		if _, err := register(s, b.service, b.id, api.RegisterRequest{Address: host, Port: port, Tags: b.tags}); err != nil {
			t.Fatal(err)
		}
	}

	listen, admin := freePort(t), freePort(t)
	// Flags and environment together: the admin listener comes from
	// ROSTER_GATEWAY_ADMIN_LISTEN.
	gw := startGatewayProc(t, []string{"ROSTER_GATEWAY_ADMIN_LISTEN=" + admin, "ROSTER_GATEWAY_BALANCE=least-requests"},
		"--listen", listen, "--addr", s.http, "--route", "/users=users")
	retry.Eventually(t, 20*time.Second, func() error {
		code, body, err := getText("http://" + listen + "/orders/9")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("/orders/9: %d %s %v", code, body, err)
		}
		return nil
	})

	for _, c := range []struct{ path, want string }{
		{"/users/42", "users-1 /users/42"},
		{"/orders/9", "orders-1 /9"},
	} {
		if code, body, err := getText("http://" + listen + c.path); err != nil || code != http.StatusOK || body != c.want {
			t.Errorf("GET %s: %d %q %v, want %q", c.path, code, body, err, c.want)
		}
	}
	// The admin paths live on the admin listener only.
	code, body, err := getText("http://" + listen + "/healthz")
	var e api.Error
	if err != nil || code != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Code != api.CodeNotFound {
		t.Errorf("/healthz on the proxy listener: %d %s %v, want a 404 error", code, body, err)
	}
	code, body, err = getText("http://" + admin + "/healthz")
	var h struct {
		Status string `json:"status"`
		Routes []struct {
			Route, Service, Source string
		} `json:"routes"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil || h.Status != "ok" || len(h.Routes) != 2 {
		t.Errorf("admin /healthz: %d %s %v", code, body, err)
	}
	code, body, err = getText("http://" + admin + "/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `roster_gateway_requests_total{code="2xx",instance="orders-1",route="/orders",service="orders"}`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("admin /metrics: %d %v:\n%s", code, err, tail(body, 2000))
	}
	if !strings.Contains(gw.log.String(), "balance=least-requests") {
		t.Errorf("ROSTER_GATEWAY_BALANCE not applied; log:\n%s", gw.log.String())
	}

	// SIGTERM: a clean stop.
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gw.exited:
		if code := gw.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop on SIGTERM")
	}
}

func TestGatewayBinaryRejectsBadConfiguration(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		env  []string
		args []string
		code int
		says string
	}{
		{args: []string{"--route", "users"}, code: 2, says: "want /prefix=service"},
		{args: []string{"--route", "/users=users", "--balance", "fastest"}, code: 2, says: "--balance"},
		{args: []string{"--tag-routes=false"}, code: 2, says: "no routes"},
		{env: []string{"ROSTER_GATEWAY_MAX_TRIES=lots"}, code: 2, says: "ROSTER_GATEWAY_MAX_TRIES"},
		// Judged before the address is bound: a usage error even when
		// the port is taken (CI once met 8080 in use here).
		{args: []string{"--route", "/a=a", "--max-tries", "-1", "--listen", busy.Addr().String()}, code: 2, says: "max tries"},
		{args: []string{"--route", "/a=a", "--listen", busy.Addr().String()}, code: 1, says: busy.Addr().String()},
		{args: []string{"extra"}, code: 2, says: "unexpected argument"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, rosterBin, append([]string{"gateway"}, c.args...)...)
		cmd.Env = append(os.Environ(), c.env...)
		out, _ := cmd.CombinedOutput()
		cancel()
		if got := cmd.ProcessState.ExitCode(); got != c.code || !strings.Contains(string(out), c.says) {
			t.Errorf("gateway %v %v: exit %d %q, want exit %d saying %q", c.env, c.args, got, out, c.code, c.says)
		}
		if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n > 0 {
			t.Errorf("gateway %v: %d lines, want one: %s", c.args, n+1, out)
		}
	}
}
