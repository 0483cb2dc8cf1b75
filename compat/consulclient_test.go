package compat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// checkStatus is the status of the one check of the named instance, as the
// health endpoint shows it.
func checkStatus(t *testing.T, c *consul.Client, service, id string) string {
	t.Helper()
	entries, _, err := c.Health().Service(service, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Service.ID == id {
			return e.Checks.AggregatedStatus()
		}
	}
	return "absent"
}

// exerciseConsulAPI runs the whole lifecycle a Consul-speaking service and
// its tools go through, with the official client against server n of
// nodes (a follower forwards every write).
func exerciseConsulAPI(t *testing.T, n *node.Node, nodes []*node.Node) {
	c := consulClient(t, n)
	agent := c.Agent()
	err := agent.ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1", "prod"}, Address: "127.0.0.1", Port: 8080,
		Meta: map[string]string{"zone": "a"}, Weights: &consul.AgentWeights{Passing: 5, Warning: 1},
		Check: &consul.AgentServiceCheck{TTL: "30s", DeregisterCriticalServiceAfter: "1m", Notes: "renewed by web"},
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	// Read-your-writes: the server the client registered through already
	// shows the registration.
	if s := checkStatus(t, c, "web", "web-1"); s != consul.HealthCritical {
		t.Fatalf("a new TTL check is %q, want critical (Consul's rule)", s)
	}
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return agent.PassTTL("service:web-1", "ok") }, consul.HealthPassing},
		{func() error { return agent.WarnTTL("service:web-1", "slow") }, consul.HealthWarning},
		{func() error { return agent.FailTTL("service:web-1", "down") }, consul.HealthCritical},
		{func() error { return agent.UpdateTTL("service:web-1", "fine", consul.HealthPassing) }, consul.HealthPassing},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("check update %d: %v", i, err)
		}
		if got := checkStatus(t, c, "web", "web-1"); got != s.want {
			t.Fatalf("after check update %d the check is %q, want %q", i, got, s.want)
		}
	}
	if err := agent.PassTTL("service:nope", ""); err == nil {
		t.Error("passing an unknown check succeeded")
	}
	err = agent.ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-2", Name: "web", Tags: []string{"v2"}, Address: "127.0.0.2", Port: 8080,
		Check: &consul.AgentServiceCheck{TTL: "30s", Status: consul.HealthWarning},
	})
	if err != nil {
		t.Fatal(err)
	}

	health := c.Health()
	passing, meta, err := health.Service("web", "", true, nil)
	if err != nil || len(passing) != 1 || passing[0].Service.ID != "web-1" {
		t.Fatalf("passing web: %v %+v", err, passing)
	}
	e := passing[0]
	if e.Node.Node != "127.0.0.1" || e.Node.Address != "127.0.0.1" || e.Node.Datacenter != "dc1" ||
		e.Service.Port != 8080 || e.Service.Weights.Passing != 5 || e.Service.Meta["zone"] != "a" ||
		len(e.Checks) != 1 || e.Checks[0].CheckID != "service:web-1" || e.Checks[0].Output != "fine" ||
		e.Checks[0].Notes != "renewed by web" {
		t.Errorf("health entry %+v node %+v service %+v checks %+v", e, e.Node, e.Service, e.Checks)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("query meta %+v", meta)
	}
	tagged, _, err := health.ServiceMultipleTags("web", []string{"v1", "prod"}, false, nil)
	if err != nil || len(tagged) != 1 || tagged[0].Service.ID != "web-1" {
		t.Errorf("web tagged v1 and prod: %v %+v", err, tagged)
	}
	filtered, _, err := health.Service("web", "", false, &consul.QueryOptions{Filter: `Service.Tags contains "v2"`})
	if err != nil || len(filtered) != 1 || filtered[0].Service.ID != "web-2" {
		t.Errorf("web filtered on v2: %v %+v", err, filtered)
	}
	consistent, cmeta, err := health.Service("web", "", false, &consul.QueryOptions{RequireConsistent: true})
	if err != nil || len(consistent) != 2 {
		t.Errorf("consistent read: %v %+v", err, consistent)
	}
	stale, smeta, err := health.Service("web", "", false, &consul.QueryOptions{AllowStale: true})
	if err != nil || len(stale) != 2 || smeta.LastIndex != cmeta.LastIndex {
		t.Errorf("stale read: %v %+v (index %d, consistent %d)", err, stale, smeta.LastIndex, cmeta.LastIndex)
	}
	checks, _, err := health.Checks("web", nil)
	if err != nil || len(checks) != 2 {
		t.Errorf("web checks: %v %+v", err, checks)
	}
	warning, _, err := health.State(consul.HealthWarning, nil)
	if err != nil || len(warning) != 1 || warning[0].ServiceID != "web-2" {
		t.Errorf("checks in warning: %v %+v", err, warning)
	}
	onNode, _, err := health.Node("127.0.0.2", nil)
	if err != nil || len(onNode) != 1 || onNode[0].ServiceID != "web-2" {
		t.Errorf("checks on node 127.0.0.2: %v %+v", err, onNode)
	}

	catalog := c.Catalog()
	services, _, err := catalog.Services(nil)
	if err != nil || !slices.Equal(services["web"], []string{"prod", "v1", "v2"}) {
		t.Errorf("catalog services: %v %v", err, services)
	}
	v1, _, err := catalog.Service("web", "v1", nil)
	if err != nil || len(v1) != 1 || v1[0].ServiceID != "web-1" || v1[0].ServiceAddress != "127.0.0.1" || v1[0].Node != "127.0.0.1" {
		t.Errorf("catalog service web tag v1: %v %+v", err, v1)
	}
	nodeList, _, err := catalog.Nodes(nil)
	if err != nil || len(nodeList) != 2 || nodeList[0].Node != "127.0.0.1" || nodeList[1].Node != "127.0.0.2" {
		t.Errorf("catalog nodes: %v %+v", err, nodeList)
	}
	cn, _, err := catalog.Node("127.0.0.1", nil)
	if err != nil || cn == nil || cn.Services["web-1"] == nil {
		t.Errorf("catalog node: %v %+v", err, cn)
	}
	dcs, err := catalog.Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Errorf("datacenters: %v %v", err, dcs)
	}
	// An external service, registered the way ESM-style tools do it.
	_, err = catalog.Register(&consul.CatalogRegistration{
		Node: "legacy-db", Address: "10.9.0.1",
		Service: &consul.AgentService{ID: "db-1", Service: "db", Port: 5432},
		Check:   &consul.AgentCheck{CheckID: "db-alive", Name: "db alive", Status: consul.HealthPassing, ServiceID: "db-1"},
	}, nil)
	if err != nil {
		t.Fatalf("catalog register: %v", err)
	}
	db, _, err := health.Service("db", "", true, nil)
	if err != nil || len(db) != 1 || db[0].Node.Node != "10.9.0.1" || db[0].Checks[0].CheckID != "db-alive" {
		t.Fatalf("the external service: %v %+v", err, db)
	}
	if _, err := catalog.Deregister(&consul.CatalogDeregistration{Node: "10.9.0.1", ServiceID: "db-1"}, nil); err != nil {
		t.Fatal(err)
	}
	if db, _, _ := health.Service("db", "", false, nil); len(db) != 0 {
		t.Fatalf("after catalog deregister: %+v", db)
	}

	all, err := agent.Services()
	if err != nil || len(all) != 2 || all["web-1"].Service != "web" || all["web-1"].Weights.Passing != 5 {
		t.Errorf("agent services: %v %+v", err, all)
	}
	one, _, err := agent.Service("web-1", nil)
	if err != nil || one.ContentHash == "" || one.Port != 8080 {
		t.Errorf("agent service: %v %+v", err, one)
	}
	agentChecks, err := agent.Checks()
	if err != nil || agentChecks["service:web-1"] == nil || agentChecks["service:web-1"].Status != consul.HealthPassing {
		t.Errorf("agent checks: %v %+v", err, agentChecks)
	}
	self, err := agent.Self()
	if err != nil || self["Config"]["Datacenter"] != "dc1" || self["Config"]["NodeName"] == "" {
		t.Errorf("agent self: %v %+v", err, self)
	}
	members, err := agent.Members(false)
	if err != nil || len(members) != len(nodes) || !members[0].IsConsulServer() {
		t.Errorf("agent members: %v %+v", err, members)
	}

	leader, err := c.Status().Leader()
	if err != nil {
		t.Fatal(err)
	}
	var raftAddrs []string
	for _, m := range nodes {
		raftAddrs = append(raftAddrs, m.RaftAddr())
		if m.Store().IsLeader() && leader != m.RaftAddr() {
			t.Errorf("status leader %q, want %q", leader, m.RaftAddr())
		}
	}
	peers, err := c.Status().Peers()
	slices.Sort(peers)
	slices.Sort(raftAddrs)
	if err != nil || !slices.Equal(peers, raftAddrs) {
		t.Errorf("status peers %v %v, want %v", err, peers, raftAddrs)
	}

	for _, id := range []string{"web-1", "web-2"} {
		if err := agent.ServiceDeregister(id); err != nil {
			t.Fatal(err)
		}
	}
	if left, _, _ := health.Service("web", "", false, nil); len(left) != 0 {
		t.Fatalf("after deregistering: %+v", left)
	}
	var kvErr consul.StatusError
	if _, _, err := c.KV().Get("some/key", nil); !errors.As(err, &kvErr) || kvErr.Code != 501 || !strings.Contains(kvErr.Body, "key-value") {
		t.Errorf("KV get: %v, want a 501 that names the key-value store", err)
	}
}

// The official Consul client registers, renews and queries a dev server.
func TestConsulClientLifecycle(t *testing.T) {
	n := testkit.StartDev(t)
	exerciseConsulAPI(t, n, []*node.Node{n})
}

// A follower serves all of it: writes and ?consistent reads are forwarded
// to the leader, and the client reads its own writes from the follower.
func TestConsulClientThroughAFollower(t *testing.T) {
	nodes := testkit.StartCluster(t, 3)
	var follower *node.Node
	retry.Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if !n.Store().IsLeader() {
				follower = n
				return nil
			}
		}
		return errors.New("no follower")
	})
	exerciseConsulAPI(t, follower, nodes)
}

// A blocking query returns when what it reads changes, and not when
// another service does.
func TestConsulClientBlockingQuery(t *testing.T) {
	n := testkit.StartDev(t)
	c := consulClient(t, n)
	reg := func(id, name string) {
		t.Helper()
		if err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: id, Name: name, Address: "127.0.0.1", Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	reg("web-1", "web")
	_, meta, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		entries []*consul.ServiceEntry
		meta    *consul.QueryMeta
		err     error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		opts := (&consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}).WithContext(ctx)
		entries, m, err := c.Health().Service("web", "", false, opts)
		done <- result{entries, m, err}
	}()
	reg("db-1", "db")
	retry.Never(t, 500*time.Millisecond, func() error {
		select {
		case r := <-done:
			return errors.New("woken by another service's registration: " + r.meta.LastContact.String())
		default:
			return nil
		}
	})
	reg("web-2", "web")
	select {
	case r := <-done:
		if r.err != nil || len(r.entries) != 2 || r.meta.LastIndex <= meta.LastIndex {
			t.Fatalf("woken with %v %+v index %d (was %d)", r.err, r.entries, r.meta.LastIndex, meta.LastIndex)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a registration of web did not wake the blocking query")
	}
}
