package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/store"

	"go.uber.org/goleak"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/raftstore"
	"github.com/rosterhq/roster/registry"
)

func TestMain(m *testing.M) {
	// memberlist's probe of a peer outlives Shutdown until its probe
	// timeout (at most a second) ends it: the real clusters here leave one
	// behind when they are the last test run.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// fakeCluster is the replicated state the fake stores share: one real
// catalog, applied in order at increasing indexes (replication is instant).
//
// Only forward_test.go still uses the fake (it counts the calls a
// forwarded request makes of the leader's store); every other test runs
// over real stores (devnode_test.go). Delete the fake with that last use.
type fakeCluster struct {
	mu     sync.Mutex
	cat    *registry.Catalog
	lessor *lease.Lessor // the leader's lease table, armed
	next   uint64
}

func newFakeCluster() *fakeCluster {
	c := &fakeCluster{cat: registry.New()}
	c.lessor = lease.NewLessor(lease.Config{Catalog: c.cat})
	c.lessor.Promote()
	return c
}

func (c *fakeCluster) apply(cmd []byte) *registry.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	res := c.cat.Apply(c.next, cmd)
	c.lessor.Observe(res.Changed)
	return res
}

// fakeStore implements Store over a fakeCluster: a leader applies writes, a
// follower answers ErrNotLeader to them like raftstore does. It records
// what the handler asked of it.
type fakeStore struct {
	c      *fakeCluster
	leader atomic.Bool
	info   atomic.Pointer[api.Leader]
	// lostLeadership makes writes answer ErrNotLeader although IsLeader
	// says true (leadership lost in the middle of a call).
	lostLeadership atomic.Bool
	notArmed       atomic.Bool

	registers, heartbeatCalls, consistentReads atomic.Int64

	mu        sync.Mutex
	hbBatches [][]api.BatchHeartbeat
	waited    []uint64
	members   []api.Member
	readyErr  error
	restored  []byte
	left      bool
	removed   []string
}

func newLeaderStore(c *fakeCluster) *fakeStore {
	s := &fakeStore{c: c}
	s.leader.Store(true)
	s.info.Store(&api.Leader{ID: "s1", RaftAddr: "127.0.0.1:8300", HTTPAddr: "", Known: true, LastContact: "0s"})
	s.members = []api.Member{{Name: "s1", ID: "s1", State: "alive", RaftRole: "leader"}}
	return s
}

func newFollowerStore(c *fakeCluster, leaderHTTP string) *fakeStore {
	s := &fakeStore{c: c}
	s.info.Store(&api.Leader{ID: "s1", RaftAddr: "127.0.0.1:8300", HTTPAddr: leaderHTTP, Known: leaderHTTP != "", LastContact: "12ms"})
	return s
}

func (s *fakeStore) Catalog() *registry.Catalog { return s.c.cat }

func (s *fakeStore) writable() error {
	if !s.leader.Load() || s.lostLeadership.Load() {
		return store.ErrNotLeader
	}
	return nil
}

func (s *fakeStore) Register(ctx context.Context, inst registry.Instance) (registry.Instance, uint64, error) {
	if err := s.writable(); err != nil {
		return registry.Instance{}, 0, err
	}
	s.registers.Add(1)
	res := s.c.apply(registry.EncodeRegister(inst, time.Now().UnixNano()))
	if res.Err != nil {
		return registry.Instance{}, 0, res.Err
	}
	return res.Instance, res.Index, nil
}

func (s *fakeStore) Deregister(ctx context.Context, service, id string) (uint64, error) {
	if err := s.writable(); err != nil {
		return 0, err
	}
	res := s.c.apply(registry.EncodeDeregister(service, id, time.Now().UnixNano()))
	return res.Index, res.Err
}

func (s *fakeStore) SetMaintenance(ctx context.Context, service, id string, enable bool, reason string) (registry.Instance, uint64, error) {
	if err := s.writable(); err != nil {
		return registry.Instance{}, 0, err
	}
	res := s.c.apply(registry.EncodeMaintenance(service, id, enable, reason, time.Now().UnixNano()))
	return res.Instance, res.Index, res.Err
}

func (s *fakeStore) Heartbeat(ctx context.Context, hbs []api.BatchHeartbeat) ([]error, uint64, error) {
	if err := s.writable(); err != nil {
		return nil, 0, err
	}
	if s.notArmed.Load() {
		return nil, 0, store.ErrNotArmed
	}
	s.heartbeatCalls.Add(1)
	s.mu.Lock()
	s.hbBatches = append(s.hbBatches, append([]api.BatchHeartbeat(nil), hbs...))
	s.mu.Unlock()
	res, err := s.c.lessor.Heartbeats(s.c.cat, hbs, nil)
	if err != nil {
		return nil, 0, err
	}
	if len(res.Updates) == 0 {
		return res.Errs, s.c.cat.Index(), nil
	}
	r := s.c.apply(registry.EncodeStatus(res.Updates, time.Now().UnixNano()))
	return res.Errs, r.Index, r.Err
}

func (s *fakeStore) ConsistentRead(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	s.consistentReads.Add(1)
	return nil
}

func (s *fakeStore) WaitLeaderApplied(ctx context.Context, index, _ uint64) error {
	return s.WaitApplied(ctx, index)
}

func (s *fakeStore) EntryTerm(uint64) uint64 { return 0 }

func (s *fakeStore) WaitApplied(ctx context.Context, index uint64) error {
	s.mu.Lock()
	s.waited = append(s.waited, index)
	s.mu.Unlock()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for s.c.cat.Index() < index {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (s *fakeStore) IsLeader() bool { return s.leader.Load() }

func (s *fakeStore) Leader() api.Leader { return *s.info.Load() }

func (s *fakeStore) ReadStatus() (bool, int64) {
	l := s.Leader()
	if l.LastContact == "never" {
		return l.Known, -1
	}
	d, _ := time.ParseDuration(l.LastContact)
	return l.Known, d.Milliseconds()
}

func (s *fakeStore) Members() []api.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.Member(nil), s.members...)
}

func (s *fakeStore) Raft() api.RaftInfo {
	return api.RaftInfo{
		Servers:      []api.RaftServer{{ID: "s1", Address: "127.0.0.1:8300", Suffrage: "voter", Leader: true}},
		Index:        s.c.cat.Index(),
		State:        "leader",
		Term:         3,
		CommitIndex:  s.c.cat.Index(),
		AppliedIndex: s.c.cat.Index(),
		LastContact:  "0s",
	}
}

func (s *fakeStore) Health(context.Context) (api.ClusterHealth, error) {
	return api.ClusterHealth{}, store.ErrNoLeader
}

func (s *fakeStore) Leases() api.LeaseState {
	return api.LeaseState{Leader: s.leader.Load(), Armed: !s.notArmed.Load(), Leases: 2}
}

func (s *fakeStore) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyErr
}

func (s *fakeStore) Backup(ctx context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "ROSTER-SNAPSHOT index=%d", s.c.cat.Index())
	return err
}

func (s *fakeStore) Restore(ctx context.Context, r io.Reader) error {
	if err := s.writable(); err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.restored = b
	s.mu.Unlock()
	return nil
}

func (s *fakeStore) Leave(ctx context.Context) error {
	s.mu.Lock()
	s.left = true
	s.mu.Unlock()
	return nil
}

func (s *fakeStore) RemovePeer(ctx context.Context, id string) error {
	if err := s.writable(); err != nil {
		return err
	}
	if id == "unknown" {
		return fmt.Errorf("no server %s in the configuration: %w", id, registry.ErrNotFound)
	}
	s.mu.Lock()
	s.removed = append(s.removed, id)
	s.mu.Unlock()
	return nil
}

func (s *fakeStore) waitedIndexes() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.waited...)
}

// testNode is a handler on a real loopback server.
type testNode struct {
	t      *testing.T
	store  *fakeStore       // the fake, for startNode
	dev    *raftstore.Store // the real dev store, for startDevNode
	h      *Handler
	srv    *httptest.Server
	client *http.Client
}

// startNode serves a handler over the fake store on 127.0.0.1:0; cleanup
// closes the handler, then the server.
func startNode(t *testing.T, store *fakeStore, mod func(*Config)) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	n := serveHandler(t, store, ln, mod)
	n.store = store
	return n
}

// addr is the host:port a follower forwards to.
func (n *testNode) addr() string { return strings.TrimPrefix(n.srv.URL, "http://") }

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
}

// do sends one request; hdr holds header name/value pairs.
func (n *testNode) do(method, path, body string, hdr ...string) answer {
	n.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.srv.URL+path, rd)
	if err != nil {
		n.t.Fatalf("new request: %v", err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless it answers want.
func (n *testNode) must(want int, method, path, body string, hdr ...string) answer {
	n.t.Helper()
	a := n.do(method, path, body, hdr...)
	if a.status != want {
		n.t.Fatalf("%s %s: got %s, want %d", method, path, a, want)
	}
	return a
}

// register registers an instance with the given body through the API.
func (n *testNode) register(service, id, body string) api.RegisterResponse {
	n.t.Helper()
	a := n.must(http.StatusOK, http.MethodPut, "/v1/services/"+service+"/instances/"+id, body)
	var out api.RegisterResponse
	decode(n.t, a.body, &out)
	return out
}

func (n *testNode) list(path string) (api.InstanceList, answer) {
	n.t.Helper()
	a := n.must(http.StatusOK, http.MethodGet, path, "")
	var out api.InstanceList
	decode(n.t, a.body, &out)
	return out, a
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, b, err)
	}
}

func headerIndex(t *testing.T, a answer) uint64 {
	t.Helper()
	var n uint64
	if _, err := fmt.Sscan(a.header.Get(api.HeaderIndex), &n); err != nil {
		t.Fatalf("%s header %q: %v", api.HeaderIndex, a.header.Get(api.HeaderIndex), err)
	}
	return n
}

func ids(l api.InstanceList) string {
	var out []string
	for _, in := range l.Instances {
		out = append(out, in.ID)
	}
	return strings.Join(out, ",")
}

// waitWatchers waits until the handler has n watches open.
func waitWatchers(t *testing.T, h *Handler, n int64) {
	t.Helper()
	retry.Eventually(t, 5*time.Second, func() error {
		if got := h.watchers.Load(); got != n {
			return fmt.Errorf("%d watchers open, want %d", got, n)
		}
		return nil
	})
}

// async runs a request in the background; its answer arrives on the channel.
func (n *testNode) async(method, path string, hdr ...string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		req, err := http.NewRequest(method, n.srv.URL+path, nil)
		if err != nil {
			ch <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := n.client.Do(req)
		if err != nil {
			ch <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil && !errors.Is(err, io.EOF) {
			ch <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		ch <- answer{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	return ch
}

// await receives an async answer within timeout.
func await(t *testing.T, ch <-chan answer, timeout time.Duration) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.status < 0 {
			t.Fatalf("request failed: %s", a.body)
		}
		return a
	case <-time.After(timeout):
		t.Fatalf("no answer within %v", timeout)
		return answer{}
	}
}

const webBody = `{"address":"10.0.0.1","port":8080,"tags":["v1"],"ttl":"10s"}`
