package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

func inst(id, addr, status string, tags ...string) api.Instance {
	return api.Instance{Service: "web", ID: id, Address: addr, Port: 80, Status: api.Status(status), Tags: tags, Weight: 1}
}

func TestInstanceDiffNamesWhatChanged(t *testing.T) {
	a := inst("web-1", "10.0.0.1", "passing", "v1")
	b := inst("web-2", "10.0.0.2", "passing")
	bCrit := b
	bCrit.Status, bCrit.Output = api.StatusCritical, "HTTP 503"
	aMoved := inst("web-1", "10.0.0.9", "passing", "v1", "canary")
	aMoved.Weight = 5
	c := inst("web-3", "10.0.0.3", "warning")
	for _, tc := range []struct {
		name       string
		prev, next []api.Instance
		want       []string
	}{
		{"nothing", []api.Instance{a, b}, []api.Instance{a, b}, nil},
		{"added", []api.Instance{a}, []api.Instance{a, c}, []string{"+ web-3  10.0.0.3:80  warning"}},
		{"removed", []api.Instance{a, b}, []api.Instance{b}, []string{"- web-1  10.0.0.1:80"}},
		{"status", []api.Instance{a, b}, []api.Instance{a, bCrit}, []string{`~ web-2  status passing -> critical ("HTTP 503")`}},
		{"several fields", []api.Instance{a}, []api.Instance{aMoved},
			[]string{"~ web-1  address 10.0.0.1:80 -> 10.0.0.9:80; tags v1 -> v1,canary; weight 1 -> 5"}},
		{"all at once, by id", []api.Instance{b, a}, []api.Instance{c, bCrit},
			[]string{"- web-1  10.0.0.1:80", `~ web-2  status passing -> critical ("HTTP 503")`, "+ web-3  10.0.0.3:80  warning"}},
	} {
		if got := instanceDiff(tc.prev, tc.next); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestCLIWatchPrintsChangesAsADiff: after the first table, each change is
// printed as the lines that differ.
func TestCLIWatchPrintsChangesAsADiff(t *testing.T) {
	s := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out testkit.LogBuffer
	done := make(chan int, 1)
	if code, _, stderr := cli(t, context.Background(), runRegister, s.Addr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1", "--port", "80", "--ttl", "30s"); code != exitOK {
		t.Fatal(stderr)
	}
	go func() {
		done <- runWatch(ctx, &cliEnv{stdout: &out, stderr: &testkit.LogBuffer{}}, []string{"--addr", s.Addr(), "--status", "any", "web"})
	}()
	wait := func(want string) {
		t.Helper()
		retry.Eventually(t, 5*time.Second, func() error {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("no %q in:\n%s", want, out.String())
			}
			return nil
		})
	}
	wait("ID  ") // the first list is a table
	if code, _, stderr := cli(t, context.Background(), runRegister, s.Addr(), "--service", "web", "--id", "web-2", "--address", "10.0.0.2", "--port", "81"); code != exitOK {
		t.Fatal(stderr)
	}
	wait("  + web-2  10.0.0.2:81  passing")
	if code, _, stderr := cli(t, context.Background(), runHeartbeat, s.Addr(), "web", "web-1", "--status", "critical", "--output", "disk full"); code != exitOK {
		t.Fatal(stderr)
	}
	wait(`  ~ web-1  status passing -> critical ("disk full")`)
	if code, _, stderr := cli(t, context.Background(), runDeregister, s.Addr(), "web", "web-2"); code != exitOK {
		t.Fatal(stderr)
	}
	wait("  - web-2  10.0.0.2:81")
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("watch exit %d", code)
	}
	if n := strings.Count(out.String(), "ID  "); n != 1 {
		t.Errorf("%d tables printed, want only the first:\n%s", n, out.String())
	}
}

func TestProgressLine(t *testing.T) {
	if got := formatProgress("saving", 12_500_000, 0, 2*time.Second); got != "saving 12.5 MB  6.2 MB/s" {
		t.Errorf("got %q", got)
	}
	if got := formatProgress("restoring", 10_000_000, 40_000_000, time.Second); got != "restoring 10.0 MB of 40.0 MB (25%)  10.0 MB/s" {
		t.Errorf("got %q", got)
	}
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1500: "1.5 kB", 3_200_000_000: "3.2 GB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	// Not a terminal: nothing is drawn, the summary still comes.
	var buf testkit.LogBuffer
	p := startProgress(&buf, "saving", 0)
	_, _ = p.Write(make([]byte, 2000))
	if s := p.finish(2000); !strings.HasPrefix(s, "2.0 kB in ") || buf.String() != "" {
		t.Errorf("summary %q, drawn %q", s, buf.String())
	}
}
