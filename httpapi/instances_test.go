package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
)

func TestRegisterGetListDeregister(t *testing.T) {
	n := startDev(t, nil)

	reg := n.register("Web", "web-1", `{"address":"10.0.0.1","port":8080,"tags":["v1"],"meta":{"zone":"a"},"ttl":"10s","deregister_after":"1m"}`)
	if reg.Service != "web" || reg.ID != "web-1" || reg.Status != api.StatusPassing || reg.Weight != 1 ||
		reg.TTL != "10s" || reg.DeregisterAfter != "1m0s" || reg.Index == 0 || reg.CreateIndex != reg.Index {
		t.Fatalf("register answered %+v", reg)
	}

	// Registering the same data again changes nothing: the service index stays.
	before, _ := n.list("/v1/services/web/instances")
	again := n.register("web", "web-1", `{"address":"10.0.0.1","port":8080,"tags":["v1"],"meta":{"zone":"a"},"ttl":"10s","deregister_after":"1m"}`)
	after, _ := n.list("/v1/services/web/instances")
	if after.Index != before.Index || again.ModifyIndex != reg.ModifyIndex {
		t.Fatalf("re-registering the same data moved the index: %d -> %d (modify %d -> %d)",
			before.Index, after.Index, reg.ModifyIndex, again.ModifyIndex)
	}

	a := n.must(http.StatusOK, http.MethodGet, "/v1/services/WEB/instances/web-1", "")
	var inst api.Instance
	decode(t, a.body, &inst)
	if inst.ID != "web-1" || inst.Address != "10.0.0.1" || inst.Port != 8080 || inst.Meta["zone"] != "a" {
		t.Fatalf("get answered %+v", inst)
	}
	if got := headerIndex(t, a); got != reg.Index {
		t.Fatalf("get index header %d, want the service index %d", got, reg.Index)
	}

	list, la := n.list("/v1/services/web/instances")
	if list.Service != "web" || ids(list) != "web-1" || list.Index != reg.Index || headerIndex(t, la) != reg.Index {
		t.Fatalf("list answered %+v (index header %s)", list, la.header.Get(api.HeaderIndex))
	}

	d := n.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/web-1", "")
	var wr api.WriteResult
	decode(t, d.body, &wr)
	if wr.Index <= reg.Index || headerIndex(t, d) != wr.Index {
		t.Fatalf("deregister answered %s with index header %s", d, d.header.Get(api.HeaderIndex))
	}
	n.must(http.StatusNotFound, http.MethodGet, "/v1/services/web/instances/web-1", "")
	list, _ = n.list("/v1/services/web/instances")
	if len(list.Instances) != 0 || list.Index != wr.Index {
		t.Fatalf("after deregister the list is %+v, want empty at index %d", list, wr.Index)
	}
	// Deregistering an unknown instance succeeds.
	n.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/never-seen", "")
}

func TestListFilters(t *testing.T) {
	n := startDev(t, nil)
	n.register("api", "a-pass", `{"address":"10.0.0.1","port":80,"tags":["blue","v1"]}`)
	n.register("api", "b-warn", `{"address":"10.0.0.2","port":80,"tags":["green"],"status":"warning"}`)
	n.register("api", "c-crit", `{"address":"10.0.0.3","port":80,"tags":["blue"],"status":"critical"}`)

	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", "a-pass,b-warn"},
		{"?status=passing", "a-pass"},
		{"?status=warning", "b-warn"},
		{"?status=critical", "c-crit"},
		{"?status=any", "a-pass,b-warn,c-crit"},
		{"?tag=blue", "a-pass"},
		{"?tag=blue&status=any", "a-pass,c-crit"},
		{"?tag=none", ""},
		{"?consistent", "a-pass,b-warn"},
	} {
		list, a := n.list("/v1/services/api/instances" + tc.query)
		if got := ids(list); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.query, got, tc.want)
		}
		if list.Service != "api" || headerIndex(t, a) != list.Index {
			t.Errorf("%s: list %q at %d, header %s", tc.query, list.Service, list.Index, a.header.Get(api.HeaderIndex))
		}
	}

	// A service that does not exist yet is an empty list at the current
	// index, so a gateway can watch it before it appears.
	list, a := n.list("/v1/services/orders/instances")
	if list.Service != "orders" || len(list.Instances) != 0 || list.Index == 0 || headerIndex(t, a) != list.Index {
		t.Fatalf("unknown service answered %s", a)
	}
	if !bytes.Contains(a.body, []byte(`"instances":[]`)) {
		t.Fatalf("empty list must encode as [], got %s", a.body)
	}
}

func TestServiceList(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w1", `{"address":"10.0.0.1","port":80,"tags":["v1"]}`)
	last := n.register("db", "d1", `{"address":"10.0.0.2","port":5432,"status":"critical"}`)

	a := n.must(http.StatusOK, http.MethodGet, "/v1/services", "")
	var sl api.ServiceList
	decode(t, a.body, &sl)
	if len(sl.Services) != 2 || sl.Services[0].Name != "db" || sl.Services[0].Critical != 1 ||
		sl.Services[1].Name != "web" || sl.Services[1].Passing != 1 || sl.Services[1].Tags[0] != "v1" {
		t.Fatalf("service list %+v", sl)
	}
	if sl.Index != last.Index || headerIndex(t, a) != sl.Index {
		t.Fatalf("service list index %d header %s, want %d", sl.Index, a.header.Get(api.HeaderIndex), last.Index)
	}
}

func TestEveryReadSetsIndexAndLeaderHeaders(t *testing.T) {
	nodes := startClusterNodes(t, nil)
	n := leaderOf(t, nodes)
	n.register("web", "w1", webBody)
	for _, path := range []string{
		"/v1/services/web/instances",
		"/v1/services/web/instances?status=any",
		"/v1/services/web/instances/w1",
		"/v1/services",
		"/v1/cluster/leader",
		"/v1/cluster/members",
		"/v1/cluster/raft",
		"/v1/cluster/leases",
	} {
		a := n.must(http.StatusOK, http.MethodGet, path, "")
		if a.header.Get(api.HeaderIndex) == "" || a.header.Get(api.HeaderKnownLeader) != "true" ||
			a.header.Get(api.HeaderLastContact) != "0" || a.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s headers: %v", path, a.header)
		}
	}

	// A follower reports its last contact with the leader in milliseconds
	// (heartbeats keep it well under a second), and whether it knows a
	// leader.
	f := followerOf(t, nodes)
	retry.Eventually(t, 10*time.Second, func() error {
		a := f.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "")
		ms, err := strconv.Atoi(a.header.Get(api.HeaderLastContact))
		if a.header.Get(api.HeaderKnownLeader) != "true" || err != nil || ms < 0 || ms > 1000 {
			return fmt.Errorf("follower headers: %v", a.header)
		}
		return nil
	})
	// A server that never heard from a leader says so: no known leader, a
	// last contact of -1.
	alone := startLeaderlessNode(t, nil)
	a := alone.must(http.StatusOK, http.MethodGet, "/v1/services/web/instances", "")
	if a.header.Get(api.HeaderKnownLeader) != "false" || a.header.Get(api.HeaderLastContact) != "-1" {
		t.Fatalf("server without leader: %v", a.header)
	}
}

func TestFastPathAnswersLikeMux(t *testing.T) {
	n := startDev(t, nil)
	for i := range 10 {
		n.register("web", "w"+strconv.Itoa(i), webBody)
	}
	fast := n.must(http.StatusOK, http.MethodGet, "/v1/services/Web/instances", "")
	n.h.noFastPath = true
	slow := n.must(http.StatusOK, http.MethodGet, "/v1/services/Web/instances", "")
	n.h.noFastPath = false
	if !bytes.Equal(fast.body, slow.body) {
		t.Fatalf("fast path body differs:\n%s\n%s", fast.body, slow.body)
	}
	for _, k := range []string{"Content-Type", "Content-Length", api.HeaderIndex, api.HeaderKnownLeader, api.HeaderLastContact} {
		if fast.header.Get(k) != slow.header.Get(k) || fast.header.Get(k) == "" {
			t.Errorf("header %s: fast %q, mux %q", k, fast.header.Get(k), slow.header.Get(k))
		}
	}
	// A name the fast path cannot serve gets mux's full error handling.
	a := n.must(http.StatusBadRequest, http.MethodGet, "/v1/services/bad_name/instances", "")
	if !bytes.Contains(a.body, []byte(`"field":"service"`)) {
		t.Fatalf("bad name: %s", a)
	}
}

func TestHeartbeats(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w1", webBody)
	n.register("web", "w2", webBody)
	n.register("db", "d1", webBody)
	n.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/w2", "")

	// Single heartbeats: renewed, never seen, tombstoned, under another service.
	a := n.must(http.StatusOK, http.MethodPut, "/v1/services/web/instances/w1/heartbeat", "")
	var wr api.WriteResult
	decode(t, a.body, &wr)
	if wr.Index == 0 || headerIndex(t, a) != wr.Index {
		t.Fatalf("heartbeat answered %s", a)
	}
	n.must(http.StatusNotFound, http.MethodPut, "/v1/services/web/instances/nobody/heartbeat", "")
	n.must(http.StatusGone, http.MethodPut, "/v1/services/web/instances/w2/heartbeat", "")
	n.must(http.StatusNotFound, http.MethodPut, "/v1/services/web/instances/d1/heartbeat", "")

	// A status in the body is written and shows in listings.
	a = n.must(http.StatusOK, http.MethodPut, "/v1/services/web/instances/w1/heartbeat", `{"status":"warning","output":"slow disk"}`)
	decode(t, a.body, &wr)
	list, _ := n.list("/v1/services/web/instances?status=warning")
	if ids(list) != "w1" || list.Instances[0].Output != "slow disk" || list.Index != wr.Index {
		t.Fatalf("after a warning heartbeat at %d: %+v", wr.Index, list)
	}

	// Batch: renewed, missing (never seen, or under another service), gone.
	a = n.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", `{"instances":[
		{"service":"web","id":"w1"},
		{"service":"DB","id":"d1","status":"passing"},
		{"service":"web","id":"nobody"},
		{"service":"web","id":"d1"},
		{"service":"web","id":"w2"}]}`)
	var hr api.HeartbeatsResponse
	decode(t, a.body, &hr)
	if hr.Renewed != 2 || len(hr.Missing) != 2 || hr.Missing[0] != (api.InstanceRef{Service: "web", ID: "nobody"}) ||
		hr.Missing[1] != (api.InstanceRef{Service: "web", ID: "d1"}) || len(hr.Gone) != 1 || hr.Gone[0].ID != "w2" {
		t.Fatalf("batch answered %+v", hr)
	}
	if a.header.Get(api.HeaderIndex) == "" {
		t.Fatalf("batch answer without index header")
	}
	// The status-less heartbeat of w1 means passing again.
	list, _ = n.list("/v1/services/web/instances?status=passing")
	if ids(list) != "w1" {
		t.Fatalf("status-less heartbeat did not set passing: %+v", list)
	}
	// An empty batch renews nothing and succeeds.
	a = n.must(http.StatusOK, http.MethodPut, "/v1/heartbeats", `{"instances":[]}`)
	decode(t, a.body, &hr)
	if hr.Renewed != 0 || hr.Missing == nil {
		t.Fatalf("empty batch answered %s", a)
	}
}
