package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// aclNode is a server with ACLs on and its bootstrap token.
type aclNode struct {
	n      *node.Node
	base   string
	secret string // the management token's
	logs   *testkit.LogBuffer
}

func startACL(t *testing.T, def string, dataDir string) *aclNode {
	t.Helper()
	logs := &testkit.LogBuffer{}
	cfg := testkit.Loopback("acl")
	cfg.Store.Dev, cfg.Store.DataDir = dataDir == "", dataDir
	cfg.Security = node.SecurityConfig{ACL: true, ACLDefault: def}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	n := testkit.Start(t, cfg)
	a := &aclNode{n: n, base: "http://" + n.HTTPAddr(), logs: logs}
	retry.Eventually(t, 10*time.Second, func() error {
		if code, body := a.call(t, "GET", "/readyz", "", nil); code != 200 {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	var tok api.ACLToken
	a.mustJSON(t, "PUT", "/v1/acl/bootstrap", "", nil, &tok)
	if tok.Secret == "" || tok.Accessor == "" {
		t.Fatalf("bootstrap answered %+v", tok)
	}
	a.secret = tok.Secret
	return a
}

// call sends a request with token in X-Roster-Token (when not empty) and
// returns the status and body.
func (a *aclNode) call(t *testing.T, method, path, token string, body any, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Roster-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (a *aclNode) mustJSON(t *testing.T, method, path, token string, body, out any) {
	t.Helper()
	code, resp := a.call(t, method, path, token, body)
	if code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, code, resp)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, resp)
		}
	}
}

// token creates a token with rules and returns its secret.
func (a *aclNode) token(t *testing.T, rules ...string) string {
	t.Helper()
	var tok api.ACLToken
	a.mustJSON(t, "PUT", "/v1/acl/tokens", a.secret, api.ACLTokenRequest{Description: "test", Rules: rules}, &tok)
	return tok.Secret
}

// denied checks a 403 whose JSON error names the permission.
func denied(t *testing.T, what string, code int, body, permission string) {
	t.Helper()
	var e api.Error
	if code != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil || e.Code != "permission_denied" || !strings.Contains(e.Message, permission) {
		t.Errorf("%s: %d %s, want 403 permission_denied naming %s", what, code, body, permission)
	}
}

var reg = api.RegisterRequest{Address: "10.0.0.1", Port: 80, TTL: "30s"}

// TestServiceTokenTouchesOnlyItsServices: a token with service:write:web
// registers, renews and deregisters web, and is refused on every write
// path for orders: native register, deregister, heartbeat, each item of a
// batch heartbeat (the others renewed), and the Consul subset's agent
// register, deregister, check updates and catalog register/deregister.
func TestServiceTokenTouchesOnlyItsServices(t *testing.T) {
	a := startACL(t, "deny", "")
	a.mustJSON(t, "PUT", "/v1/services/orders/instances/orders-1", a.secret, reg, nil)
	web := a.token(t, "service:write:web")

	a.mustJSON(t, "PUT", "/v1/services/web/instances/web-1", web, reg, nil)
	a.mustJSON(t, "PUT", "/v1/services/web/instances/web-1/heartbeat", web, nil, nil)
	code, body := a.call(t, "PUT", "/v1/services/orders/instances/orders-2", web, reg)
	denied(t, "register orders", code, body, "service:write:orders")
	code, body = a.call(t, "DELETE", "/v1/services/orders/instances/orders-1", web, nil)
	denied(t, "deregister orders", code, body, "service:write:orders")
	code, body = a.call(t, "PUT", "/v1/services/orders/instances/orders-1/heartbeat", web, api.HeartbeatRequest{Status: api.StatusCritical})
	denied(t, "heartbeat orders", code, body, "service:write:orders")

	var batch api.HeartbeatsResponse
	a.mustJSON(t, "PUT", "/v1/heartbeats", web, api.HeartbeatsRequest{Instances: []api.BatchHeartbeat{
		{Service: "web", ID: "web-1"}, {Service: "orders", ID: "orders-1", Status: api.StatusCritical},
	}}, &batch)
	if batch.Renewed != 1 || len(batch.Denied) != 1 || batch.Denied[0].ID != "orders-1" {
		t.Errorf("batch heartbeat answered %+v, want web-1 renewed and orders-1 denied", batch)
	}

	consul := func(method, path string, body any) (int, string) {
		return a.call(t, method, path, "", body, "X-Consul-Token", web)
	}
	code, body = consul("PUT", "/v1/agent/service/register", map[string]any{"Name": "orders", "ID": "orders-3", "Address": "10.0.0.3", "Port": 80})
	denied(t, "consul agent register", code, body, "service:write:orders")
	code, body = consul("PUT", "/v1/agent/service/deregister/orders-1", nil)
	denied(t, "consul agent deregister", code, body, "service:write:orders")
	for _, c := range []string{"pass", "warn", "fail"} {
		code, body = consul("PUT", "/v1/agent/check/"+c+"/service:orders-1", nil)
		denied(t, "consul check "+c, code, body, "service:write:orders")
	}
	code, body = consul("PUT", "/v1/catalog/register", map[string]any{"Node": "n1", "Address": "10.0.0.4",
		"Service": map[string]any{"Service": "orders", "ID": "orders-4", "Port": 80}})
	denied(t, "consul catalog register", code, body, "service:write:orders")
	code, body = consul("PUT", "/v1/catalog/deregister", map[string]any{"Node": "10.0.0.1", "ServiceID": "orders-1"})
	denied(t, "consul catalog deregister", code, body, "service:write:orders")
	// ?token= works as well, for web.
	if code, body := a.call(t, "PUT", "/v1/agent/service/register?token="+web, "", map[string]any{"Name": "web", "ID": "web-2", "Address": "10.0.0.2", "Port": 80}); code != 200 {
		t.Errorf("consul register of web with ?token=: %d %s", code, body)
	}

	var orders api.InstanceList
	a.mustJSON(t, "GET", "/v1/services/orders/instances?status=any", a.secret, nil, &orders)
	if len(orders.Instances) != 1 || orders.Instances[0].Status != api.StatusPassing {
		t.Fatalf("orders changed: %+v", orders.Instances)
	}
	a.mustJSON(t, "DELETE", "/v1/services/web/instances/web-1", web, nil, nil)

	// The audit log names the accessor and client of each refusal, never a secret.
	logs := a.logs.String()
	if !strings.Contains(logs, `"component":"audit"`) || !strings.Contains(logs, `"kind":"denied"`) || !strings.Contains(logs, `"client":"127.0.0.1:`) {
		t.Errorf("no audit record of the refusals in the log")
	}
	if strings.Contains(logs, web) || strings.Contains(logs, a.secret) {
		t.Error("a token secret reached the log")
	}
	_, metrics := a.call(t, "GET", "/metrics", a.secret, nil)
	for _, want := range []string{`roster_audit_events_total{kind="denied"}`, `roster_audit_events_total{kind="write"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestAnonymousAccessFollowsACLDefault: without a token, "read" reads
// everything and writes nothing; "deny" reads nothing (lists come back
// empty) but may still bootstrap; an unknown token is refused.
func TestAnonymousAccessFollowsACLDefault(t *testing.T) {
	for _, def := range []string{"read", "deny"} {
		t.Run(def, func(t *testing.T) {
			a := startACL(t, def, "")
			a.mustJSON(t, "PUT", "/v1/services/web/instances/web-1", a.secret, reg, nil)
			code, body := a.call(t, "PUT", "/v1/services/web/instances/web-2", "", reg)
			denied(t, "anonymous register", code, body, "service:write:web")
			code, body = a.call(t, "GET", "/v1/services/web/instances", "", nil)
			var list api.ServiceList
			if def == "read" {
				if code != 200 || !strings.Contains(body, "web-1") {
					t.Errorf("anonymous lookup under read: %d %s", code, body)
				}
				a.mustJSON(t, "GET", "/v1/services", "", nil, &list)
				if len(list.Services) != 1 {
					t.Errorf("anonymous service list under read: %+v", list)
				}
				return
			}
			denied(t, "anonymous lookup under deny", code, body, "service:read:web")
			a.mustJSON(t, "GET", "/v1/services", "", nil, &list)
			if len(list.Services) != 0 {
				t.Errorf("anonymous service list under deny: %+v", list)
			}
			if code, body := a.call(t, "GET", "/v1/prometheus/sd", "", nil); code != 200 || strings.Contains(body, "web") {
				t.Errorf("anonymous prometheus sd under deny: %d %s", code, body)
			}
			if code, body := a.call(t, "GET", "/v1/catalog/services", "", nil); code != 200 || strings.TrimSpace(body) != "{}" {
				t.Errorf("anonymous consul catalog under deny: %d %s", code, body)
			}
			code, body = a.call(t, "GET", "/v1/services", "not-a-token", nil)
			if code != http.StatusForbidden || !strings.Contains(body, "unknown") {
				t.Errorf("an unknown token: %d %s", code, body)
			}
		})
	}
}

// TestReadTokensSeeOnlyTheirServices: lists, lookups and Prometheus SD
// filter to what service:read rules allow (prefix rules included).
func TestReadTokensSeeOnlyTheirServices(t *testing.T) {
	a := startACL(t, "deny", "")
	for _, s := range []string{"web", "web-admin", "orders"} {
		a.mustJSON(t, "PUT", "/v1/services/"+s+"/instances/"+s+"-1", a.secret, reg, nil)
	}
	reader := a.token(t, "service:read:web*")
	var list api.ServiceList
	a.mustJSON(t, "GET", "/v1/services", reader, nil, &list)
	if len(list.Services) != 2 || list.Services[0].Name != "web" || list.Services[1].Name != "web-admin" {
		t.Errorf("list for service:read:web*: %+v", list.Services)
	}
	code, body := a.call(t, "GET", "/v1/services/orders/instances", reader, nil)
	denied(t, "lookup orders", code, body, "service:read:orders")
	code, body = a.call(t, "GET", "/v1/services/orders/instances", reader, nil, "Accept", "text/event-stream")
	denied(t, "watch orders", code, body, "service:read:orders")
	if code, body := a.call(t, "GET", "/v1/prometheus/sd", reader, nil); code != 200 || strings.Contains(body, "orders") || !strings.Contains(body, "web-admin") {
		t.Errorf("prometheus sd for service:read:web*: %d %s", code, body)
	}
	code, body = a.call(t, "PUT", "/v1/services/web/instances/web-9", reader, reg)
	denied(t, "register with a read token", code, body, "service:write:web")
	// The Consul subset's lists are filtered the same way.
	for _, path := range []string{"/v1/catalog/services", "/v1/agent/services", "/v1/health/state/any", "/v1/catalog/nodes", "/v1/agent/checks"} {
		code, body := a.call(t, "GET", path, "", nil, "X-Consul-Token", reader)
		if code != 200 || strings.Contains(body, "orders") || (path != "/v1/catalog/nodes" && !strings.Contains(body, "web-admin")) {
			t.Errorf("%s for service:read:web*: %d %s", path, code, body)
		}
	}
}

// TestOperatorEndpointsRefuseServiceTokens: snapshots, peers, leave and ACL
// administration need operator:write; a service token gets 403 naming it.
func TestOperatorEndpointsRefuseServiceTokens(t *testing.T) {
	a := startACL(t, "read", "")
	svc := a.token(t, "service:write:*")
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/snapshot"}, {"PUT", "/v1/snapshot"}, {"PUT", "/v1/cluster/leave"},
		{"DELETE", "/v1/cluster/raft/peers/x"}, {"GET", "/v1/acl/tokens"}, {"PUT", "/v1/acl/tokens"},
		{"DELETE", "/v1/acl/tokens/x"},
	} {
		code, body := a.call(t, c.method, c.path, svc, nil)
		denied(t, c.method+" "+c.path, code, body, "operator:write")
	}
	// The management token may; listing shows no secret.
	var toks api.ACLTokenList
	a.mustJSON(t, "GET", "/v1/acl/tokens", a.secret, nil, &toks)
	if len(toks.Tokens) != 2 {
		t.Fatalf("tokens %+v", toks)
	}
	for _, tk := range toks.Tokens {
		if tk.Secret != "" {
			t.Fatal("GET /v1/acl/tokens shows a secret")
		}
	}
	for _, tk := range toks.Tokens {
		if tk.Description == "test" {
			a.mustJSON(t, "DELETE", "/v1/acl/tokens/"+tk.Accessor, a.secret, nil, nil)
		}
	}
	code, _ := a.call(t, "PUT", "/v1/services/web/instances/web-1", svc, reg)
	if code != http.StatusForbidden {
		t.Fatalf("a deleted token still works: %d", code)
	}
	if code, body := a.call(t, "PUT", "/v1/acl/tokens", a.secret, api.ACLTokenRequest{Rules: []string{"service:delete:web"}}); code != 400 || !strings.Contains(body, "rules") {
		t.Errorf("a bad rule: %d %s", code, body)
	}
}

// TestACLBootstrapOnceThenResetFile: a second bootstrap is 409 and says
// how to reset; writing the index into the reset file allows one more.
func TestACLBootstrapOnceThenResetFile(t *testing.T) {
	dir := t.TempDir()
	a := startACL(t, "read", dir)
	code, body := a.call(t, "PUT", "/v1/acl/bootstrap", "", nil)
	var e api.Error
	if code != http.StatusConflict || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Message, "acl-bootstrap-reset") {
		t.Fatalf("second bootstrap: %d %s", code, body)
	}
	var index uint64
	if _, err := fmt.Sscanf(e.Message[strings.Index(e.Message, "write ")+6:], "%d", &index); err != nil {
		t.Fatalf("no index in %q", e.Message)
	}
	reset := filepath.Join(dir, "acl-bootstrap-reset")
	if err := os.WriteFile(reset, []byte(fmt.Sprintf("%d\n", index)), 0o600); err != nil {
		t.Fatal(err)
	}
	var tok api.ACLToken
	a.mustJSON(t, "PUT", "/v1/acl/bootstrap", "", nil, &tok)
	if tok.Secret == "" || tok.Secret == a.secret {
		t.Fatalf("reset bootstrap answered %+v", tok)
	}
	if _, err := os.Stat(reset); !os.IsNotExist(err) {
		t.Fatal("the reset file was not removed")
	}
	if code, _ := a.call(t, "PUT", "/v1/acl/bootstrap", "", nil); code != http.StatusConflict {
		t.Fatalf("third bootstrap: %d", code)
	}
	_ = context.Background
}

// TestACLThroughAFollower: in a 3-server cluster a follower resolves the
// token, forwards allowed writes (token included) to the leader and
// refuses the others itself; heartbeats through it are renewed one by one
// with their own token; a token created through one server works on all.
func TestACLThroughAFollower(t *testing.T) {
	sec := node.SecurityConfig{ACL: true, ACLDefault: "deny"}
	var nodes []*node.Node
	for i := range 3 {
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		nodes = append(nodes, startServer(t, fmt.Sprintf("s%d", i), 3, join, sec))
	}
	var follower *node.Node
	retry.Eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if err := n.Store().Ready(); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if !n.Store().IsLeader() {
				follower = n
				return nil
			}
		}
		return fmt.Errorf("no follower")
	})
	f := &aclNode{n: follower, base: "http://" + follower.HTTPAddr()}
	var boot api.ACLToken
	f.mustJSON(t, "PUT", "/v1/acl/bootstrap", "", nil, &boot)
	f.secret = boot.Secret
	web := f.token(t, "service:write:web")
	// Every server knows the new token at once (read-your-writes on the
	// follower, replication to the others).
	for _, n := range nodes {
		other := &aclNode{n: n, base: "http://" + n.HTTPAddr()}
		retry.Eventually(t, 5*time.Second, func() error {
			if code, body := other.call(t, "PUT", "/v1/services/web/instances/web-"+n.ID(), web, reg); code != 200 {
				return fmt.Errorf("register through %s: %d %s", n.ID(), code, body)
			}
			return nil
		})
	}
	code, body := f.call(t, "PUT", "/v1/services/orders/instances/orders-1", web, reg)
	denied(t, "register orders through a follower", code, body, "service:write:orders")
	f.mustJSON(t, "PUT", "/v1/services/web/instances/web-"+follower.ID()+"/heartbeat", web, nil, nil)
	code, body = f.call(t, "PUT", "/v1/services/web/instances/web-"+follower.ID()+"/heartbeat", "", nil)
	denied(t, "anonymous heartbeat through a follower", code, body, "service:write:web")
}
