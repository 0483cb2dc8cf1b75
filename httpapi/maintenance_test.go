package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// call makes one request to the node and returns the status and body.
func call(t *testing.T, n *node.Node, method, path, body string) (int, string) {
	t.Helper()
	var hdr []string
	if body != "" {
		hdr = []string{"Content-Type", "application/json"}
	}
	a := testkit.Do(t, method, "http://"+n.HTTPAddr()+path, body, hdr...)
	return a.Status, string(a.Body)
}

func mustCall(t *testing.T, n *node.Node, method, path, body string) string {
	t.Helper()
	code, got := call(t, n, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, got)
	}
	return got
}

// dnsAnswers is how many A records the node's DNS answers for name.
func dnsAnswers(t *testing.T, n *node.Node, name string) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, err := dns.Exchange(m, n.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Answer)
}

// TestMaintenanceTakesAHeartbeatingInstanceOutOfDiscovery: an instance put
// in maintenance leaves the default listing, DNS, Prometheus SD and
// Consul's ?passing while its heartbeats keep passing and write nothing to
// Raft; it shows as critical with its reason under ?status=any, and comes
// back when maintenance is turned off.
func TestMaintenanceTakesAHeartbeatingInstanceOutOfDiscovery(t *testing.T) {
	n := startDevNode(t)
	mustCall(t, n, "PUT", "/v1/services/web/instances/web-1", `{"address":"10.0.0.1","port":8080,"ttl":"30s"}`)
	mustCall(t, n, "PUT", "/v1/services/web/instances/web-1/heartbeat", `{"status":"passing"}`)

	listed := func(path string) bool {
		return strings.Contains(mustCall(t, n, "GET", path, ""), `"web-1"`)
	}
	inDiscovery := func() error {
		for _, p := range []string{"/v1/services/web/instances", "/v1/services/web/instances?status=passing",
			"/v1/prometheus/sd", "/v1/health/service/web?passing"} {
			if !listed(p) {
				return fmt.Errorf("web-1 is not in %s", p)
			}
		}
		if dnsAnswers(t, n, "web.service.roster.") != 1 {
			return fmt.Errorf("web-1 is not in DNS")
		}
		return nil
	}
	if err := inDiscovery(); err != nil {
		t.Fatal(err)
	}

	var res api.RegisterResponse
	if err := json.Unmarshal([]byte(mustCall(t, n, "PUT", "/v1/services/web/instances/web-1/maintenance",
		`{"enable":true,"reason":"kernel upgrade"}`)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != api.StatusCritical || res.Maintenance != "kernel upgrade" || res.Index == 0 {
		t.Fatalf("enable answered %+v", res)
	}
	for _, p := range []string{"/v1/services/web/instances", "/v1/services/web/instances?status=passing",
		"/v1/prometheus/sd", "/v1/health/service/web?passing"} {
		if listed(p) {
			t.Errorf("web-1 in maintenance is still listed by %s", p)
		}
	}
	if got := dnsAnswers(t, n, "web.service.roster."); got != 0 {
		t.Errorf("web-1 in maintenance has %d DNS answers", got)
	}
	var list api.InstanceList
	if err := json.Unmarshal([]byte(mustCall(t, n, "GET", "/v1/services/web/instances?status=any", "")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Instances) != 1 || list.Instances[0].Status != api.StatusCritical || list.Instances[0].Maintenance != "kernel upgrade" {
		t.Fatalf("?status=any lists %+v", list.Instances)
	}
	if body := mustCall(t, n, "GET", "/v1/health/service/web", ""); !strings.Contains(body, `"CheckID":"_service_maintenance:web-1"`) ||
		!strings.Contains(body, `"Notes":"kernel upgrade"`) {
		t.Errorf("Consul health shows no maintenance check: %s", body)
	}
	if body := mustCall(t, n, "GET", "/v1/services", ""); !strings.Contains(body, `"critical":1`) {
		t.Errorf("the service list does not count web-1 critical: %s", body)
	}

	// Heartbeats keep renewing the lease and write nothing.
	before := n.Store().Raft().Index
	for range 10 {
		mustCall(t, n, "PUT", "/v1/services/web/instances/web-1/heartbeat", `{"status":"passing"}`)
	}
	if after := n.Store().Raft().Index; after != before {
		t.Fatalf("heartbeats of an instance in maintenance moved the raft index %d -> %d", before, after)
	}
	if listed("/v1/services/web/instances") {
		t.Fatal("a passing heartbeat brought web-1 out of maintenance")
	}
	// Enabling again with the same reason changes nothing.
	mustCall(t, n, "PUT", "/v1/services/web/instances/web-1/maintenance", `{"enable":true,"reason":"kernel upgrade"}`)
	var again api.Instance
	if err := json.Unmarshal([]byte(mustCall(t, n, "GET", "/v1/services/web/instances/web-1", "")), &again); err != nil {
		t.Fatal(err)
	}
	if again.ModifyIndex != res.ModifyIndex {
		t.Fatalf("enabling again moved modify_index %d -> %d", res.ModifyIndex, again.ModifyIndex)
	}

	mustCall(t, n, "PUT", "/v1/services/web/instances/web-1/maintenance", `{"enable":false}`)
	retry.Eventually(t, 5*time.Second, inDiscovery)
	if body := mustCall(t, n, "GET", "/v1/services/web/instances/web-1", ""); strings.Contains(body, "maintenance") ||
		!strings.Contains(body, `"status":"passing"`) {
		t.Fatalf("after disable: %s", body)
	}
}

// TestMaintenanceRefusesBadRequests: every bad request is a JSON error and
// changes nothing.
func TestMaintenanceRefusesBadRequests(t *testing.T) {
	n := startDevNode(t)
	mustCall(t, n, "PUT", "/v1/services/web/instances/web-1", `{"address":"10.0.0.1","port":8080}`)
	for _, tc := range []struct {
		method, path, body string
		code               int
		errCode            string
	}{
		{"PUT", "/v1/services/web/instances/web-1/maintenance", `{"reason":"x"}`, 400, "invalid"},
		{"PUT", "/v1/services/web/instances/web-1/maintenance", `{"enable":"yes"}`, 400, "invalid"},
		{"PUT", "/v1/services/web/instances/web-1/maintenance", ``, 400, "invalid"},
		{"PUT", "/v1/services/web/instances/nope/maintenance", `{"enable":true}`, 404, "not_found"},
		{"PUT", "/v1/services/db/instances/web-1/maintenance", `{"enable":true}`, 404, "not_found"},
		{"PUT", "/v1/agent/service/maintenance/web-1", ``, 400, "invalid"},
		{"PUT", "/v1/agent/service/maintenance/web-1?enable=maybe", ``, 400, "invalid"},
		{"PUT", "/v1/agent/service/maintenance/nope?enable=true", ``, 404, "not_found"},
	} {
		code, body := call(t, n, tc.method, tc.path, tc.body)
		var e api.Error
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || e.Code != tc.errCode || e.Message == "" {
			t.Errorf("%s %s %s: %d %s, want %d with code %s", tc.method, tc.path, tc.body, code, body, tc.code, tc.errCode)
		}
	}
	if body := mustCall(t, n, "GET", "/v1/services/web/instances/web-1", ""); strings.Contains(body, "maintenance") {
		t.Fatalf("a refused request changed the instance: %s", body)
	}
	// The Consul endpoint turns it on and off.
	mustCall(t, n, "PUT", "/v1/agent/service/maintenance/web-1?enable=true", "")
	if body := mustCall(t, n, "GET", "/v1/services/web/instances/web-1", ""); !strings.Contains(body, `"maintenance":"maintenance mode"`) {
		t.Fatalf("Consul enable without a reason: %s", body)
	}
	mustCall(t, n, "PUT", "/v1/agent/service/maintenance/web-1?enable=false", "")
	if body := mustCall(t, n, "GET", "/v1/services/web/instances/web-1", ""); strings.Contains(body, "maintenance") {
		t.Fatalf("Consul disable: %s", body)
	}
}
