package httpapi

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
)

// TestErrorAnswers is the table of every error a client can meet: status,
// code, field, and Retry-After where the client should come back.
//
// Every case runs over a real dev store. Two faults are the faultyStore
// double's (devnode_test.go): leases not yet re-armed, and leadership lost
// between the handler's check and the write.
func TestErrorAnswers(t *testing.T) {
	const reg = "/v1/services/web/instances/w1"
	// The cases without a setup change nothing, so they share one server.
	shared := startDev(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	for _, tc := range []struct {
		name   string
		setup  func(n *testNode, fs *faultyStore) // nil: on a server no case changes
		method string
		path   string
		body   string
		hdr    []string
		status int
		code   string
		field  string
		retry  bool
	}{
		{name: "malformed JSON", method: "PUT", path: reg, body: `{"address":`, status: 400, code: "invalid", field: "body"},
		{name: "syntax error", method: "PUT", path: reg, body: `{"address" "x"}`, status: 400, code: "invalid", field: "body"},
		{name: "unknown field", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"bogus":1}`, status: 400, code: "invalid", field: "bogus"},
		{name: "wrong type", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":"80"}`, status: 400, code: "invalid", field: "port"},
		{name: "wrong type in array", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"tags":[1]}`, status: 400, code: "invalid", field: "tags"},
		{name: "not an object", method: "PUT", path: reg, body: `[1,2]`, status: 400, code: "invalid", field: "body"},
		{name: "trailing data", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80} {}`, status: 400, code: "invalid", field: "body"},
		{name: "trailing garbage", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80}x`, status: 400, code: "invalid", field: "body"},
		{name: "empty body", method: "PUT", path: reg, status: 400, code: "invalid", field: "body"},
		{name: "body too large", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"output":"` + strings.Repeat("x", 2048) + `"}`, status: 413, code: "too_large"},
		{name: "bad service name", method: "PUT", path: "/v1/services/bad_name/instances/w1", body: webBody, status: 400, code: "invalid", field: "service"},
		{name: "service name too long", method: "GET", path: "/v1/services/" + strings.Repeat("a", 64) + "/instances", status: 400, code: "invalid", field: "service"},
		{name: "bad ttl", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"ttl":"soon"}`, status: 400, code: "invalid", field: "ttl"},
		{name: "ttl below minimum", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"ttl":"10ms"}`, status: 400, code: "invalid", field: "ttl"},
		{name: "bad status", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"status":"sick"}`, status: 400, code: "invalid", field: "status"},
		{name: "bad port", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":0}`, status: 400, code: "invalid", field: "port"},
		// Strict JSON (issue #15): exact names, no duplicate keys, valid
		// UTF-8, JSON content types only.
		{name: "key in other case", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"Port":81}`, status: 400, code: "invalid", field: "Port"},
		{name: "duplicate key", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"port":81}`, status: 400, code: "invalid", field: "port"},
		{name: "duplicate meta key", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"meta":{"a":"1","a":"2"}}`, status: 400, code: "invalid", field: "meta.a"},
		{name: "invalid UTF-8 in a tag", method: "PUT", path: reg, body: "{\"address\":\"10.0.0.1\",\"port\":80,\"tags\":[\"a\xffb\"]}", status: 400, code: "invalid", field: "tags[0]"},
		{name: "lone surrogate in meta", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"meta":{"k":"\ud800"}}`, status: 400, code: "invalid", field: "meta.k"},
		{name: "control character in a tag", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"tags":["a\u0001"]}`, status: 400, code: "invalid", field: "tags"},
		{name: "service name with a leading hyphen", method: "PUT", path: "/v1/services/-ab/instances/w1", body: webBody, status: 400, code: "invalid", field: "service"},
		{name: "service name of hyphens", method: "GET", path: "/v1/services/---/instances", status: 400, code: "invalid", field: "service"},
		{name: "deregister_after overflowing", method: "PUT", path: reg, body: `{"address":"10.0.0.1","port":80,"deregister_after":"2562030h"}`, status: 400, code: "invalid", field: "deregister_after"},
		{name: "text/plain body", method: "PUT", path: reg, body: webBody, hdr: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "xml body", method: "PUT", path: "/v1/heartbeats", body: `{"instances":[]}`, hdr: []string{"Content-Type", "application/xml"}, status: 415, code: "unsupported_media_type"},
		{name: "duplicate key in a batch", method: "PUT", path: "/v1/heartbeats", body: `{"instances":[{"service":"web","id":"a","id":"b"}]}`,
			status: 400, code: "invalid", field: "instances[0].id"},
		{name: "id held by another service", setup: func(n *testNode, fs *faultyStore) { n.register("db", "w1", webBody) },
			method: "PUT", path: reg, body: webBody, status: 409, code: "conflict"},
		{name: "heartbeat never registered", method: "PUT", path: reg + "/heartbeat", status: 404, code: "not_found"},
		{name: "heartbeat after deregister", setup: func(n *testNode, fs *faultyStore) {
			n.register("web", "w1", webBody)
			n.must(200, "DELETE", reg, "")
		}, method: "PUT", path: reg + "/heartbeat", status: 410, code: "gone"},
		{name: "heartbeat under another service", setup: func(n *testNode, fs *faultyStore) { n.register("db", "w1", webBody) },
			method: "PUT", path: reg + "/heartbeat", status: 404, code: "not_found"},
		{name: "heartbeat bad status", setup: func(n *testNode, fs *faultyStore) { n.register("web", "w1", webBody) },
			method: "PUT", path: reg + "/heartbeat", body: `{"status":"fine"}`, status: 400, code: "invalid", field: "status"},
		{name: "heartbeat unknown field", method: "PUT", path: reg + "/heartbeat", body: `{"state":"passing"}`, status: 400, code: "invalid", field: "state"},
		{name: "heartbeat before leases are re-armed", setup: func(n *testNode, fs *faultyStore) {
			n.register("web", "w1", webBody)
			fs.notArmed.Store(true)
		}, method: "PUT", path: reg + "/heartbeat", status: 503, code: "no_leader", retry: true},
		{name: "batch bad service", method: "PUT", path: "/v1/heartbeats", body: `{"instances":[{"service":"web","id":"a"},{"service":"no such","id":"b"}]}`,
			status: 400, code: "invalid", field: "instances[1].service"},
		{name: "batch missing id", method: "PUT", path: "/v1/heartbeats", body: `{"instances":[{"service":"web"}]}`,
			status: 400, code: "invalid", field: "instances[0].id"},
		{name: "batch bad status", method: "PUT", path: "/v1/heartbeats", body: `{"instances":[{"service":"web","id":"a","status":"up"}]}`,
			status: 400, code: "invalid", field: "instances[0].status"},
		{name: "batch wrong type", method: "PUT", path: "/v1/heartbeats", body: `{"instances":{}}`, status: 400, code: "invalid", field: "instances"},
		{name: "batch empty body", method: "PUT", path: "/v1/heartbeats", status: 400, code: "invalid", field: "body"},
		{name: "bad status filter", method: "GET", path: "/v1/services/web/instances?status=up", status: 400, code: "invalid", field: "status"},
		{name: "bad index", method: "GET", path: "/v1/services/web/instances?index=-1", status: 400, code: "invalid", field: "index"},
		{name: "bad wait", method: "GET", path: "/v1/services/web/instances?index=1&wait=forever", status: 400, code: "invalid", field: "wait"},
		{name: "bad consistent", method: "GET", path: "/v1/services/web/instances?consistent=maybe", status: 400, code: "invalid", field: "consistent"},
		{name: "bad index on services", method: "GET", path: "/v1/services?index=x", status: 400, code: "invalid", field: "index"},
		{name: "bad index on members", method: "GET", path: "/v1/cluster/members?index=x", status: 400, code: "invalid", field: "index"},
		{name: "unknown instance", method: "GET", path: reg, status: 404, code: "not_found"},
		{name: "instance under another service", setup: func(n *testNode, fs *faultyStore) { n.register("db", "w1", webBody) },
			method: "GET", path: reg, status: 404, code: "not_found"},
		{name: "unknown route", method: "GET", path: "/v1/nothing", status: 404, code: "not_found"},
		{name: "wrong method", method: "POST", path: "/v1/services", status: 405, code: "method_not_allowed"},
		{name: "wrong method on instance", method: "PATCH", path: reg, status: 405, code: "method_not_allowed"},
		{name: "leadership lost mid-call", setup: func(n *testNode, fs *faultyStore) { fs.lostLeadership.Store(true) },
			method: "PUT", path: reg, body: webBody, status: 503, code: "no_leader", retry: true},
		{name: "consistent read after leadership lost", setup: func(n *testNode, fs *faultyStore) { fs.lostLeadership.Store(true) },
			method: "GET", path: "/v1/services/web/instances?consistent", status: 503, code: "no_leader", retry: true},
		{name: "remove unknown peer", method: "DELETE", path: "/v1/cluster/raft/peers/unknown", status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := shared
			if tc.setup != nil {
				var fs *faultyStore
				n = startDev(t, func(c *Config) { c.MaxBodyBytes = 1024; faulty(&fs)(c) })
				tc.setup(n, fs)
			}
			a := n.do(tc.method, tc.path, tc.body, tc.hdr...)
			checkError(t, a, tc.status, tc.code, tc.field, tc.retry)
		})
	}
}

// TestErrorAnswersAtFollower covers the answers only a server that does
// not lead gives: one that knows no leader (a real server waiting for two
// more to bootstrap with), and a follower of a real 3-server cluster asked
// to forward a request that was forwarded already.
func TestErrorAnswersAtFollower(t *testing.T) {
	noLeader := startLeaderlessNode(t, nil)
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/v1/services/web/instances/w1", webBody},
		{"DELETE", "/v1/services/web/instances/w1", ""},
		{"PUT", "/v1/services/web/instances/w1/heartbeat", ""},
		{"PUT", "/v1/heartbeats", `{"instances":[]}`},
		{"GET", "/v1/services/web/instances?consistent", ""},
		{"PUT", "/v1/snapshot", "data"},
		{"DELETE", "/v1/cluster/raft/peers/s2", ""},
	} {
		a := noLeader.do(tc.method, tc.path, tc.body)
		t.Run("no leader "+tc.method+" "+tc.path, func(t *testing.T) { checkError(t, a, 503, "no_leader", "", true) })
	}
	t.Run("not ready", func(t *testing.T) {
		checkError(t, noLeader.do("GET", "/readyz", ""), 503, "unavailable", "", true)
	})

	// A follower never forwards a request that was forwarded already.
	nodes := startClusterNodes(t, nil)
	leader, f := leaderOf(t, nodes), followerOf(t, nodes)
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/v1/services/web/instances/w1", webBody},
		{"PUT", "/v1/services/web/instances/w1/heartbeat", ""},
		{"PUT", "/v1/heartbeats", `{"instances":[]}`},
		{"GET", "/v1/services/web/instances?consistent", ""},
	} {
		a := f.do(tc.method, tc.path, tc.body, api.HeaderForwarded, "1")
		t.Run("forwarded twice "+tc.method+" "+tc.path, func(t *testing.T) { checkError(t, a, 503, "no_leader", "", true) })
	}
	if in, ok := leader.dev.Catalog().Instance("w1"); ok {
		t.Fatalf("a twice-forwarded write reached the leader: %+v", in)
	}
}

func checkError(t *testing.T, a answer, status int, code, field string, retry bool) {
	t.Helper()
	if a.status != status {
		t.Fatalf("got %s, want status %d", a, status)
	}
	var e api.Error
	decode(t, a.body, &e)
	if e.Code != code || e.Field != field || e.Message == "" {
		t.Fatalf("got %s, want code %q field %q and a message", a, code, field)
	}
	if a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("error Content-Type %q", a.header.Get("Content-Type"))
	}
	if got := a.header.Get("Retry-After") != ""; got != retry {
		t.Fatalf("Retry-After %q, want present=%v", a.header.Get("Retry-After"), retry)
	}
}
