package consulapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/consulapi"
	"github.com/rosterhq/roster/node"
)

func healthOf(t *testing.T, n *node.Node, service string) []consulapi.CheckServiceNode {
	t.Helper()
	var out []consulapi.CheckServiceNode
	decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/health/service/"+service, "").body, &out)
	return out
}

// A TTL check starts critical (Consul's rule), and pass/warn/fail/update
// set its status and output. A pass that changes nothing is a heartbeat:
// no Raft write, the catalog's index stays.
func TestTTLCheckUpdatesAreHeartbeats(t *testing.T) {
	n := startNode(t)
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register",
		`{"ID":"web-1","Name":"web","Address":"10.0.0.1","Port":8080,"Check":{"TTL":"30s","Notes":"renewed by the app"}}`)
	e := healthOf(t, n, "web")
	if len(e) != 1 || len(e[0].Checks) != 1 || e[0].Checks[0].Status != "critical" ||
		e[0].Checks[0].CheckID != "service:web-1" || e[0].Checks[0].Type != "ttl" || e[0].Checks[0].Notes != "renewed by the app" {
		t.Fatalf("after registration: %+v", e)
	}
	if len(e[0].Service.Meta) != 0 {
		t.Errorf("the check's notes leak into the service meta: %v", e[0].Service.Meta)
	}
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/check/pass/service:web-1", "")
	cat := n.Store().Catalog()
	before := cat.Index()
	for range 5 {
		must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/check/pass/service:web-1", "")
	}
	if after := cat.Index(); after != before {
		t.Fatalf("passes that changed nothing moved the index %d -> %d (a Raft write each)", before, after)
	}
	steps := []struct{ method, path, body, status, output string }{
		{"PUT", "/v1/agent/check/warn/service:web-1?note=slow", "", "warning", "slow"},
		{"PUT", "/v1/agent/check/fail/service:web-1?note=down", "", "critical", "down"},
		{"PUT", "/v1/agent/check/update/service:web-1", `{"Status":"passing","Output":"ok again"}`, "passing", "ok again"},
	}
	for _, s := range steps {
		must(t, n, http.StatusOK, s.method, s.path, s.body)
		c := healthOf(t, n, "web")[0].Checks[0]
		if c.Status != s.status || c.Output != s.output {
			t.Fatalf("after %s: status %q output %q, want %q %q", s.path, c.Status, c.Output, s.status, s.output)
		}
	}
	must(t, n, http.StatusNotFound, http.MethodPut, "/v1/agent/check/pass/service:nope", "")
	must(t, n, http.StatusBadRequest, http.MethodPut, "/v1/agent/check/update/service:web-1", `{"Status":"fine"}`)
}

// A CheckID given at registration is the id its updates use.
func TestCustomCheckID(t *testing.T) {
	n := startNode(t)
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register",
		`{"ID":"api-1","Name":"api","Address":"10.0.0.2","Port":9000,"Check":{"CheckID":"api-ttl","Name":"api alive","TTL":"30s"}}`)
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/check/pass/api-ttl", "")
	var checks map[string]consulapi.HealthCheck
	decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/agent/checks", "").body, &checks)
	c, ok := checks["api-ttl"]
	if !ok || c.Status != "passing" || c.Name != "api alive" || c.ServiceID != "api-1" {
		t.Fatalf("agent checks %+v", checks)
	}
	must(t, n, http.StatusNotFound, http.MethodPut, "/v1/agent/check/pass/service:api-1", "")
}

// Registrations Roster cannot represent are 400s that change nothing.
func TestUnrepresentableRegistrationsChangeNothing(t *testing.T) {
	n := startNode(t)
	before := n.Store().Catalog().Index()
	bad := []string{
		`{"Name":"web","Address":"10.0.0.1","Port":80,"Check":{"HTTP":"http://10.0.0.1/health","Interval":"10s"}}`,
		`{"Name":"web","Address":"10.0.0.1","Port":80,"Checks":[{"TTL":"10s"},{"TTL":"20s"}]}`,
		`{"Name":"web_1","Address":"10.0.0.1","Port":80}`,
		`{"Name":"web","Address":"10.0.0.1","Port":80,"Meta":{"consul-check-id":"x"}}`,
		`{"Name":"web","Address":"0.0.0.0","Port":80}`,
		`{"Name":"web","Kind":"connect-proxy","Address":"10.0.0.1","Port":80}`,
		`{"Address":"10.0.0.1","Port":80}`,
		`{"Name":"web","Address":"10.0.0.1","Port":80,"Check":{"TTL":"forever"}}`,
		`{"Name":"web","Address":"10.0.0.1","Port":0}`,
		`not json`,
	}
	for _, body := range bad {
		a := do(t, n, http.MethodPut, "/v1/agent/service/register", body)
		var e api.Error
		decodeJSON(t, a.body, &e)
		if a.status != http.StatusBadRequest || e.Code != api.CodeInvalid || e.Message == "" {
			t.Errorf("%s: %d %s, want a 400 naming the problem", body, a.status, a.body)
		}
	}
	if after := n.Store().Catalog().Index(); after != before {
		t.Fatalf("refused registrations moved the index %d -> %d", before, after)
	}
}

// Consul endpoints Roster does not serve say so with a 501, never the
// router's bare 404 (which a KV client would read as "no such key").
func TestUnsupportedEndpointsNameWhatIsMissing(t *testing.T) {
	n := startNode(t)
	for path, what := range map[string]string{
		"/v1/kv/config/app":              "key-value store",
		"/v1/session/list":               "sessions",
		"/v1/connect/ca/roots":           "Connect",
		"/v1/agent/connect/ca/leaf/x":    "agent API",
		"/v1/catalog/gateway-services/x": "catalog API",
	} {
		a := do(t, n, http.MethodGet, path, "")
		var e api.Error
		decodeJSON(t, a.body, &e)
		if a.status != http.StatusNotImplemented || e.Code != api.CodeNotImplemented || !strings.Contains(e.Message, what) {
			t.Errorf("%s: %d %s, want 501 naming %q", path, a.status, a.body, what)
		}
	}
	// The native API is untouched by the Consul routes.
	must(t, n, http.StatusOK, http.MethodGet, "/v1/services", "")
}

// ?filter is go-bexpr over Consul's field names, ?tag is case-insensitive
// and repeatable, ?passing drops warning and critical.
func TestFiltersTagsAndPassing(t *testing.T) {
	n := startNode(t)
	for i, reg := range []string{
		`{"ID":"w1","Name":"web","Tags":["prod","v1"],"Meta":{"zone":"a"},"Address":"10.0.0.1","Port":80}`,
		`{"ID":"w2","Name":"web","Tags":["prod","v2"],"Meta":{"zone":"b"},"Address":"10.0.0.2","Port":80,"Check":{"TTL":"30s","Status":"warning"}}`,
		`{"ID":"w3","Name":"web","Tags":["canary"],"Meta":{"zone":"a"},"Address":"10.0.0.3","Port":80,"Check":{"TTL":"30s"}}`,
		`{"ID":"d1","Name":"db","Tags":["prod"],"Address":"10.0.0.1","Port":5432}`,
	} {
		if a := do(t, n, http.MethodPut, "/v1/agent/service/register", reg); a.status != http.StatusOK {
			t.Fatalf("registration %d: %d %s", i, a.status, a.body)
		}
	}
	ids := func(path string) string {
		var out []consulapi.CheckServiceNode
		decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, path, "").body, &out)
		var s []string
		for _, e := range out {
			s = append(s, e.Service.ID)
		}
		return strings.Join(s, ",")
	}
	q := func(expr string) string { return "/v1/health/service/web?filter=" + urlQuery(expr) }
	cases := map[string]string{
		"/v1/health/service/web":                                               "w1,w2,w3",
		"/v1/health/service/web?passing":                                       "w1",
		"/v1/health/service/web?passing=false":                                 "w1,w2,w3",
		"/v1/health/service/web?tag=PROD":                                      "w1,w2",
		"/v1/health/service/web?tag=prod&tag=v2":                               "w2",
		q(`Service.Tags contains "canary"`):                                    "w3",
		q(`Service.Meta.zone == "a"`):                                          "w1,w3",
		q(`Service.Meta.zone == "a" and not (Service.Tags contains "canary")`): "w1",
		q(`Service.ID == "w2" or Node.Node == "10.0.0.3"`):                     "w2,w3",
		q(`Service.Port == 80 and Service.ID != "w1"`):                         "w2,w3",
	}
	for path, want := range cases {
		if got := ids(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	var services map[string][]string
	decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/catalog/services?filter="+urlQuery(`ServiceName == "db"`), "").body, &services)
	if len(services) != 1 || len(services["db"]) != 1 {
		t.Errorf("catalog services filtered by ServiceName: %v", services)
	}
	must(t, n, http.StatusBadRequest, http.MethodGet, q(`Service.Tags contains`), "")
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "(", "%28", ")", "%29").Replace(s)
}

// A blocking query returns when its service changes, and not when another
// service does; X-Consul-Index never goes backwards.
func TestBlockingQueryWakesOnlyForItsService(t *testing.T) {
	n := startNode(t)
	registerWeb(t, n)
	catalogIDs := func() int {
		var out []consulapi.ServiceNode
		decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/catalog/service/web", "").body, &out)
		return len(out)
	}
	if got := catalogIDs(); got != 1 {
		t.Fatalf("catalog lists %d instances of web, want 1", got)
	}
	a := must(t, n, http.StatusOK, http.MethodGet, "/v1/health/service/web", "")
	index, err := strconv.ParseUint(a.header.Get("X-Consul-Index"), 10, 64)
	if err != nil || index == 0 {
		t.Fatalf("X-Consul-Index %q", a.header.Get("X-Consul-Index"))
	}
	for _, h := range []string{"X-Consul-Knownleader", "X-Consul-Lastcontact", "X-Consul-Effective-Consistency"} {
		if a.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	type result struct {
		a   answer
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v1/health/service/web?index=%d&wait=20s", n.HTTPAddr(), index), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{a: answer{status: resp.StatusCode, header: resp.Header}, at: time.Now()}
	}()
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register", `{"ID":"db-1","Name":"db","Address":"10.0.0.9","Port":5432}`)
	select {
	case r := <-done:
		t.Fatalf("another service's registration woke the query: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	changed := time.Now()
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register", `{"ID":"web-2","Name":"web","Address":"10.0.0.2","Port":8080}`)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		got, _ := strconv.ParseUint(r.a.header.Get("X-Consul-Index"), 10, 64)
		if got <= index {
			t.Fatalf("woken with X-Consul-Index %d, not past %d", got, index)
		}
		if d := r.at.Sub(changed); d > 2*time.Second {
			t.Fatalf("woken %v after the change", d)
		}
		// The answers encoded once per view follow the change.
		if got := catalogIDs(); got != 2 {
			t.Fatalf("after the change the catalog lists %d instances of web, want 2", got)
		}
		if got := len(healthOf(t, n, "web")); got != 2 {
			t.Fatalf("after the change health lists %d instances of web, want 2", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a registration of web did not wake the blocking query")
	}
}

// A registration without an Address sits on the registering host, as a
// service registered with its local agent does.
func TestRegistrationWithoutAddressUsesTheClientsAddress(t *testing.T) {
	n := startNode(t)
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register", `{"Name":"web","Port":8080}`)
	e := healthOf(t, n, "web")
	if len(e) != 1 || e[0].Service.ID != "web" || e[0].Service.Address != "127.0.0.1" || e[0].Node.Node != "127.0.0.1" {
		t.Fatalf("health entries %+v", e)
	}
	if len(e[0].Checks) != 0 {
		t.Errorf("a service registered without a check shows checks %+v", e[0].Checks)
	}
}

// External services registered through the catalog (how ESM-style tools
// do it): checks give the status (critical when they name none), a body
// with only a check updates it, and a node's deregistration removes every
// instance on it.
func TestCatalogRegistersExternalServices(t *testing.T) {
	n := startNode(t)
	put := func(path, body string) answer { return do(t, n, http.MethodPut, path, body) }
	if a := put("/v1/catalog/register", `{"Node":"legacy","Address":"10.9.0.1","Service":{"ID":"db-1","Service":"db","Port":5432},
		"Check":{"CheckID":"db-alive","ServiceID":"db-1","Status":"warning","Output":"slow disk"}}`); a.status != http.StatusOK || string(a.body) != "true" {
		t.Fatalf("register db-1: %d %s", a.status, a.body)
	}
	if a := put("/v1/catalog/register", `{"Node":"legacy","Address":"10.9.0.1","Service":{"ID":"cache-1","Service":"cache","Port":6379},
		"Checks":[{"CheckID":"cache-alive","ServiceID":"cache-1"}]}`); a.status != http.StatusOK {
		t.Fatalf("register cache-1: %d %s", a.status, a.body)
	}
	var checks []consulapi.HealthCheck
	decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/health/node/10.9.0.1", "").body, &checks)
	got := map[string]string{}
	for _, c := range checks {
		got[c.CheckID] = c.Status + " " + c.Output
	}
	if len(got) != 2 || got["db-alive"] != "warning slow disk" || got["cache-alive"] != "critical " {
		t.Fatalf("checks on the node: %v", got)
	}
	if a := put("/v1/catalog/register", `{"Node":"legacy","Address":"10.9.0.1","Check":{"CheckID":"cache-alive","ServiceID":"cache-1","Status":"passing"}}`); a.status != http.StatusOK {
		t.Fatalf("check-only update: %d %s", a.status, a.body)
	}
	if e := healthOf(t, n, "cache"); len(e) != 1 || e[0].Checks[0].Status != "passing" {
		t.Fatalf("after the check-only update: %+v", e)
	}
	before := n.Store().Catalog().Index()
	for _, body := range []string{
		`{"Node":"lonely","Address":"10.9.0.2"}`,
		`{"Node":"legacy","Address":"10.9.0.1","Datacenter":"dc9","Service":{"Service":"x","Port":1}}`,
		`{"Node":"legacy","Address":"10.9.0.1","Service":{"Service":"db","ID":"db-2","Port":1},"Check":{"Status":"sideways"}}`,
	} {
		if a := put("/v1/catalog/register", body); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, a.status, a.body)
		}
	}
	if a := put("/v1/catalog/deregister", `{"Node":"10.9.0.1","CheckID":"db-alive"}`); a.status != http.StatusBadRequest {
		t.Errorf("removing a check alone: %d %s, want 400", a.status, a.body)
	}
	if after := n.Store().Catalog().Index(); after != before {
		t.Fatalf("refused catalog writes moved the index %d -> %d", before, after)
	}
	if a := put("/v1/catalog/deregister", `{"Node":"10.9.0.1"}`); a.status != http.StatusOK || string(a.body) != "true" {
		t.Fatalf("node deregistration: %d %s", a.status, a.body)
	}
	var nodes []consulapi.Node
	decodeJSON(t, must(t, n, http.StatusOK, http.MethodGet, "/v1/catalog/nodes", "").body, &nodes)
	if len(nodes) != 0 {
		t.Fatalf("after deregistering the node: %+v", nodes)
	}
	if a := must(t, n, http.StatusOK, http.MethodGet, "/v1/catalog/node/10.9.0.1", ""); string(a.body) != "null" {
		t.Errorf("an unknown node answers %s, want null", a.body)
	}
}

// The answers kept with the views, encoded a run of instances at a time,
// are byte for byte the ones encoded whole (a ?filter that keeps every
// instance takes that path), before and after a change to one instance of
// a service of 150.
func TestCachedAnswersEqualEncodedWhole(t *testing.T) {
	n := startNode(t)
	for i := range 150 {
		must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register",
			fmt.Sprintf(`{"ID":"web-%03d","Name":"web","Address":"10.0.%d.%d","Port":8080,"Tags":["v1"],"Check":{"TTL":"30s"}}`, i, i/200, i%200+1))
	}
	compare := func() {
		t.Helper()
		for path, all := range map[string]string{
			"/v1/health/service/web":         `Service.ID != ""`,
			"/v1/health/service/web?passing": `Service.ID != ""`,
			"/v1/catalog/service/web":        `ServiceID != ""`,
		} {
			cached := must(t, n, http.StatusOK, http.MethodGet, path, "")
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			whole := must(t, n, http.StatusOK, http.MethodGet, path+sep+"filter="+url.QueryEscape(all), "")
			if len(whole.body) < 150*100 && !strings.Contains(path, "passing") {
				t.Fatalf("%s lists too little: %s", path, whole.body)
			}
			if string(cached.body) != string(whole.body) {
				t.Fatalf("%s: cached answer differs from the one encoded whole:\n%s\n%s", path, cached.body, whole.body)
			}
		}
	}
	compare()
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/check/fail/service:web-077", "")
	compare()
}
