package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/testkit"
)

// These tests hold the CLI to what its help and docs say (issue #19).

func runMain(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestServerHelpIsPrintedOnceOnStdout(t *testing.T) {
	code, out, errOut := runMain("server", "--help")
	if code != exitOK || strings.Count(out, "Usage: roster server") != 1 || errOut != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	for _, flag := range []string{"-http-addr", "-dns-addr", "-raft-addr", "-gossip-addr", "-join", "-bootstrap-expect", "-domain", "-data-dir", "-node", "-dev"} {
		if !strings.Contains(out, flag) {
			t.Errorf("server --help does not document %s", flag)
		}
	}
}

func TestVersionHelpDescribesTheCommand(t *testing.T) {
	code, out, _ := runMain("version", "--help")
	if code != exitOK || !strings.HasPrefix(out, "Usage: roster version") {
		t.Fatalf("version --help: exit %d %q", code, out)
	}
	if code, _, _ := runMain("version", "extra"); code != exitUsage {
		t.Fatalf("version extra: exit %d, want %d", code, exitUsage)
	}
	if code, out, _ := runMain("version"); code != exitOK || !strings.HasPrefix(out, "roster ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
}

func TestTopLevelHelpNamesTheCommonFlags(t *testing.T) {
	code, out, _ := runMain("--help")
	for _, want := range []string{"--addr", "--timeout", "--json", "ROSTER_ADDR", "ROSTER_TIMEOUT", "port 8500"} {
		if !strings.Contains(out, want) {
			t.Errorf("roster --help does not mention %s", want)
		}
	}
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

func TestRegisterNeedsAddressAndPortBeforeAnyRequest(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		args    []string
		missing string
	}{
		{[]string{"--service", "web", "--port", "80"}, "--address"},
		{[]string{"--service", "web", "--address", "10.0.0.1"}, "--port"},
		{[]string{"--address", "10.0.0.1", "--port", "80"}, "--service"},
	} {
		code, out, errOut := cli(t, ctx, runRegister, s.Addr(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.missing+" is required") || strings.Contains(errOut, "web-") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d naming %s and no generated id", tc.args, code, out, errOut, exitUsage, tc.missing)
		}
	}
	if n := s.Requests("PUT /v1/services/{service}/instances/{id}"); n != 0 {
		t.Fatalf("%d registrations sent with flags missing", n)
	}
	_, out, _ := cli(t, ctx, runRegister, s.Addr(), "-h")
	if !strings.Contains(out, "--address ADDR") || !strings.Contains(out, "(required)") {
		t.Errorf("register -h does not say --address is required:\n%s", out)
	}
}

func TestBadAddrIsAUsageError(t *testing.T) {
	for _, addr := range []string{"foo bar", "http://", "ftp://x:1"} {
		code, _, errOut := cli(t, context.Background(), runServices, addr)
		if code != exitUsage || !strings.Contains(errOut, "--addr") {
			t.Errorf("--addr %q: exit %d %q, want %d naming --addr", addr, code, errOut, exitUsage)
		}
	}
}

func TestTimeoutComesFromTheEnvironment(t *testing.T) {
	t.Setenv(envTimeout, "750ms")
	e := &cliEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	fs := e.flags("services", "services", "", true)
	if _, code, ok := e.parse(fs, []string{"--addr", "127.0.0.1:1"}, 0, 0); !ok {
		t.Fatalf("parse: exit %d", code)
	}
	if e.timeout != 750*time.Millisecond {
		t.Fatalf("timeout %v, want 750ms from %s", e.timeout, envTimeout)
	}
	// The flag still wins over the environment.
	e = &cliEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	fs = e.flags("services", "services", "", true)
	if _, _, ok := e.parse(fs, []string{"--timeout", "2s"}, 0, 0); !ok || e.timeout != 2*time.Second {
		t.Fatalf("--timeout 2s: %v", e.timeout)
	}
	t.Setenv(envTimeout, "soon")
	if code, _, errOut := cli(t, context.Background(), runServices, "127.0.0.1:1"); code != exitUsage || !strings.Contains(errOut, envTimeout) {
		t.Fatalf("bad %s: exit %d %q", envTimeout, code, errOut)
	}
}

// TestAddrThatIsNotHTTPFailsAtOnce: a peer that accepts the connection and
// closes it without an answer (the DNS or Raft port) is tried once, and the
// error says what is probably wrong.
func TestAddrThatIsNotHTTPFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	code, _, errOut := cli(t, context.Background(), runServices, ln.Addr().String())
	if code != exitUnavailable || !strings.Contains(errOut, "without an HTTP answer") {
		t.Fatalf("exit %d %q, want %d saying the peer is not HTTP", code, errOut, exitUnavailable)
	}
	// One try (net/http may dial a second connection within it when the
	// first dies before the request is written); retries would make six.
	if n := accepted.Load(); n > 2 {
		t.Fatalf("%d connections, want one try (no retries against a peer that is not HTTP)", n)
	}
}

// TestErrorsSayWhatWentWrongOnce: a conflict from a real server names the
// operation once and carries no request plumbing.
func TestErrorsSayWhatWentWrongOnce(t *testing.T) {
	n := testkit.StartDev(t)
	ctx := context.Background()
	if code, _, errOut := cli(t, ctx, runRegister, n.HTTPAddr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1", "--port", "80"); code != exitOK {
		t.Fatalf("register: %d %s", code, errOut)
	}
	code, _, errOut := cli(t, ctx, runRegister, n.HTTPAddr(), "--service", "db", "--id", "web-1", "--address", "10.0.0.1", "--port", "80")
	if code != exitError {
		t.Fatalf("conflicting register: exit %d %q", code, errOut)
	}
	want := "roster register db/web-1: instance id held by another service (service web) [409 conflict]\n"
	if errOut != want {
		t.Fatalf("stderr %q\nwant   %q", errOut, want)
	}
}
