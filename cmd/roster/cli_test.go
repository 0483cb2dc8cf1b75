package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client/rostertest"
)

// cli runs one verb against addr and returns its exit code and output.
func cli(t *testing.T, ctx context.Context, fn verbFunc, addr string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut testkit.LogBuffer
	code := fn(ctx, &cliEnv{stdout: &out, stderr: &errOut}, append([]string{"--addr", addr}, args...))
	return code, out.String(), errOut.String()
}

// fakeServer is a real dev server (rostertest), with fault switches.
func fakeServer(t *testing.T) *rostertest.Server {
	t.Helper()
	return rostertest.Start(t)
}

func TestCLIRegisterLookupDeregister(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	code, out, stderr := cli(t, ctx, runRegister, s.Addr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1",
		"--port", "8080", "--tag", "v2", "--tag", "rule=Host(`a`,`b`)", "--meta", "zone=a", "--weight", "3")
	if code != exitOK || strings.TrimSpace(out) != "web-1" {
		t.Fatalf("register: %d %q %q", code, out, stderr)
	}
	inst, _ := s.Get("web-1")
	if inst.Weight != 3 || inst.Meta["zone"] != "a" || len(inst.Tags) != 2 || inst.Tags[1] != "rule=Host(`a`,`b`)" {
		t.Fatalf("registered %+v", inst)
	}

	code, out, _ = cli(t, ctx, runLookup, s.Addr(), "web")
	if code != exitOK || !strings.Contains(out, "web-1") || !strings.Contains(out, "10.0.0.1") || !strings.Contains(out, "passing") {
		t.Fatalf("lookup: %d\n%s", code, out)
	}
	// Flags after the positional argument work too.
	code, out, _ = cli(t, ctx, runLookup, s.Addr(), "web", "--json")
	var list api.InstanceList
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Instances) != 1 {
		t.Fatalf("lookup --json: %d %s", code, out)
	}
	if code, _, _ := cli(t, ctx, runLookup, s.Addr(), "web", "--tag", "v3"); code != exitNotFound {
		t.Fatalf("lookup matching nothing exited %d, want %d", code, exitNotFound)
	}

	code, out, _ = cli(t, ctx, runServices, s.Addr())
	if code != exitOK || !strings.Contains(out, "web") {
		t.Fatalf("services: %d %s", code, out)
	}

	if code, _, stderr := cli(t, ctx, runDeregister, s.Addr(), "web", "web-1"); code != exitOK {
		t.Fatalf("deregister: %d %s", code, stderr)
	}
	if _, ok := s.Get("web-1"); ok {
		t.Fatal("still registered")
	}
	if code, _, _ := cli(t, ctx, runHeartbeat, s.Addr(), "web", "web-1"); code != exitNotFound {
		t.Fatalf("heartbeat of a deregistered instance exited %d, want %d", code, exitNotFound)
	}
}

func TestCLIExitCodes(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	cases := []struct {
		name string
		fn   verbFunc
		args []string
		want int
	}{
		{"missing argument", runLookup, nil, exitUsage},
		{"unknown flag", runServices, []string{"--nope"}, exitUsage},
		{"help", runLookup, []string{"-h"}, exitOK},
		{"invalid input rejected by the server", runRegister, []string{"--service", "Bad_Name", "--address", "10.0.0.1", "--port", "1"}, exitUsage},
		{"unknown instance", runHeartbeat, []string{"web", "nobody"}, exitNotFound},
		{"bad status", runHeartbeat, []string{"web", "x", "--status", "sad"}, exitUsage},
		{"unknown snapshot action", runSnapshot, []string{"load", "f"}, exitUsage},
		{"unknown raft action", runRaft, []string{"add-peer", "x"}, exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, stderr := cli(t, ctx, tc.fn, s.Addr(), tc.args...); code != tc.want {
				t.Fatalf("exit %d, want %d (%s)", code, tc.want, stderr)
			}
		})
	}
	t.Run("no leader", func(t *testing.T) {
		s.SetUnavailable(true)
		defer s.SetUnavailable(false)
		if code, _, _ := cli(t, ctx, runServices, s.Addr(), "--timeout", "300ms"); code != exitUnavailable {
			t.Fatalf("exit %d, want %d", code, exitUnavailable)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		if code, _, _ := cli(t, ctx, runServices, "127.0.0.1:1", "--timeout", "2s"); code != exitUnavailable {
			t.Fatalf("exit %d, want %d", code, exitUnavailable)
		}
	})
}

func TestCLIRegisterForegroundHeartbeatsThenDeregisters(t *testing.T) {
	s := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := cli(t, ctx, runRegister, s.Addr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1", "--port", "80", "--ttl", "1s", "-f")
		done <- code
	}()
	retry.Eventually(t, 5*time.Second, func() error {
		if s.Requests("PUT /v1/heartbeats") < 4 {
			return fmt.Errorf("heartbeats: %d", s.Requests("PUT /v1/heartbeats"))
		}
		return nil
	})
	if inst, ok := s.Get("web-1"); !ok || inst.Status != api.StatusPassing {
		t.Fatalf("while in the foreground: %+v %v", inst, ok)
	}
	cancel() // what SIGINT or SIGTERM does
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("register -f did not stop")
	}
	if _, ok := s.Get("web-1"); ok {
		t.Fatal("still registered after interrupt")
	}
}

func TestCLIWatchPrintsEveryChange(t *testing.T) {
	s := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out testkit.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWatch(ctx, &cliEnv{stdout: &out, stderr: &testkit.LogBuffer{}}, []string{"--addr", s.Addr(), "--json", "web"})
	}()
	lines := func() []string { return strings.Split(strings.TrimSpace(out.String()), "\n") }
	retry.Eventually(t, 5*time.Second, func() error {
		if l := lines(); len(l) < 1 || l[0] == "" {
			return fmt.Errorf("no first list")
		}
		return nil
	})
	for i := 1; i <= 2; i++ {
		if code, _, stderr := cli(t, context.Background(), runRegister, s.Addr(), "--service", "web", "--id", fmt.Sprintf("web-%d", i), "--address", "10.0.0.1", "--port", "80"); code != exitOK {
			t.Fatal(stderr)
		}
		retry.Eventually(t, 5*time.Second, func() error {
			l := lines()
			if len(l) != i+1 {
				return fmt.Errorf("%d lines", len(l))
			}
			var list api.InstanceList
			if err := json.Unmarshal([]byte(l[i]), &list); err != nil || len(list.Instances) != i {
				return fmt.Errorf("line %d: %s", i, l[i])
			}
			return nil
		})
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("watch exit %d", code)
	}
}

func TestCLIClusterVerbs(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	for _, v := range []struct {
		fn   verbFunc
		want string
	}{{runMembers, "leader"}, {runStatus, "Ready:         ready"}, {runLeases, "Leases:"}} {
		code, out, stderr := cli(t, ctx, v.fn, s.Addr())
		if code != exitOK || !strings.Contains(out, v.want) {
			t.Fatalf("exit %d, output %q %q", code, out, stderr)
		}
	}
	// The real server answers 404 for a peer it does not have.
	if code, _, stderr := cli(t, ctx, runRaft, s.Addr(), "remove-peer", "abc"); code != exitNotFound || !strings.Contains(stderr, `no server "abc" in the Raft configuration`) {
		t.Fatalf("remove-peer of an unknown id: exit %d, stderr %q; want %d naming the id", code, stderr, exitNotFound)
	}
	if code, _, stderr := cli(t, ctx, runLeave, s.Addr()); code != exitOK {
		t.Fatal(stderr)
	}
}

func TestCLISnapshotSaveAndRestore(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	cli(t, ctx, runRegister, s.Addr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1", "--port", "80")
	file := filepath.Join(t.TempDir(), "backup.snap")
	if code, _, stderr := cli(t, ctx, runSnapshot, s.Addr(), "save", file); code != exitOK {
		t.Fatal(stderr)
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	fresh := fakeServer(t)
	if code, _, stderr := cli(t, ctx, runSnapshot, fresh.Addr(), "restore", file); code != exitOK {
		t.Fatal(stderr)
	}
	if _, ok := fresh.Get("web-1"); !ok {
		t.Fatal("restore lost web-1")
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	for _, v := range cliVerbs {
		var out, errOut bytes.Buffer
		if code := v.Run([]string{"-h"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "Exit codes") || errOut.Len() > 0 {
			t.Fatalf("%s -h: exit %d, stdout %q, stderr %q", v.Name, code, out.String(), errOut.String())
		}
	}
}
