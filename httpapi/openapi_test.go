package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// notAPI are the routes that serve the web UI, not the API: they are left
// out of the OpenAPI document on purpose (docs/ui.md describes them).
var notAPI = []string{"GET /", "HEAD /", "GET /ui", "HEAD /ui", "GET /ui/", "HEAD /ui/"}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("api/openapi.yaml declares openapi %q, want 3.1", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIDescribesEveryRoute fails when a route is added to the router
// without being described in api/openapi.yaml, or described there without
// being routed.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadDoc(t)
	n := startDevNode(t)
	h, err := httpapi.New(httpapi.Config{Store: n.Store(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routed := map[string]bool{}
	for _, r := range httpapi.Routes(h) {
		if !slices.Contains(notAPI, r) {
			routed[r] = true
		}
	}
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	for r := range routed {
		if !described[r] {
			t.Errorf("route %s is not described in api/openapi.yaml", r)
		}
	}
	for d := range described {
		if !routed[d] {
			t.Errorf("api/openapi.yaml describes %s, which the router does not serve", d)
		}
	}
}

// exchange is one recorded request and its answer.
type exchange struct {
	name    string
	method  string
	path    string
	reqHdr  http.Header
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

func (e exchange) request(base string) *http.Request {
	req, _ := http.NewRequest(e.method, base+e.path, bytes.NewReader(e.reqBody))
	req.Header = e.reqHdr.Clone()
	if len(e.reqBody) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// recorder sends requests to a server and keeps what it answered.
type recorder struct {
	t    *testing.T
	base string
	got  []exchange
}

func (r *recorder) do(name string, want int, method, path, body string, hdr ...string) exchange {
	r.t.Helper()
	e := exchange{name: name, method: method, path: path, reqHdr: http.Header{}, reqBody: []byte(body)}
	for i := 0; i+1 < len(hdr); i += 2 {
		e.reqHdr.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(e.request(r.base))
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream never ends: keep its first event.
		e.body = firstEvent(r.t, resp.Body)
	} else if e.body, err = io.ReadAll(resp.Body); err != nil {
		r.t.Fatalf("%s: read: %v", name, err)
	}
	e.status, e.header = resp.StatusCode, resp.Header
	if e.status != want {
		r.t.Fatalf("%s: %s %s answered %d %s, want %d", name, method, path, e.status, e.body, want)
	}
	r.got = append(r.got, e)
	return e
}

func firstEvent(t *testing.T, body io.Reader) []byte {
	t.Helper()
	var ev bytes.Buffer
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if sc.Text() == "" && ev.Len() > 0 {
			return ev.Bytes()
		}
		if strings.HasPrefix(sc.Text(), ":") {
			continue
		}
		ev.WriteString(sc.Text() + "\n")
	}
	t.Fatalf("event stream ended before its first event: %v", sc.Err())
	return nil
}

// TestOpenAPIMatchesRecordedAnswers sends every described operation to a
// real dev server (and the no-leader cases to a server that has none), and
// checks each answer (status, headers, body) against api/openapi.yaml, and
// each successful request against its request schema.
func TestOpenAPIMatchesRecordedAnswers(t *testing.T) {
	doc := loadDoc(t)
	n := startDevNode(t)
	base := "http://" + n.HTTPAddr()
	rec := &recorder{t: t, base: base}

	reg := `{"address":"10.0.0.1","port":8080,"tags":["v1"],"meta":{"zone":"a"},"ttl":"30s","deregister_after":"1m"}`
	rec.do("register", 200, "PUT", "/v1/services/web/instances/web-1", reg)
	rec.do("register again", 200, "PUT", "/v1/services/web/instances/web-1", reg)
	rec.do("register a plain instance", 200, "PUT", "/v1/services/db/instances/db-1", `{"address":"db.internal","port":5432}`)
	rec.do("register a bad body", 400, "PUT", "/v1/services/web/instances/web-2", `{"address":"10.0.0.2","port":"x"}`)
	rec.do("register an unknown field", 400, "PUT", "/v1/services/web/instances/web-2", `{"address":"10.0.0.2","port":1,"colour":"red"}`)
	rec.do("register a bad service name", 400, "PUT", "/v1/services/no_underscores/instances/x", `{"address":"10.0.0.2","port":1}`)
	rec.do("register an id another service holds", 409, "PUT", "/v1/services/api/instances/web-1", `{"address":"10.0.0.2","port":1}`)
	rec.do("register too large", 413, "PUT", "/v1/services/web/instances/big",
		`{"address":"10.0.0.2","port":1,"output":"`+strings.Repeat("x", 2<<20)+`"}`)

	rec.do("list services", 200, "GET", "/v1/services", "")
	idx := rec.got[len(rec.got)-1].header.Get(api.HeaderIndex)
	rec.do("list services, blocking", 200, "GET", "/v1/services?index="+idx+"&wait=10ms", "")
	rec.do("list services, consistent", 200, "GET", "/v1/services?consistent", "")
	rec.do("list instances", 200, "GET", "/v1/services/web/instances", "")
	rec.do("list instances, any, by tag", 200, "GET", "/v1/services/web/instances?status=any&tag=v1", "")
	rec.do("list instances, blocking", 200, "GET", "/v1/services/web/instances?index="+idx+"&wait=10ms", "")
	rec.do("list an unknown service", 200, "GET", "/v1/services/nothing/instances", "")
	rec.do("list with a bad status", 400, "GET", "/v1/services/web/instances?status=sleepy", "")
	rec.do("list with a bad wait", 400, "GET", "/v1/services/web/instances?index=1&wait=soon", "")
	rec.do("stream instances", 200, "GET", "/v1/services/web/instances?status=any", "", "Accept", "text/event-stream")
	rec.do("get an instance", 200, "GET", "/v1/services/web/instances/web-1", "")
	rec.do("get an unknown instance", 404, "GET", "/v1/services/web/instances/nope", "")

	rec.do("heartbeat", 200, "PUT", "/v1/services/web/instances/web-1/heartbeat", "")
	rec.do("heartbeat with a status", 200, "PUT", "/v1/services/web/instances/web-1/heartbeat", `{"status":"warning","output":"slow"}`)
	rec.do("heartbeat with a bad status", 400, "PUT", "/v1/services/web/instances/web-1/heartbeat", `{"status":"sleepy"}`)
	rec.do("heartbeat an unknown instance", 404, "PUT", "/v1/services/web/instances/nope/heartbeat", "")
	rec.do("batch heartbeats", 200, "PUT", "/v1/heartbeats",
		`{"instances":[{"service":"web","id":"web-1"},{"service":"web","id":"nope","status":"critical"}]}`)
	rec.do("batch heartbeats, bad body", 400, "PUT", "/v1/heartbeats", `{"instances":{}}`)
	rec.do("enable maintenance", 200, "PUT", "/v1/services/web/instances/web-1/maintenance", `{"enable":true,"reason":"kernel upgrade"}`)
	rec.do("list instances in maintenance", 200, "GET", "/v1/services/web/instances?status=any", "")
	rec.do("disable maintenance", 200, "PUT", "/v1/services/web/instances/web-1/maintenance", `{"enable":false}`)
	rec.do("maintenance without enable", 400, "PUT", "/v1/services/web/instances/web-1/maintenance", `{"reason":"x"}`)
	rec.do("maintenance of an unknown instance", 404, "PUT", "/v1/services/web/instances/nope/maintenance", `{"enable":true}`)
	rec.do("deregister", 200, "DELETE", "/v1/services/db/instances/db-1", "")
	rec.do("deregister an unknown instance", 200, "DELETE", "/v1/services/db/instances/never", "")
	rec.do("heartbeat a deregistered instance", 410, "PUT", "/v1/services/db/instances/db-1/heartbeat", "")

	rec.do("leader", 200, "GET", "/v1/cluster/leader", "")
	rec.do("members", 200, "GET", "/v1/cluster/members", "")
	midx := rec.got[len(rec.got)-1].header.Get(api.HeaderIndex)
	rec.do("members, blocking", 200, "GET", "/v1/cluster/members?index="+midx+"&wait=10ms", "")
	rec.do("raft", 200, "GET", "/v1/cluster/raft", "")
	rec.do("leases", 200, "GET", "/v1/cluster/leases", "")
	rec.do("health", 200, "GET", "/v1/cluster/health", "")
	rec.do("prometheus sd", 200, "GET", "/v1/prometheus/sd", "")
	rec.do("prometheus sd, filtered", 200, "GET", "/v1/prometheus/sd?service=web&service=db&status=any&tag=v1", "")
	rec.do("prometheus sd, bad service", 400, "GET", "/v1/prometheus/sd?service=no_underscores", "")
	rec.do("remove an unknown peer", 404, "DELETE", "/v1/cluster/raft/peers/unknown", "")
	snap := rec.do("snapshot save", 200, "GET", "/v1/snapshot", "")
	rec.do("snapshot restore", 200, "PUT", "/v1/snapshot", string(snap.body), "Content-Type", "application/octet-stream")
	rec.do("snapshot restore, garbage", 400, "PUT", "/v1/snapshot", "not a snapshot", "Content-Type", "application/octet-stream")
	fw := "X-Roster-Forwarded"
	rec.do("forwarded writes", 200, "PUT", "/v1/cluster/forward",
		`{"writes":[{"method":"PUT","uri":"/v1/services/web/instances/web-3","client":"10.9.0.1","body":"`+
			base64.StdEncoding.EncodeToString([]byte(`{"address":"10.0.0.3","port":80}`))+`"},`+
			`{"method":"DELETE","uri":"/v1/services/web/instances/web-3","client":"10.9.0.1"}]}`, fw, "1")
	rec.do("forwarded writes, not from a follower", 403, "PUT", "/v1/cluster/forward",
		`{"writes":[{"method":"DELETE","uri":"/v1/services/web/instances/web-3","client":"10.9.0.1"}]}`)
	rec.do("forwarded writes, none", 400, "PUT", "/v1/cluster/forward", `{"writes":[]}`, fw, "1")
	rec.do("livez", 200, "GET", "/livez", "")
	rec.do("readyz", 200, "GET", "/readyz", "")
	rec.do("metrics", 200, "GET", "/metrics", "")
	rec.do("openapi", 200, "GET", "/v1/openapi.yaml", "")
	recordACL(t, rec) // openapi_acl_test.go

	// A server with no leader: writes and readiness answer 503 no_leader.
	lone := startLeaderlessNode(t)
	rec.base = "http://" + lone.HTTPAddr()
	rec.do("register without a leader", 503, "PUT", "/v1/services/web/instances/web-9", `{"address":"10.0.0.9","port":1}`)
	rec.do("heartbeat without a leader", 503, "PUT", "/v1/services/web/instances/web-9/heartbeat", "")
	rec.do("readyz without a leader", 503, "GET", "/readyz", "")
	rec.do("remove a peer without a leader", 503, "DELETE", "/v1/cluster/raft/peers/x", "")
	rec.do("health without a leader", 503, "GET", "/v1/cluster/health", "")
	rec.do("leave", 200, "PUT", "/v1/cluster/leave", "")

	// Route errors are not operations, but they answer the error shape and
	// the headers of every answer too.
	rec.base = base
	notFound := rec.do("no such route", 404, "GET", "/v1/nothing", "")
	notAllowed := rec.do("method not allowed", 405, "POST", "/v1/services", "")
	rec.got = rec.got[:len(rec.got)-2]

	validate(t, doc, base, rec.got)
	errSchema := doc.Components.Schemas["Error"].Value
	for _, e := range []exchange{notFound, notAllowed} {
		checkReadHeaders(t, e)
		var v any
		if err := json.Unmarshal(e.body, &v); err != nil {
			t.Errorf("%s: body %s: %v", e.name, e.body, err)
		} else if err := errSchema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: body %s does not match Error: %v", e.name, e.body, err)
		}
	}
}

// validate checks every exchange against the document and that every
// described operation was exercised.
func validate(t *testing.T, doc *openapi3.T, base string, got []exchange) {
	t.Helper()
	plain := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	openapi3filter.RegisterBodyDecoder("text/event-stream", plain)
	openapi3filter.RegisterBodyDecoder("application/yaml", plain)
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", plain)
	defer openapi3filter.UnregisterBodyDecoder("text/event-stream")
	defer openapi3filter.UnregisterBodyDecoder("application/x-ndjson")

	// Route against the document with the test server as its server.
	routed := *doc
	routed.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		t.Fatal(err)
	}
	listSchema := doc.Components.Schemas["InstanceList"].Value
	exercised := map[string]bool{}
	ctx := context.Background()
	for _, e := range got {
		req := e.request(base)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s: %s %s matches no described operation: %v", e.name, e.method, e.path, err)
			continue
		}
		exercised[route.Method+" "+route.Path] = true
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{MultiError: true}}
		// Requests are checked only when the server accepted them (the
		// others are bad on purpose).
		if e.status < 400 {
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Errorf("%s: the request does not match the document: %v", e.name, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: e.status, Header: e.header,
			Body:    io.NopCloser(bytes.NewReader(e.body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s: the answer %d %.200s does not match the document: %v", e.name, e.status, e.body, err)
		}
		checkReadHeaders(t, e)
		if strings.HasPrefix(e.header.Get("Content-Type"), "text/event-stream") {
			checkEvent(t, e, listSchema)
		}
	}
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !exercised[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no recorded answer for %v: add one to this test", missing)
	}
}

// checkReadHeaders: every answer carries the three read headers, and 429
// and 503 a Retry-After.
func checkReadHeaders(t *testing.T, e exchange) {
	t.Helper()
	for _, h := range []string{api.HeaderIndex, api.HeaderKnownLeader, api.HeaderLastContact} {
		if len(e.header.Values(h)) != 1 {
			t.Errorf("%s: answer %d has %d %s headers, want 1", e.name, e.status, len(e.header.Values(h)), h)
		}
	}
	if (e.status == 429 || e.status == 503) && e.header.Get("Retry-After") == "" {
		t.Errorf("%s: %d without Retry-After", e.name, e.status)
	}
}

// checkEvent checks an event's framing and that its data is an InstanceList.
func checkEvent(t *testing.T, e exchange, list *openapi3.Schema) {
	t.Helper()
	var data strings.Builder
	var name, id string
	for _, line := range strings.Split(strings.TrimSpace(string(e.body)), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "event":
			name = v
		case "id":
			id = v
		case "data":
			data.WriteString(v)
		}
	}
	var v any
	if err := json.Unmarshal([]byte(data.String()), &v); err != nil {
		t.Fatalf("%s: event data %q: %v", e.name, data.String(), err)
	}
	if err := list.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s: event data does not match InstanceList: %v", e.name, err)
	}
	if name != "instances" || id == "" || id != fmt.Sprint(v.(map[string]any)["index"]) {
		t.Errorf("%s: event %q id %q for index %v", e.name, name, id, v.(map[string]any)["index"])
	}
}

func startDevNode(t *testing.T) *node.Node {
	t.Helper()
	return testkit.StartDev(t)
}

// startLeaderlessNode starts a server that waits for two more to bootstrap
// with, so it never has a leader.
func startLeaderlessNode(t *testing.T) *node.Node {
	t.Helper()
	cfg := testkit.Loopback("alone")
	cfg.Store.DataDir, cfg.Store.BootstrapExpect = t.TempDir(), 3
	return testkit.Start(t, cfg)
}
