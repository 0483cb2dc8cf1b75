package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
)

// readmeBlock returns the lines of the first ```sh block after heading in
// the README.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("no sh block after %q", heading)
	}
	block, _, _ := strings.Cut(rest, "```")
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestREADMEThreeServerQuickStart runs the README's 3-server quick start as
// written (its ports, its data dirs, its curl lines), then does what the
// text after it promises: kill the leader with SIGKILL, restart it with the
// same flags, and it rejoins with its data.
func TestREADMEThreeServerQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the README's 3-server cluster")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the README's quick start uses curl, which is not installed")
		}
		t.Skip("the README's quick start uses curl, which is not installed")
	}
	lines := readmeBlock(t, "## A 3-server cluster on one machine")
	if lines[0] != "make build" {
		t.Fatalf("the quick start no longer starts with make build: %q", lines[0])
	}
	// make build puts the binary in bin/roster: provide it, built once.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rosterFastBin, filepath.Join(dir, "bin", "roster")); err != nil {
		t.Fatal(err)
	}
	var loop, curls []string
	inLoop := false
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "for "):
			inLoop = true
			loop = append(loop, l)
		case inLoop:
			loop = append(loop, l)
			inLoop = l != "done"
		default:
			curls = append(curls, l)
		}
	}
	dataDirs := func() {
		for i := 1; i <= 3; i++ {
			os.RemoveAll(fmt.Sprintf("/tmp/roster-s%d", i))
		}
	}
	dataDirs()
	t.Cleanup(dataDirs)

	// Each script runs in its own process group, so the servers it leaves
	// in the background are stopped with it.
	var groups []int
	t.Cleanup(func() {
		for _, g := range groups {
			syscall.Kill(-g, syscall.SIGKILL)
		}
		if t.Failed() {
			for i := 1; i <= 3; i++ {
				b, _ := os.ReadFile(fmt.Sprintf("/tmp/roster-s%d.log", i))
				t.Logf("--- /tmp/roster-s%d.log (last 3 KiB):\n%s", i, tail(string(b), 3072))
			}
		}
	})
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s\nfailed: %v\n%s", script, err, out.String())
		}
		return out.String()
	}

	sh(strings.Join(loop, "\n"))
	servers := make([]*server, 3)
	for i := range servers {
		n := i + 1
		servers[i] = &server{name: fmt.Sprintf("s%d", n), http: fmt.Sprintf("127.0.0.1:850%d", n)}
	}
	for _, s := range servers {
		retry.Eventually(t, 30*time.Second, func() error { return ready(s) })
	}
	for _, l := range curls {
		out := sh(l)
		t.Logf("%s\n%s", l, out)
		if strings.Contains(out, `"error"`) {
			t.Fatalf("%s answered an error: %s", l, out)
		}
	}

	// "Kill the leader (kill -9) and the other two elect a new one within
	// about a second; restart it with the same flags and it rejoins with
	// its data."
	leader := waitForLeader(t, servers)
	n := leader.name[1:]
	sh(fmt.Sprintf(`pid=$(ps -eo pid,args | awk '$2 ~ /roster$/ && $3 == "server" && $5 == "%s" {print $1}'); test -n "$pid" && kill -9 $pid`, leader.name))
	waitForLeader(t, without(servers, leader))
	start := time.Now()
	restart := strings.Join(loop[1:len(loop)-1], "\n")
	restart = strings.TrimSuffix(strings.TrimSpace(restart), "&") // one server, in the background
	sh(fmt.Sprintf("i=%s\n%s &", n, restart))
	retry.Eventually(t, rejoinLimit(), func() error {
		if err := aliveEverywhere(servers, leader.name); err != nil {
			return err
		}
		var l api.InstanceList
		if _, _, err := do("GET", leader.url("/v1/services/web/instances"), nil, &l); err != nil {
			return err
		}
		if !hasInstance(l, "web-1") {
			return fmt.Errorf("restarted %s lists %+v, want web-1 (its data)", leader.name, l.Instances)
		}
		_, err := register(leader, "web", "web-2", api.RegisterRequest{Address: "10.0.0.2", Port: 8080})
		return err
	})
	t.Logf("%s (the old leader) back with its data and taking writes %v after its restart", leader.name, time.Since(start).Round(time.Millisecond))
}
