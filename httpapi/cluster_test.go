package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/api"
)

func TestClusterReads(t *testing.T) {
	n, _ := startDevNode(t, nil)
	n.register("web", "w1", webBody)
	n.register("web", "w2", webBody)
	n.register("db", "d1", `{"address":"10.0.0.2","port":5432}`) // no TTL: no lease

	var l api.Leader
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/leader", "").body, &l)
	if !l.Known || l.ID == "" || l.HTTPAddr != n.addr() {
		t.Fatalf("leader %+v, want this server (%s)", l, n.addr())
	}
	var ml api.MemberList
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/members", "").body, &ml)
	if len(ml.Members) != 1 || ml.Members[0].RaftRole != "leader" || ml.Members[0].ID != l.ID {
		t.Fatalf("members %+v", ml)
	}
	var ri api.RaftInfo
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/raft", "").body, &ri)
	if len(ri.Servers) != 1 || ri.State != "leader" || ri.AppliedIndex == 0 || ri.Servers[0].ID != l.ID {
		t.Fatalf("raft %+v", ri)
	}
	var ls api.LeaseState
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/cluster/leases", "").body, &ls)
	if !ls.Leader || !ls.Armed || ls.Leases != 2 {
		t.Fatalf("leases %+v, want an armed leader holding the 2 TTL leases", ls)
	}
}

func TestSnapshotDownloadAndRestore(t *testing.T) {
	n, _ := startDevNode(t, func(c *Config) { c.MaxBodyBytes = 64 })
	reg := n.register("web", "w1", `{"address":"1.2.3.4","port":80}`)

	a := n.must(http.StatusOK, http.MethodGet, "/v1/snapshot", "")
	if cd := a.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".snap") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if a.header.Get("Content-Type") != "application/octet-stream" || headerIndex(t, a) < reg.Index ||
		!strings.HasPrefix(string(a.body), "ROSTERBK") {
		t.Fatalf("snapshot answered %v %q", a.header, a.body)
	}
	backup := string(a.body)

	// What is not a backup is refused and changes nothing.
	checkError(t, n.do(http.MethodPut, "/v1/snapshot", strings.Repeat("b", 4096)), http.StatusBadRequest, "invalid", "snapshot", false)
	if l, _ := n.list("/v1/services/web/instances"); ids(l) != "w1" {
		t.Fatalf("refused restore changed the catalog: %q", ids(l))
	}

	// Restores are not held to MaxBodyBytes (64 here, the backup is larger):
	// the backup brings back what was deregistered after it.
	if len(backup) <= 64 {
		t.Fatalf("backup of %d bytes does not exceed MaxBodyBytes", len(backup))
	}
	n.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/w1", "")
	a = n.must(http.StatusOK, http.MethodPut, "/v1/snapshot", backup)
	var wr api.WriteResult
	decode(t, a.body, &wr)
	if l, _ := n.list("/v1/services/web/instances"); ids(l) != "w1" || wr.Index == 0 {
		t.Fatalf("restore answered %s, catalog holds %q", a, ids(l))
	}
}

func TestRestoreBodyLimit(t *testing.T) {
	n, _ := startDevNode(t, func(c *Config) { c.MaxRestoreBytes = 100 })
	checkError(t, n.do(http.MethodPut, "/v1/snapshot", strings.Repeat("b", 200)), http.StatusRequestEntityTooLarge, "too_large", "", false)
}

func TestLeaveAndRemovePeer(t *testing.T) {
	n, _ := startDevNode(t, nil)
	// A server not in the Raft configuration is 404 (store.ErrUnknownPeer).
	checkError(t, n.do(http.MethodDelete, "/v1/cluster/raft/peers/s2", ""), http.StatusNotFound, "not_found", "", false)
	n.must(http.StatusOK, http.MethodPut, "/v1/cluster/leave", "")
	// Having left, the server takes no writes.
	checkError(t, n.do(http.MethodPut, "/v1/services/web/instances/w1", webBody), http.StatusServiceUnavailable, "no_leader", "", true)
}

func TestHealthEndpoints(t *testing.T) {
	n, _ := startDevNode(t, nil)
	if a := n.must(http.StatusOK, http.MethodGet, "/livez", ""); !strings.Contains(string(a.body), `"live":true`) {
		t.Fatalf("livez %s", a)
	}
	if a := n.must(http.StatusOK, http.MethodGet, "/readyz", ""); !strings.Contains(string(a.body), `"ready":true`) {
		t.Fatalf("readyz %s", a)
	}
}

func TestMetricsCountAnswersByRouteAndClass(t *testing.T) {
	reg := prometheus.NewRegistry()
	n, st := startDevNode(t, func(c *Config) { c.Metrics = reg })
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
	h2, err := New(Config{Store: st, Metrics: reg})
	if err != nil {
		t.Fatalf("second handler on one registry: %v", err)
	}
	h2.Close()
}
