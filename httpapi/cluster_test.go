package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/api"
)

func TestClusterReads(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), nil)
	n.register("web", "w1", webBody)

	var l api.Leader
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/leader", "").body, &l)
	if !l.Known || l.ID != "s1" {
		t.Fatalf("leader %+v", l)
	}
	var ml api.MemberList
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/members", "").body, &ml)
	if len(ml.Members) != 1 || ml.Members[0].RaftRole != "leader" {
		t.Fatalf("members %+v", ml)
	}
	var ri api.RaftInfo
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/raft", "").body, &ri)
	if len(ri.Servers) != 1 || ri.State != "leader" || ri.AppliedIndex == 0 {
		t.Fatalf("raft %+v", ri)
	}
	var ls api.LeaseState
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/leases", "").body, &ls)
	if !ls.Leader || !ls.Armed || ls.Leases != 2 {
		t.Fatalf("leases %+v", ls)
	}
}

func TestSnapshotDownloadAndRestore(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.MaxBodyBytes = 64 })
	reg := n.register("web", "w1", `{"address":"1.2.3.4","port":80}`)

	a := n.must(http.StatusOK, http.MethodGet, "/v1/snapshot", "")
	if cd := a.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".snap") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if a.header.Get("Content-Type") != "application/octet-stream" || headerIndex(t, a) != reg.Index ||
		!strings.HasPrefix(string(a.body), "ROSTER-SNAPSHOT") {
		t.Fatalf("snapshot answered %v %q", a.header, a.body)
	}

	// Restores are not held to MaxBodyBytes (64 here).
	backup := strings.Repeat("b", 4096)
	a = n.must(http.StatusOK, http.MethodPut, "/v1/snapshot", backup)
	var wr api.WriteResult
	decode(t, a.body, &wr)
	n.store.mu.Lock()
	got := string(n.store.restored)
	n.store.mu.Unlock()
	if got != backup || wr.Index == 0 {
		t.Fatalf("restore stored %d bytes, answered %s", len(got), a)
	}
}

func TestRestoreBodyLimit(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.MaxRestoreBytes = 100 })
	checkError(t, n.do(http.MethodPut, "/v1/snapshot", strings.Repeat("b", 200)), http.StatusRequestEntityTooLarge, "too_large", "", false)
}

func TestLeaveAndRemovePeer(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), nil)
	n.must(http.StatusOK, http.MethodPut, "/v1/cluster/leave", "")
	n.must(http.StatusOK, http.MethodDelete, "/v1/cluster/raft/peers/s2", "")
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	if !n.store.left || len(n.store.removed) != 1 || n.store.removed[0] != "s2" {
		t.Fatalf("left %v, removed %v", n.store.left, n.store.removed)
	}
}

func TestHealthEndpoints(t *testing.T) {
	n := startNode(t, newLeaderStore(newFakeCluster()), nil)
	if a := n.must(http.StatusOK, http.MethodGet, "/livez", ""); !strings.Contains(string(a.body), `"live":true`) {
		t.Fatalf("livez %s", a)
	}
	if a := n.must(http.StatusOK, http.MethodGet, "/readyz", ""); !strings.Contains(string(a.body), `"ready":true`) {
		t.Fatalf("readyz %s", a)
	}
}

func TestMetricsCountAnswersByRouteAndClass(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := startNode(t, newLeaderStore(newFakeCluster()), func(c *Config) { c.Metrics = reg })
	n.register("web", "w1", webBody)
	n.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "")
	n.must(http.StatusNotFound, http.MethodGet, "/v1/nothing", "")
	body := string(n.must(http.StatusOK, http.MethodGet, "/metrics", "").body)
	for _, want := range []string{
		`roster_http_requests_total{code="2xx",route="lookup"} 1`,
		`roster_http_requests_total{code="2xx",route="register"} 1`,
		`roster_http_requests_total{code="4xx",route="not_found"} 1`,
		`roster_http_watchers 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A second handler on the same registry shares the collectors.
	h2, err := New(Config{Store: n.store, Metrics: reg})
	if err != nil {
		t.Fatalf("second handler on one registry: %v", err)
	}
	h2.Close()
}
