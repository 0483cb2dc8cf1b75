package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// occupy holds addr's TCP and UDP ports for the test.
func occupy(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
}

// TestStartupFailuresSayWhyInOneLine: every failure to start exits non-zero
// with one line naming the address or file and the cause, never a panic.
func TestStartupFailuresSayWhyInOneLine(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, s *server) // may change s.args and the file system
		code  int
		want  string // in the last line of stderr
	}{
		{"http port in use", func(t *testing.T, s *server) { occupy(t, s.http) }, 1, "listen http " + "%http: address already in use"},
		{"dns port in use", func(t *testing.T, s *server) { occupy(t, s.dns) }, 1, "listen dns %dns: address already in use"},
		{"raft port in use", func(t *testing.T, s *server) { occupy(t, s.raft) }, 1, "listen raft %raft: address already in use"},
		{"gossip port in use", func(t *testing.T, s *server) { occupy(t, s.gossip) }, 1, "listen gossip %gossip: address already in use"},
		{"pprof port in use", func(t *testing.T, s *server) {
			occupy(t, s.http)
			s.args = append(s.args, "--pprof-addr", s.http)
		}, 1, "listen pprof %http: address already in use"},
		{"data dir is a file", func(t *testing.T, s *server) {
			if err := os.WriteFile(s.dataDir, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1, "%data: not a directory"},
		{"corrupt node-id", func(t *testing.T, s *server) {
			os.MkdirAll(s.dataDir, 0o750)
			if err := os.WriteFile(filepath.Join(s.dataDir, "node-id"), []byte("not-a-uuid\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1, "server id in %data/node-id: invalid UUID"},
		{"unreadable node-id", func(t *testing.T, s *server) {
			if err := os.MkdirAll(filepath.Join(s.dataDir, "node-id"), 0o750); err != nil {
				t.Fatal(err)
			}
		}, 1, "read %data/node-id: is a directory"},
		{"bad http address", func(t *testing.T, s *server) { s.args = append(s.args, "--http-addr", "nonsense") }, 2, `--http-addr "nonsense"`},
		{"negative bootstrap-expect", func(t *testing.T, s *server) { s.args = append(s.args, "--bootstrap-expect", "-1") }, 2, "--bootstrap-expect must not be negative"},
		{"raft multiplier out of range", func(t *testing.T, s *server) { s.args = append(s.args, "--raft-multiplier", "0") }, 2, "--raft-multiplier must be between 1 and 10"},
		{"advertise address not an IP", func(t *testing.T, s *server) { s.args = append(s.args, "--advertise-addr", "host.example") }, 2, "--advertise-addr"},
		{"unknown flag", func(t *testing.T, s *server) { s.args = append(s.args, "--no-such-flag") }, 2, "flag provided but not defined: -no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, "s1")
			tc.setup(t, s)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, rosterBin, s.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			out := stderr.String()
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("the server panicked:\n%s", out)
			}
			if code != tc.code {
				t.Fatalf("exit code %d (%v), want %d; stderr:\n%s", code, err, tc.code, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			want := strings.NewReplacer("%http", s.http, "%dns", s.dns, "%raft", s.raft, "%gossip", s.gossip, "%data", s.dataDir).Replace(tc.want)
			if !strings.Contains(last, want) {
				t.Fatalf("last line %q, want it to contain %q; stderr:\n%s", last, want, out)
			}
			if tc.code == 1 && !strings.HasPrefix(last, "roster: ") {
				t.Fatalf("last line %q, want it to start with \"roster: \"", last)
			}
		})
	}
}
