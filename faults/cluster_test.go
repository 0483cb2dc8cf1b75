//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// Every server sits on two private networks that the test creates:
//
//   - the cluster network carries Raft, gossip and the followers' forwarding
//     to the leader; partitions disconnect a server from it;
//   - the client network is how the test's clients reach each server's HTTP
//     port. Inter-container traffic is disabled on it (enable_icc=false), so
//     servers can only talk over the cluster network, and a partitioned
//     server stays reachable to clients, as a real minority would.
//
// Both networks are internal (no default route), so a server cut from the
// cluster network has no other path to its peers.
const (
	httpPort   = 8500
	raftPort   = 8300
	gossipPort = 8301
)

// node is one roster server container.
type node struct {
	name      string // the Roster node name: n1, n2, …
	container string
	clusterIP string
	clientIP  string
	removed   bool // replaced by another server; no longer part of the cluster
}

func (n *node) url(path string) string {
	return "http://" + n.clientIP + ":" + strconv.Itoa(httpPort) + path
}

func (n *node) raftAddr() string { return n.clusterIP + ":" + strconv.Itoa(raftPort) }

func (n *node) gossipAddr() string { return n.clusterIP + ":" + strconv.Itoa(gossipPort) }

// nodeSpec says how to start one server.
type nodeSpec struct {
	name            string
	octet           int      // last octet of both of its addresses
	join            []string // gossip addresses
	bootstrapExpect int
	tmpfsSize       string // non-empty: /data is a tmpfs of this size
}

// cluster is a set of roster containers on the test's two networks.
type cluster struct {
	t          *testing.T
	prefix     string
	clusterNet string
	clientNet  string
	clusterPfx string // "10.213.N." for the cluster network
	clientPfx  string // "10.214.N." for the client network
	http       *http.Client

	mu    sync.Mutex
	nodes []*node
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// newCluster creates the test's two networks and registers the cleanup
// that removes every container and both networks, even when the test fails.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	requireDocker(t)
	name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	c := &cluster{
		t:      t,
		prefix: "rf-" + suite.run + "-" + name,
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	t.Cleanup(c.destroy)
	c.createNetworks()
	return c
}

func (c *cluster) createNetworks() {
	t := c.t
	label := "roster.faults.run=" + suite.run
	for attempt := 0; ; attempt++ {
		n := rand.IntN(250) + 1
		clusterNet, clientNet := c.prefix+"-cluster", c.prefix+"-client"
		_, err := docker(t.Context(), "network", "create", "--internal", "--label", label,
			"--subnet", fmt.Sprintf("10.213.%d.0/24", n), clusterNet)
		if err == nil {
			c.clusterNet = clusterNet
			_, err = docker(t.Context(), "network", "create", "--internal", "--label", label,
				"-o", "com.docker.network.bridge.enable_icc=false",
				"--subnet", fmt.Sprintf("10.214.%d.0/24", n), clientNet)
			if err == nil {
				c.clientNet = clientNet
				c.clusterPfx = fmt.Sprintf("10.213.%d.", n)
				c.clientPfx = fmt.Sprintf("10.214.%d.", n)
				return
			}
			_, _ = docker(context.Background(), "network", "rm", clusterNet)
			c.clusterNet = ""
		}
		if attempt >= 20 || !strings.Contains(err.Error(), "overlap") {
			t.Fatalf("create networks: %v", err)
		}
	}
}

// destroy removes the containers (with their anonymous volumes) and the
// networks; on failure it first prints the tail of every server's log.
func (c *cluster) destroy() {
	ctx := context.Background()
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	if c.t.Failed() {
		for _, n := range nodes {
			out, err := docker(ctx, "logs", "--tail", "80", n.container)
			if err != nil {
				out = err.Error()
			}
			c.t.Logf("--- last log lines of %s (%s):\n%s", n.name, n.container, out)
		}
	}
	for _, n := range nodes {
		if _, err := docker(ctx, "rm", "-f", "-v", n.container); err != nil {
			c.t.Logf("cleanup: %v", err)
		}
	}
	for _, net := range []string{c.clientNet, c.clusterNet} {
		if net == "" {
			continue
		}
		if _, err := docker(ctx, "network", "rm", net); err != nil {
			c.t.Logf("cleanup: %v", err)
		}
	}
	c.http.CloseIdleConnections()
}

// serverArgs are the roster flags for one server: HTTP and DNS on every
// interface (clients come in on the client network, forwarded requests on
// the cluster network), Raft and gossip on the cluster network only.
func (c *cluster) serverArgs(n *node, spec nodeSpec) []string {
	args := []string{"server",
		"--node", n.name,
		"--data-dir", "/data",
		"--http-addr", httpBind(n),
		"--dns-addr", "0.0.0.0:8600",
		"--raft-addr", n.raftAddr(),
		"--gossip-addr", n.gossipAddr(),
		"--advertise-addr", n.clusterIP,
		// The whole workload comes from the test host's one address:
		// per-client rate limits off.
		"--client-write-rate", "-1", "--client-heartbeat-rate", "-1",
	}
	if spec.bootstrapExpect > 0 {
		args = append(args, "--bootstrap-expect", strconv.Itoa(spec.bootstrapExpect))
	}
	for _, j := range spec.join {
		args = append(args, "--join", j)
	}
	return args
}

// httpBind is the HTTP listen address of a server.
func httpBind(*node) string { return "0.0.0.0:" + strconv.Itoa(httpPort) }

// start creates and starts one server container.
func (c *cluster) start(spec nodeSpec) *node {
	t := c.t
	t.Helper()
	n := &node{
		name:      spec.name,
		container: c.prefix + "-" + spec.name,
		clusterIP: c.clusterPfx + strconv.Itoa(spec.octet),
		clientIP:  c.clientPfx + strconv.Itoa(spec.octet),
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	args := []string{"create", "--name", n.container,
		"--label", "roster.faults.run=" + suite.run,
		"--network", c.clusterNet, "--ip", n.clusterIP,
		"--stop-timeout", "30",
	}
	if spec.tmpfsSize != "" {
		args = append(args, "--mount", "type=tmpfs,destination=/data,tmpfs-size="+spec.tmpfsSize)
	}
	args = append(args, suite.image)
	args = append(args, c.serverArgs(n, spec)...)
	mustDocker(t, args...)
	mustDocker(t, "network", "connect", "--ip", n.clientIP, c.clientNet, n.container)
	mustDocker(t, "start", n.container)
	return n
}

// startCluster starts size servers that form one cluster through
// --bootstrap-expect and --join, and waits until they have a leader and
// all answer /readyz.
func startCluster(t *testing.T, size int) *cluster {
	t.Helper()
	c := newCluster(t)
	specs := make([]nodeSpec, size)
	for i := range specs {
		specs[i] = nodeSpec{name: fmt.Sprintf("n%d", i+1), octet: 11 + i, bootstrapExpect: size}
	}
	for i := range specs {
		for j := range specs {
			if i != j {
				specs[i].join = append(specs[i].join, c.clusterPfx+strconv.Itoa(specs[j].octet)+":"+strconv.Itoa(gossipPort))
			}
		}
	}
	for _, s := range specs {
		c.start(s)
	}
	c.waitHealthy(60 * time.Second)
	return c
}

// live returns the servers that are part of the cluster (not replaced).
func (c *cluster) live() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, n := range c.nodes {
		if !n.removed {
			out = append(out, n)
		}
	}
	return out
}

// byRaftAddr finds the live server with that Raft address.
func (c *cluster) byRaftAddr(addr string) *node {
	for _, n := range c.live() {
		if n.raftAddr() == addr {
			return n
		}
	}
	return nil
}

// reply is an HTTP answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the error body of a non-2xx reply.
func (r reply) apiError() string {
	var e api.Error
	if json.Unmarshal(r.body, &e) == nil && e.Code != "" {
		return e.Code + ": " + e.Message
	}
	return strings.TrimSpace(string(r.body))
}

// do sends one request with a deadline and reads the whole answer.
func (c *cluster) do(ctx context.Context, timeout time.Duration, method, url string, body any) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// getJSON fetches url and decodes a 200 answer into v.
func (c *cluster) getJSON(ctx context.Context, url string, v any) (reply, error) {
	r, err := c.do(ctx, 3*time.Second, http.MethodGet, url, nil)
	if err != nil {
		return r, err
	}
	if r.status != http.StatusOK {
		return r, fmt.Errorf("GET %s: %d %s", url, r.status, r.apiError())
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return r, fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return r, nil
}

// leaderOf asks the given servers who leads and returns the server that a
// majority of them (quorum) name, or an error.
func (c *cluster) leaderOf(ctx context.Context, nodes []*node, quorum int) (*node, error) {
	type answer struct {
		leader api.Leader
		err    error
	}
	answers := make([]answer, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.getJSON(ctx, n.url("/v1/cluster/leader"), &answers[i].leader)
			if err != nil {
				answers[i].err = fmt.Errorf("%s: %w", n.name, err)
			}
		}()
	}
	wg.Wait()
	votes := map[string]int{}
	var errs []error
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		if a.leader.Known && a.leader.RaftAddr != "" {
			votes[a.leader.RaftAddr]++
		}
	}
	for addr, v := range votes {
		if v >= quorum {
			if n := c.byRaftAddr(addr); n != nil {
				return n, nil
			}
			return nil, fmt.Errorf("leader %s is not a server of this cluster", addr)
		}
	}
	return nil, fmt.Errorf("no leader named by %d of %d servers (votes %v): %w", quorum, len(nodes), votes, errors.Join(errs...))
}

// waitForLeader waits until a majority of the live servers agree on a leader.
func (c *cluster) waitForLeader(d time.Duration) *node {
	c.t.Helper()
	live := c.live()
	var leader *node
	retry.Eventually(c.t, d, func() error {
		var err error
		leader, err = c.leaderOf(c.t.Context(), live, len(live)/2+1)
		return err
	})
	return leader
}

// ready returns nil when the server answers /readyz with 200.
func (c *cluster) ready(ctx context.Context, n *node) error {
	r, err := c.do(ctx, 2*time.Second, http.MethodGet, n.url("/readyz"), nil)
	if err != nil {
		return fmt.Errorf("%s /readyz: %w", n.name, err)
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("%s /readyz: %d %s", n.name, r.status, strings.TrimSpace(string(r.body)))
	}
	return nil
}

// raftInfo fetches one server's view of the Raft configuration.
func (c *cluster) raftInfo(ctx context.Context, n *node) (api.RaftInfo, error) {
	var info api.RaftInfo
	_, err := c.getJSON(ctx, n.url("/v1/cluster/raft"), &info)
	return info, err
}

// waitHealthy waits until every live server is ready, a majority agrees on
// the leader, and the leader's Raft configuration has exactly the live
// servers, all voters.
func (c *cluster) waitHealthy(d time.Duration) *node {
	c.t.Helper()
	live := c.live()
	var leader *node
	retry.Eventually(c.t, d, func() error {
		ctx := c.t.Context()
		for _, n := range live {
			if err := c.ready(ctx, n); err != nil {
				return err
			}
		}
		l, err := c.leaderOf(ctx, live, len(live)/2+1)
		if err != nil {
			return err
		}
		info, err := c.raftInfo(ctx, l)
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, n := range live {
			want[n.raftAddr()] = true
		}
		for _, s := range info.Servers {
			if !want[s.Address] {
				return fmt.Errorf("raft configuration has %s (%s), not a live server: %+v", s.ID, s.Address, info.Servers)
			}
			if !strings.EqualFold(s.Suffrage, "voter") {
				return fmt.Errorf("raft server %s is %s, not a voter yet", s.Address, s.Suffrage)
			}
			delete(want, s.Address)
		}
		if len(want) > 0 {
			return fmt.Errorf("raft configuration lacks %v: %+v", want, info.Servers)
		}
		leader = l
		return nil
	})
	return leader
}

// instancesOn reads a service's instances (any status) from one server's
// local state, as id -> address.
func (c *cluster) instancesOn(ctx context.Context, n *node, service string, consistent bool) (map[string]string, error) {
	url := n.url("/v1/services/" + service + "/instances?status=any")
	if consistent {
		url += "&consistent"
	}
	var list api.InstanceList
	if _, err := c.getJSON(ctx, url, &list); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list.Instances))
	for _, in := range list.Instances {
		out[in.ID] = in.Address
	}
	return out, nil
}

// waitConverged waits until every live server's local view of the services
// equals the leader's consistent view, and returns that view per service.
func (c *cluster) waitConverged(d time.Duration, services ...string) map[string]map[string]string {
	c.t.Helper()
	leader := c.waitHealthy(d)
	var views map[string]map[string]string
	retry.Eventually(c.t, d, func() error {
		ctx := c.t.Context()
		views = map[string]map[string]string{}
		for _, s := range services {
			want, err := c.instancesOn(ctx, leader, s, true)
			if err != nil {
				return err
			}
			views[s] = want
			for _, n := range c.live() {
				got, err := c.instancesOn(ctx, n, s, false)
				if err != nil {
					return err
				}
				if diff := diffMaps(want, got); diff != "" {
					return fmt.Errorf("%s's view of %s differs from the leader's: %s", n.name, s, diff)
				}
			}
		}
		return nil
	})
	return views
}

func diffMaps(want, got map[string]string) string {
	var b strings.Builder
	for k, v := range want {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, " missing %s;", k)
		} else if g != v {
			fmt.Fprintf(&b, " %s=%s want %s;", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, " extra %s;", k)
		}
	}
	return b.String()
}

// hold lets a fault last d while the workload runs (this is the fault's
// duration, not a wait for a condition). It ends early if the test ends.
func hold(t testing.TB, d time.Duration) {
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}
