package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// Writes through a follower on real 3-server clusters (node.Start on
// loopback): batched forwarding (fwdbatch.go) must give every client the
// answer it would get from the leader, read-your-writes on the follower,
// each write authorized with its own token, and no acknowledged write lost
// when the leader goes.

// startCluster3 starts three servers that form one Raft cluster (mod
// changes each one's configuration) and waits until every one knows the
// leader's HTTP address, which it forwards to.
func startCluster3(t *testing.T, mod func(*node.Config)) []*node.Node {
	t.Helper()
	nodes := testkit.StartCluster(t, 3, func(_ int, c *node.Config) {
		if mod != nil {
			mod(c)
		}
	})
	for _, n := range nodes {
		retry.Eventually(t, 30*time.Second, func() error {
			if l := n.Store().Leader(); !l.Known || l.HTTPAddr == "" {
				return fmt.Errorf("%s knows no leader with an HTTP address yet", n.HTTPAddr())
			}
			return nil
		})
	}
	return nodes
}

// leaderAndFollowers returns the current leader and the other servers.
func leaderAndFollowers(t *testing.T, nodes []*node.Node) (*node.Node, []*node.Node) {
	t.Helper()
	var l *node.Node
	var rest []*node.Node
	retry.Eventually(t, 10*time.Second, func() error {
		l, rest = nil, nil
		for _, n := range nodes {
			if n.Store().IsLeader() {
				l = n
			} else {
				rest = append(rest, n)
			}
		}
		if l == nil {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return l, rest
}

// reply is one HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // the request failed (no answer)
}

func (r reply) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// apiErr decodes an error answer.
func (r reply) apiErr() api.Error {
	var e api.Error
	_ = json.Unmarshal(r.body, &e)
	return e
}

var testClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}

// send sends one request to addr; hdr holds header name/value pairs.
func send(addr, method, path, body string, hdr ...string) reply {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		return reply{err: err}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func answerIndex(t *testing.T, r reply) uint64 {
	t.Helper()
	idx, err := strconv.ParseUint(r.header.Get(api.HeaderIndex), 10, 64)
	if err != nil || idx == 0 {
		t.Fatalf("answer %s has X-Roster-Index %q", r, r.header.Get(api.HeaderIndex))
	}
	return idx
}

// metric reads one sample of a server's /metrics.
func metric(t *testing.T, n *node.Node, sample string) float64 {
	t.Helper()
	r := send(n.HTTPAddr(), http.MethodGet, "/metrics", "")
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", sample, v)
			}
			return f
		}
	}
	return 0
}

func TestFollowerBatchesConcurrentWritesWithReadYourWrites(t *testing.T) {
	nodes := startCluster3(t, nil)
	_, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	const clients, each = 32, 8
	var wg sync.WaitGroup
	errs := make(chan error, clients*each*3)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w-%d-%d", c, i)
				svc := fmt.Sprintf("svc%d", c%4)
				var reg reply
				if i%2 == 0 {
					reg = send(f.HTTPAddr(), http.MethodPut, "/v1/services/"+svc+"/instances/"+id, `{"address":"10.0.0.1","port":80,"ttl":"1m"}`)
				} else { // the Consul API's registration takes the same path
					reg = send(f.HTTPAddr(), http.MethodPut, "/v1/agent/service/register",
						fmt.Sprintf(`{"ID":%q,"Name":%q,"Address":"10.0.0.1","Port":80}`, id, svc))
				}
				if reg.err != nil || reg.status != http.StatusOK {
					errs <- fmt.Errorf("register %s through the follower: %s", id, reg)
					continue
				}
				idx, _ := strconv.ParseUint(reg.header.Get(api.HeaderIndex), 10, 64)
				if i%2 == 0 {
					var rr api.RegisterResponse
					if err := json.Unmarshal(reg.body, &rr); err != nil || rr.Index != idx || rr.ID != id || idx == 0 {
						errs <- fmt.Errorf("register %s answered %s with index header %d", id, reg, idx)
					}
				}
				// Read-your-writes: the follower's own state has it now.
				got := send(f.HTTPAddr(), http.MethodGet, "/v1/services/"+svc+"/instances/"+id, "")
				if got.status != http.StatusOK {
					errs <- fmt.Errorf("read %s from the follower right after writing it: %s", id, got)
				}
				if i%4 == 3 {
					del := send(f.HTTPAddr(), http.MethodDelete, "/v1/services/"+svc+"/instances/"+id, "")
					if del.status != http.StatusOK || del.header.Get(api.HeaderIndex) == "" {
						errs <- fmt.Errorf("deregister %s through the follower: %s", id, del)
						continue
					}
					if got := send(f.HTTPAddr(), http.MethodGet, "/v1/services/"+svc+"/instances/"+id, ""); got.status != http.StatusNotFound {
						errs <- fmt.Errorf("read %s from the follower right after deregistering it: %s", id, got)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	writes := metric(t, f, `roster_http_forwarded_total{kind="write"}`)
	batches := metric(t, f, `roster_http_forwarded_total{kind="write_batch"}`)
	t.Logf("%v writes forwarded in %v batches", writes, batches)
	if want := float64(clients * (each + each/4)); writes != want || batches == 0 || batches >= writes {
		t.Fatalf("%v writes forwarded in %v batches; want %v writes, coalesced", writes, batches, want)
	}
}

func TestForwardedBatchAnswersEachWriteAsTheLeaderWould(t *testing.T) {
	nodes := startCluster3(t, nil)
	l, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	good := `{"address":"10.0.0.1","port":80}`
	if r := send(l.HTTPAddr(), http.MethodPut, "/v1/services/db/instances/taken", good); r.status != http.StatusOK {
		t.Fatalf("register on the leader: %s", r)
	}
	// The same writes, sent to the leader by the test and through the
	// follower by several clients at once (so they share batches).
	type write struct{ method, path, body string }
	writes := []write{
		{http.MethodPut, "/v1/services/web/instances/ok-1", good},
		{http.MethodPut, "/v1/services/web/instances/bad-port", `{"address":"10.0.0.1","port":"x"}`},
		{http.MethodPut, "/v1/services/web/instances/taken", good},
		{http.MethodPut, "/v1/services/no_such_name/instances/x", good},
		{http.MethodPut, "/v1/services/web/instances/huge", `{"address":"10.0.0.1","port":80,"output":"` + strings.Repeat("x", 2<<20) + `"}`},
		{http.MethodPut, "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.9","Service":{"ID":"ok-2","Service":"web","Port":81}}`},
		{http.MethodPut, "/v1/agent/service/register", `{"ID":"bad","Name":"web","Port":"x"}`},
		{http.MethodPut, "/v1/agent/service/deregister/never-registered", ""},
		{http.MethodDelete, "/v1/services/web/instances/never-registered", ""},
	}
	viaFollower := make([]reply, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { viaFollower[i] = send(f.HTTPAddr(), w.method, w.path, w.body) })
	}
	wg.Wait()
	for i, w := range writes {
		direct := send(l.HTTPAddr(), w.method, strings.Replace(w.path, "ok-", "direct-", 1), strings.Replace(w.body, "ok-", "direct-", 1))
		got := viaFollower[i]
		if got.err != nil || direct.err != nil {
			t.Fatalf("%s %s: %v / %v", w.method, w.path, got.err, direct.err)
		}
		if got.status != direct.status || got.header.Get("Content-Type") != direct.header.Get("Content-Type") {
			t.Errorf("%s %s through the follower: %s; from the leader: %s", w.method, w.path, got, direct)
			continue
		}
		if got.status >= 400 {
			if g, d := got.apiErr(), direct.apiErr(); g.Code != d.Code || g.Field != d.Field ||
				strings.ReplaceAll(g.Message, "ok-", "direct-") != d.Message && !strings.Contains(d.Message, "direct-") {
				t.Errorf("%s %s through the follower: %+v; from the leader: %+v", w.method, w.path, g, d)
			}
		}
		native := strings.HasPrefix(w.path, "/v1/services/")
		for _, h := range []string{api.HeaderIndex, api.HeaderKnownLeader, api.HeaderLastContact} {
			if native && got.header.Get(h) == "" {
				t.Errorf("%s %s through the follower lacks %s: %v", w.method, w.path, h, got.header)
			}
		}
		if got.status == http.StatusOK && native {
			if idx := answerIndex(t, got); f.Store().Catalog().Index() < idx {
				t.Errorf("%s %s answered at index %d before the follower applied it", w.method, w.path, idx)
			}
		}
	}
	if got := send(f.HTTPAddr(), http.MethodGet, "/v1/services/web/instances/ok-2", ""); got.status != http.StatusOK {
		t.Errorf("the Consul catalog registration is not on the follower: %s", got)
	}

}

func TestForwardedWritesCountAgainstTheirOwnClientsLimit(t *testing.T) {
	nodes := startCluster3(t, func(c *node.Config) { c.HTTP.WriteRate, c.HTTP.WriteBurst = 2, 4 })
	l, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	good := `{"address":"10.0.0.1","port":80}`
	// Through the follower, the leader counts this test's address: past
	// the burst, 429 with Retry-After.
	var limited reply
	for i := range 20 {
		r := send(f.HTTPAddr(), http.MethodPut, fmt.Sprintf("/v1/services/web/instances/r-%d", i), good)
		if r.status == http.StatusTooManyRequests {
			limited = r
			break
		}
	}
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" || limited.apiErr().Code != api.CodeTooMany {
		t.Fatalf("20 writes at a 2/s limit through the follower: last answer %s", limited)
	}
	// In one batch, each write counts for its own client: one client past
	// its burst does not limit another behind the same follower.
	var items []map[string]any
	for i := range 6 {
		it := regItem(fmt.Sprintf("/v1/services/web/instances/a-%d", i), good, "")
		it["client"] = "10.1.1.1"
		items = append(items, it)
	}
	other := regItem("/v1/services/web/instances/b-0", good, "")
	other["client"] = "10.2.2.2"
	items = append(items, other)
	r, lines := sendBatch(t, l.HTTPAddr(), items, api.HeaderForwarded, "1")
	if r.status != http.StatusOK || len(lines) != len(items) {
		t.Fatalf("batch answered %s", r)
	}
	ok, refused := 0, 0
	for i := range 6 {
		switch lines[i].Status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	if ok != 4 || refused != 2 || lines[6].Status != http.StatusOK {
		t.Fatalf("client 10.1.1.1: %d passed, %d refused (want 4 and 2); client 10.2.2.2: %d", ok, refused, lines[6].Status)
	}
}

// batchLine is one line of a PUT /v1/cluster/forward answer.
type batchLine struct {
	I      int         `json:"i"`
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// sendBatch sends a batch of forwarded writes as a server would and reads
// its lines by write.
func sendBatch(t *testing.T, addr string, items []map[string]any, hdr ...string) (reply, map[int]batchLine) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"writes": items})
	if err != nil {
		t.Fatal(err)
	}
	r := send(addr, http.MethodPut, "/v1/cluster/forward", string(body), hdr...)
	lines := map[int]batchLine{}
	if r.status != http.StatusOK {
		return r, lines
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var l batchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("batch answer line %q: %v", sc.Text(), err)
		}
		lines[l.I] = l
	}
	return r, lines
}

func regItem(path, body, token string) map[string]any {
	it := map[string]any{"method": "PUT", "uri": path, "client": "127.0.0.1",
		"body": base64.StdEncoding.EncodeToString([]byte(body))}
	if token != "" {
		it["header"] = map[string][]string{"X-Roster-Token": {token}}
	}
	return it
}

func TestForwardedBatchMixingGoodAndBadWrites(t *testing.T) {
	nodes := startCluster3(t, nil)
	l, followers := leaderAndFollowers(t, nodes)
	good := `{"address":"10.0.0.1","port":80}`
	fw := []string{api.HeaderForwarded, "1"}
	if r := send(l.HTTPAddr(), http.MethodPut, "/v1/services/db/instances/taken", good); r.status != http.StatusOK {
		t.Fatalf("register on the leader: %s", r)
	}
	r, lines := sendBatch(t, l.HTTPAddr(), []map[string]any{
		regItem("/v1/services/web/instances/a", good, ""),
		regItem("/v1/services/web/instances/b", `{"port":"x"}`, ""),
		regItem("/v1/services/web/instances/taken", good, ""), // db holds the id: 409
		regItem("/v1/agent/service/register", `{"ID":"c","Name":"api","Port":90}`, ""),
		{"method": "PUT", "uri": "/v1/cluster/forward", "client": "127.0.0.1"}, // no nesting
		{"method": "GET", "uri": "/v1/services/web/instances", "client": "127.0.0.1"},
		regItem("/v1/services/web/instances/d", good, ""),
	}, fw...)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("batch answered %s", r)
	}
	want := map[int]int{0: 200, 1: 400, 2: 409, 3: 200, 4: 400, 5: 400, 6: 200}
	if len(lines) != len(want) {
		t.Fatalf("batch answered %d lines, want %d: %s", len(lines), len(want), r.body)
	}
	for i, st := range want {
		if lines[i].Status != st {
			t.Errorf("write %d answered %d %s, want %d", i, lines[i].Status, lines[i].Body, st)
		}
		if lines[i].Header.Get(api.HeaderIndex) == "" {
			t.Errorf("write %d's answer lacks X-Roster-Index: %v", i, lines[i].Header)
		}
	}
	for _, path := range []string{"/v1/services/web/instances/a", "/v1/services/web/instances/d", "/v1/services/api/instances/c"} {
		if g := send(l.HTTPAddr(), http.MethodGet, path, ""); g.status != http.StatusOK {
			t.Errorf("%s after the batch: %s", path, g)
		}
	}
	// A follower refuses a batch whole (it is not the leader): the sender
	// answers each write 503 and its clients retry.
	r, _ = sendBatch(t, followers[0].HTTPAddr(), []map[string]any{regItem("/v1/services/web/instances/e", good, "")}, fw...)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.apiErr().Code != api.CodeNoLeader {
		t.Fatalf("batch sent to a follower answered %s", r)
	}
	// A request that is not a forwarded one is refused, and a batch
	// cannot hold more than 256 writes.
	r, _ = sendBatch(t, l.HTTPAddr(), []map[string]any{regItem("/v1/services/web/instances/e", good, "")})
	if r.status != http.StatusForbidden {
		t.Fatalf("unmarked batch answered %s", r)
	}
	many := make([]map[string]any, 257)
	for i := range many {
		many[i] = regItem(fmt.Sprintf("/v1/services/web/instances/m%d", i), good, "")
	}
	if r, _ = sendBatch(t, l.HTTPAddr(), many, fw...); r.status != http.StatusBadRequest || r.apiErr().Field != "writes" {
		t.Fatalf("batch of 257 answered %s", r)
	}
}

func TestForwardedWritesAreAuthorizedWithTheirOwnToken(t *testing.T) {
	nodes := startCluster3(t, func(c *node.Config) {
		c.Security.ACL = true
		c.Security.ACLDefault = "deny"
	})
	l, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	boot := send(f.HTTPAddr(), http.MethodPut, "/v1/acl/bootstrap", "")
	var mgmt api.ACLToken
	if err := json.Unmarshal(boot.body, &mgmt); boot.status != http.StatusOK || err != nil {
		t.Fatalf("bootstrap through the follower: %s", boot)
	}
	made := send(f.HTTPAddr(), http.MethodPut, "/v1/acl/tokens", `{"rules":["service:write:web"]}`, "X-Roster-Token", mgmt.Secret)
	var web api.ACLToken
	if err := json.Unmarshal(made.body, &web); made.status != http.StatusOK || err != nil {
		t.Fatalf("token through the follower: %s", made)
	}
	good := `{"address":"10.0.0.1","port":80,"ttl":"1m"}`
	tk := "X-Roster-Token"
	// Through the follower, concurrently (sharing batches): each write
	// gets what its own token allows.
	cases := []struct {
		path, token string
		want        int
	}{
		{"/v1/services/web/instances/w1", web.Secret, 200},
		{"/v1/services/db/instances/d1", web.Secret, 403},
		{"/v1/services/web/instances/w2", "", 403},
		{"/v1/services/db/instances/d2", mgmt.Secret, 200},
		{"/v1/services/web/instances/w3", "not-a-token", 403},
	}
	got := make([]reply, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			var hdr []string
			if c.token != "" {
				hdr = []string{tk, c.token}
			}
			got[i] = send(f.HTTPAddr(), http.MethodPut, c.path, good, hdr...)
		})
	}
	wg.Wait()
	for i, c := range cases {
		if got[i].status != c.want {
			t.Errorf("PUT %s through the follower: %s, want %d", c.path, got[i], c.want)
		}
	}
	// A heartbeat through the follower is forwarded with its own token.
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/w1/heartbeat", "", tk, web.Secret); r.status != http.StatusOK {
		t.Errorf("heartbeat with the web token through the follower: %s", r)
	}
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/w1/heartbeat", ""); r.status != http.StatusForbidden {
		t.Errorf("anonymous heartbeat through the follower: %s", r)
	}

	// Calling the internal route directly gains nothing: each write is
	// checked with its own token, whatever the batch request carries.
	fw := []string{api.HeaderForwarded, "1", tk, mgmt.Secret}
	r, lines := sendBatch(t, l.HTTPAddr(), []map[string]any{
		regItem("/v1/services/db/instances/x1", good, ""),
		regItem("/v1/services/db/instances/x2", good, web.Secret),
		regItem("/v1/services/web/instances/x3", good, web.Secret),
	}, fw...)
	if r.status != http.StatusOK || lines[0].Status != 403 || lines[1].Status != 403 || lines[2].Status != 200 {
		t.Fatalf("batch sent directly answered %s", r)
	}
	r, _ = sendBatch(t, l.HTTPAddr(), []map[string]any{regItem("/v1/services/db/instances/x4", good, mgmt.Secret)}, tk, mgmt.Secret)
	if r.status != http.StatusForbidden {
		t.Fatalf("unmarked batch answered %s", r)
	}
	for _, id := range []string{"x1", "x2", "d1"} {
		if g := send(l.HTTPAddr(), http.MethodGet, "/v1/services/db/instances/"+id, "", tk, mgmt.Secret); g.status != http.StatusNotFound {
			t.Errorf("refused write %s is in the catalog: %s", id, g)
		}
	}
}

func TestLeaderLossMidBatchLosesNoAcknowledgedWrite(t *testing.T) {
	nodes := startCluster3(t, nil)
	l, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	const clients = 16
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("l-%d-%d", c, i)
				r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/"+id, `{"address":"10.0.0.1","port":80}`)
				mu.Lock()
				switch {
				case r.err == nil && r.status == http.StatusOK:
					acked[id] = true
				case r.err == nil && r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "":
				default:
					bad = append(bad, id+": "+r.String())
				}
				mu.Unlock()
			}
		})
	}
	// Let batches flow, then take the leader away while they do.
	retry.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 50 {
			return fmt.Errorf("%d writes acknowledged so far", len(acked))
		}
		return nil
	})
	testkit.Close(l)
	// Writes come back once the two left elect a leader.
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	retry.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < before+50 {
			return fmt.Errorf("%d writes acknowledged since the leader went", len(acked)-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d answers neither 200 nor 503 with Retry-After, first %s", len(bad), bad[0])
	}
	// Every acknowledged write is on both servers left.
	for _, n := range []*node.Node{f, followers[1]} {
		retry.Eventually(t, 10*time.Second, func() error {
			cat := n.Store().Catalog()
			var missing []string
			for id := range acked {
				if _, ok := cat.Instance(id); !ok {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%s lacks %d acknowledged writes, e.g. %s", n.HTTPAddr(), len(missing), missing[0])
			}
			return nil
		})
	}
	t.Logf("%d writes acknowledged, %d of them after the leader went", len(acked), len(acked)-before)
}

func TestFollowerForwardsLeaderWork(t *testing.T) {
	nodes := startCluster3(t, nil)
	l, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/w1", `{"address":"10.0.0.1","port":80,"ttl":"1m"}`); r.status != http.StatusOK {
		t.Fatalf("register through the follower: %s", r)
	}
	// Heartbeats, single (coalesced) and batched, renew at the leader.
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/w1/heartbeat", ""); r.status != http.StatusOK {
		t.Fatalf("heartbeat through the follower: %s", r)
	}
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/zz/heartbeat", ""); r.status != http.StatusNotFound {
		t.Fatalf("heartbeat of an unknown instance through the follower: %s", r)
	}
	r := send(f.HTTPAddr(), http.MethodPut, "/v1/heartbeats", `{"instances":[{"service":"web","id":"w1"},{"service":"web","id":"zz"}]}`)
	var hr api.HeartbeatsResponse
	if err := json.Unmarshal(r.body, &hr); r.status != http.StatusOK || err != nil || hr.Renewed != 1 || len(hr.Missing) != 1 {
		t.Fatalf("batch heartbeat through the follower: %s", r)
	}
	// Maintenance, peer removal and restores are leader work too.
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/w1/maintenance", `{"enable":true,"reason":"x"}`); r.status != http.StatusOK {
		t.Fatalf("maintenance through the follower: %s", r)
	}
	if inst, ok := f.Store().Catalog().Instance("w1"); !ok || inst.Maintenance != "x" {
		t.Fatalf("maintenance not applied on the follower that took it: %+v", inst)
	}
	if r := send(f.HTTPAddr(), http.MethodDelete, "/v1/cluster/raft/peers/unknown", ""); r.status != http.StatusNotFound {
		t.Fatalf("removing an unknown peer through the follower: %s", r)
	}
	snap := send(l.HTTPAddr(), http.MethodGet, "/v1/snapshot", "")
	if snap.status != http.StatusOK {
		t.Fatalf("snapshot: %s", snap)
	}
	send(l.HTTPAddr(), http.MethodDelete, "/v1/services/web/instances/w1", "")
	if r := send(f.HTTPAddr(), http.MethodPut, "/v1/snapshot", string(snap.body)); r.status != http.StatusOK {
		t.Fatalf("restore through the follower: %s", r)
	}
	if _, ok := f.Store().Catalog().Instance("w1"); !ok {
		t.Fatal("the restore through the follower is not applied on it")
	}
}

// With batching off, a follower proxies each write to the leader on its
// own (httputil.ReverseProxy): the client gets the leader's answer with the
// index and leader headers, reads its write back from the follower at
// once, and a body over the limit is 413 with a JSON message, written
// nowhere.
func TestUnbatchedForwardingProxiesEachWrite(t *testing.T) {
	nodes := startCluster3(t, func(c *node.Config) {
		c.HTTP.ForwardBatches = -1
		c.HTTP.MaxBodyBytes = 4096
	})
	_, followers := leaderAndFollowers(t, nodes)
	f := followers[0]
	r := send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/u1", `{"address":"10.0.0.1","port":80}`)
	if r.err != nil || r.status != http.StatusOK || r.header.Get(api.HeaderIndex) == "" || r.header.Get(api.HeaderKnownLeader) != "true" {
		t.Fatalf("forwarded write: %s, headers %v", r, r.header)
	}
	if c := r.header.Get("Connection"); c != "" {
		t.Errorf("hop-by-hop header passed on: Connection: %s", c)
	}
	got := send(f.HTTPAddr(), http.MethodGet, "/v1/services/web/instances", "")
	if got.status != http.StatusOK || !strings.Contains(string(got.body), `"id":"u1"`) {
		t.Fatalf("read on the follower right after its write: %s", got)
	}
	big := `{"address":"10.0.0.2","port":80,"meta":{"k":"` + strings.Repeat("x", 8000) + `"}}`
	r = send(f.HTTPAddr(), http.MethodPut, "/v1/services/web/instances/u2", big)
	if r.err != nil || r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), `"error"`) {
		t.Fatalf("oversized forwarded write: %s", r)
	}
	for _, n := range nodes {
		if _, ok := n.Store().Catalog().Instance("u2"); ok {
			t.Fatalf("%s holds the refused write", n.HTTPAddr())
		}
	}
}

// The leader takes a batch in the binary form and answers it in binary
// when asked to, with the term of each applied write's entry; a damaged
// binary batch is refused whole and writes nothing.
func TestForwardedBatchInBinary(t *testing.T) {
	nodes := startCluster3(t, nil)
	l, _ := leaderAndFollowers(t, nodes)
	items := []httpapi.ForwardItem{
		{Method: "PUT", URI: "/v1/services/web/instances/bin-a", Client: "127.0.0.1", Body: []byte(`{"address":"10.0.0.1","port":80}`)},
		{Method: "PUT", URI: "/v1/services/web/instances/bin-b", Client: "127.0.0.1", Body: []byte(`{"port":"x"}`)},
	}
	fw := []string{api.HeaderForwarded, "1", "Content-Type", httpapi.ForwardBinaryCT, "Accept", httpapi.ForwardBinaryCT}
	r := send(l.HTTPAddr(), http.MethodPut, httpapi.ForwardBatchPath, string(httpapi.EncodeForwardBatch(items)), fw...)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), httpapi.ForwardBinaryCT) {
		t.Fatalf("binary batch answered %s", r)
	}
	br := bufio.NewReader(bytes.NewReader(r.body))
	got := map[int]httpapi.ForwardAnswer{}
	for {
		a, err := httpapi.ReadForwardAnswer(br, 1<<20)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the answers: %v", err)
		}
		got[a.I] = a
	}
	if len(got) != 2 || got[0].Status != 200 || got[1].Status != 400 {
		t.Fatalf("answers %+v, want write 0 200 and write 1 400", got)
	}
	if got[0].Term == 0 || got[0].Header.Get(api.HeaderIndex) == "" {
		t.Fatalf("the applied write's answer lacks its index or term: %+v", got[0])
	}
	if g := send(l.HTTPAddr(), http.MethodGet, "/v1/services/web/instances/bin-a", ""); g.status != http.StatusOK {
		t.Fatalf("the binary batch's write is not there: %s", g)
	}

	cut := httpapi.EncodeForwardBatch([]httpapi.ForwardItem{{Method: "PUT", URI: "/v1/services/web/instances/bin-c", Client: "127.0.0.1", Body: []byte(`{"port":80}`)}})
	r = send(l.HTTPAddr(), http.MethodPut, httpapi.ForwardBatchPath, string(cut[:len(cut)-3]), fw...)
	if r.status != http.StatusBadRequest || r.apiErr().Field != "body" {
		t.Fatalf("a damaged binary batch answered %s", r)
	}
	if g := send(l.HTTPAddr(), http.MethodGet, "/v1/services/web/instances/bin-c", ""); g.status != http.StatusNotFound {
		t.Fatalf("a damaged batch wrote something: %s", g)
	}
}
