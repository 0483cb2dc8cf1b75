package main

// End-to-end tests of the binary: real `roster server` processes on loopback
// forming a 3-server cluster, driven over HTTP the way users drive it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"

	"github.com/rosterhq/roster/api"
)

var rosterBin string

// rosterFastBin is the binary built without the race detector, for the one
// timed property design.md quotes (failover within 2 s): a race-enabled
// server is several times slower, so its figure would say nothing.
var rosterFastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roster-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rosterBin = filepath.Join(dir, "roster")
	build := exec.Command("go", "build", "-race", "-o", rosterBin, ".")
	if os.Getenv("ROSTER_E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", rosterBin, ".")
	}
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building roster:", err)
		os.Exit(1)
	}
	rosterFastBin = rosterBin
	if os.Getenv("ROSTER_E2E_NORACE") == "" {
		rosterFastBin = filepath.Join(dir, "roster-fast")
		build := exec.Command("go", "build", "-o", rosterFastBin, ".")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building roster without -race:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one roster process.
type server struct {
	name                    string
	dataDir                 string
	http, dns, raft, gossip string
	args                    []string
	bin                     string   // rosterBin unless set
	env                     []string // the process's environment, the test's unless set
	cmd                     *exec.Cmd
	log                     *testkit.LogBuffer
	exited                  chan struct{}
}

// portsGiven are the ports freePort handed out in this test process: each
// only once.
var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort returns a loopback address with a port nobody listens on now, for
// both TCP and UDP (gossip and DNS use both). It picks below the kernel's
// ephemeral range (32768 and up here), so that a server restarted on its
// ports does not find one taken by another process's outgoing connection
// meanwhile (seen: "listen dns ...: address already in use" on a restart).
func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portsGiven[port] {
			continue // handed out already, maybe not bound yet (seen: DNS and HTTP of two servers on one port)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		portsGiven[port] = true
		return addr
	}
	t.Fatal("no free port")
	return ""
}

func newServer(t *testing.T, name string, extra ...string) *server {
	s := &server{
		name: name, dataDir: filepath.Join(t.TempDir(), name),
		http: freePort(t), dns: freePort(t), raft: freePort(t), gossip: freePort(t),
	}
	s.args = append([]string{"server", "--node", name, "--data-dir", s.dataDir,
		"--http-addr", s.http, "--dns-addr", s.dns, "--raft-addr", s.raft, "--gossip-addr", s.gossip,
		"--log-level", "debug"}, extra...)
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	s.log = &testkit.LogBuffer{}
	bin := s.bin
	if bin == "" {
		bin = rosterBin
	}
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.exited = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.name, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("--- log of %s (last 4 KiB):\n%s", s.name, tail(s.log.String(), 4096))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill ends the process with SIGKILL: no leadership transfer, no leave.
func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

func (s *server) url(path string) string { return "http://" + s.http + path }

var httpc = &http.Client{Timeout: 5 * time.Second}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(method, url string, body any, out any) (int, http.Header, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(data))
	}
	return resp.StatusCode, resp.Header, nil
}

// startCluster starts n servers that form one cluster through gossip; bin
// is the binary (empty: rosterBin).
func startCluster(t *testing.T, n int, bin ...string) []*server {
	t.Helper()
	servers := make([]*server, n)
	for i := range servers {
		servers[i] = newServer(t, fmt.Sprintf("s%d", i+1))
		if len(bin) > 0 {
			servers[i].bin = bin[0]
		}
	}
	for i, s := range servers {
		s.args = append(s.args, "--bootstrap-expect", fmt.Sprint(n))
		if i > 0 {
			s.args = append(s.args, "--join", servers[0].gossip)
		}
		s.start(t)
	}
	for _, s := range servers {
		retry.Eventually(t, 30*time.Second, func() error { return ready(s) })
	}
	return servers
}

func ready(s *server) error {
	_, _, err := do("GET", s.url("/readyz"), nil, nil)
	return err
}

// leaderOf asks every live server for the leader and returns the server all
// of them name.
func leaderOf(servers []*server) (*server, error) {
	var leaderHTTP string
	for _, s := range servers {
		var l api.Leader
		if _, _, err := do("GET", s.url("/v1/cluster/leader"), nil, &l); err != nil {
			return nil, err
		}
		if !l.Known {
			return nil, fmt.Errorf("%s knows no leader", s.name)
		}
		if leaderHTTP != "" && l.HTTPAddr != leaderHTTP {
			return nil, fmt.Errorf("servers disagree on the leader: %s vs %s", leaderHTTP, l.HTTPAddr)
		}
		leaderHTTP = l.HTTPAddr
	}
	for _, s := range servers {
		if s.http == leaderHTTP {
			return s, nil
		}
	}
	return nil, fmt.Errorf("leader %s is not among the live servers", leaderHTTP)
}

func waitForLeader(t *testing.T, servers []*server) *server {
	t.Helper()
	var leader *server
	retry.Eventually(t, 20*time.Second, func() (err error) {
		leader, err = leaderOf(servers)
		return err
	})
	return leader
}

func without(servers []*server, x *server) []*server {
	var out []*server
	for _, s := range servers {
		if s != x {
			out = append(out, s)
		}
	}
	return out
}

func register(s *server, service, id string, req api.RegisterRequest) (api.RegisterResponse, error) {
	var out api.RegisterResponse
	_, _, err := do("PUT", s.url("/v1/services/"+service+"/instances/"+id), req, &out)
	return out, err
}

func list(s *server, service, query string) (api.InstanceList, error) {
	var out api.InstanceList
	_, _, err := do("GET", s.url("/v1/services/"+service+"/instances"+query), nil, &out)
	return out, err
}

func TestRegistrationsThroughFollowersReachEveryServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	servers := startCluster(t, 3)
	leader := waitForLeader(t, servers)
	followers := without(servers, leader)

	const n = 60
	for i := range n {
		f := followers[i%len(followers)]
		id := fmt.Sprintf("web-%d", i)
		got, err := register(f, "web", id, api.RegisterRequest{Address: "10.0.0.1", Port: 8000 + i})
		if err != nil {
			t.Fatalf("register %s through follower %s: %v", id, f.name, err)
		}
		if got.ID != id || got.Status != api.StatusPassing || got.Index == 0 {
			t.Fatalf("register answer = %+v", got)
		}
		// Read-your-writes: the follower that took the write already has it.
		one, err := list(f, "web", "")
		if err != nil {
			t.Fatal(err)
		}
		if one.Index < got.Index || !hasInstance(one, id) {
			t.Fatalf("follower %s answered the write at index %d but lists index %d without %s", f.name, got.Index, one.Index, id)
		}
	}
	for _, s := range servers {
		retry.Eventually(t, 5*time.Second, func() error {
			l, err := list(s, "web", "")
			if err != nil {
				return err
			}
			if len(l.Instances) != n {
				return fmt.Errorf("%s lists %d instances, want %d", s.name, len(l.Instances), n)
			}
			return nil
		})
	}
}

func hasInstance(l api.InstanceList, id string) bool {
	for _, in := range l.Instances {
		if in.ID == id {
			return true
		}
	}
	return false
}

// TestLeaderKillKeepsHeartbeatingInstancesPassing kills the leader with
// SIGKILL while 50 TTL instances heartbeat through the other two servers and
// a writer keeps registering: writes must be accepted again within 2 s, no
// acknowledged registration may be lost, no heartbeating instance may turn
// critical, and the killed server must come back with its data and catch up.
func TestLeaderKillKeepsHeartbeatingInstancesPassing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	// The servers run without the race detector, so the 2 s is asserted
	// in CI as design.md states it.
	servers := startCluster(t, 3, rosterFastBin)
	leader := waitForLeader(t, servers)
	survivors := without(servers, leader)

	const ttl = 3 * time.Second
	const instances = 50

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	// Heartbeats, every 500 ms per instance, through the survivors; 503
	// during the election is retried, any 404/410 is a failure.
	var hbErrs atomic.Int64
	var hbErr atomic.Value
	var registered sync.WaitGroup
	registered.Add(instances)
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each instance registers and then heartbeats at once, the way
			// the client does, so none waits a TTL for the others.
			_, err := register(survivors[i%2], "api", fmt.Sprintf("api-%d", i),
				api.RegisterRequest{Address: "10.0.1.1", Port: 9000 + i, TTL: ttl.String()})
			registered.Done()
			if err != nil {
				hbErrs.Add(1)
				hbErr.Store(err.Error())
				return
			}
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				s := survivors[rand.IntN(2)]
				code, _, err := do("PUT", s.url(fmt.Sprintf("/v1/services/api/instances/api-%d/heartbeat", i)), nil, nil)
				if err != nil && (code == http.StatusNotFound || code == http.StatusGone) {
					hbErrs.Add(1)
					hbErr.Store(err.Error())
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}

	// A writer registering without pause, remembering what was acknowledged.
	var ackMu sync.Mutex
	acked := map[string]bool{}
	var lastOK atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			id := fmt.Sprintf("w-%d", i)
			if _, err := register(survivors[i%2], "writes", id, api.RegisterRequest{Address: "10.0.2.1", Port: 80}); err == nil {
				ackMu.Lock()
				acked[id] = true
				ackMu.Unlock()
				lastOK.Store(time.Now().UnixNano())
			} else {
				<-time.After(20 * time.Millisecond) // back off while there is no leader
			}
		}
	}()

	// Watch for any instance of "api" turning critical.
	var critical atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, s := range survivors {
				if l, err := list(s, "api", "?status=critical"); err == nil && len(l.Instances) > 0 {
					critical.Store(fmt.Sprintf("%s %s lists %s critical", time.Now().Format("15:04:05.000"), s.name, l.Instances[0].ID))
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	registered.Wait()
	retry.Eventually(t, 10*time.Second, func() error {
		if lastOK.Load() == 0 {
			return errors.New("no write acknowledged yet")
		}
		return nil
	})
	killedAt := time.Now()
	t.Logf("killing %s at %s", leader.name, killedAt.Format("15:04:05.000"))
	leader.kill()

	// Writes are accepted again within 2 s of losing the leader.
	retry.Eventually(t, 10*time.Second, func() error {
		if time.Unix(0, lastOK.Load()).Before(killedAt.Add(50 * time.Millisecond)) {
			return errors.New("no write acknowledged since the kill")
		}
		return nil
	})
	// The first acknowledged write after the kill tells the gap.
	recovered := time.Unix(0, lastOK.Load()).Sub(killedAt)
	t.Logf("writes accepted again %v after the leader was killed", recovered.Round(time.Millisecond))
	if limit := 2 * time.Second; recovered > limit {
		t.Errorf("writes accepted again after %v, want under %v", recovered, limit)
	}
	newLeader := waitForLeader(t, survivors)
	t.Logf("new leader %s", newLeader.name)

	// Keep heartbeating well past one TTL after the election: a failover
	// must not expire anything that heartbeats.
	// (This waits on purpose: the property is that nothing happens.)
	<-time.After(2 * ttl)
	cancel()
	wg.Wait()
	if v := critical.Load(); v != nil {
		t.Errorf("a heartbeating instance turned critical: %v", v)
	}
	if n := hbErrs.Load(); n > 0 {
		t.Errorf("%d heartbeats were refused as not registered/gone, e.g. %v", n, hbErr.Load())
	}

	// Every acknowledged registration is on both survivors.
	ackMu.Lock()
	want := len(acked)
	ackMu.Unlock()
	t.Logf("%d registrations acknowledged", want)
	for _, s := range survivors {
		l, err := list(s, "writes", "?consistent")
		if s != newLeader {
			l, err = list(s, "writes", "")
		}
		if err != nil {
			t.Fatal(err)
		}
		missing := 0
		for id := range acked {
			if !hasInstance(l, id) {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s lost %d of %d acknowledged registrations", s.name, missing, want)
		}
	}

	// The killed server restarts with its data and catches up.
	leader.start(t)
	retry.Eventually(t, 30*time.Second, func() error {
		if err := ready(leader); err != nil {
			return err
		}
		l, err := list(leader, "writes", "")
		if err != nil {
			return err
		}
		if len(l.Instances) < want {
			return fmt.Errorf("restarted %s lists %d of %d registrations", leader.name, len(l.Instances), want)
		}
		return nil
	})
}
