package consulapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// startNode starts a whole dev server and waits until it leads.
func startNode(t testing.TB) *node.Node {
	t.Helper()
	return testkit.StartDev(t)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to n and reads the whole answer.
func do(t testing.TB, n *node.Node, method, path, body string) answer {
	t.Helper()
	a := testkit.Do(t, method, "http://"+n.HTTPAddr()+path, body)
	return answer{a.Status, a.Header, a.Body}
}

// must is do that fails the test unless the status is want.
func must(t testing.TB, n *node.Node, want int, method, path, body string) answer {
	t.Helper()
	a := do(t, n, method, path, body)
	if a.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, want)
	}
	return a
}

func decodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// registerWeb registers web-1 on 10.0.0.1:8080 with a passing TTL check.
func registerWeb(t *testing.T, n *node.Node) {
	t.Helper()
	must(t, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register",
		`{"ID":"web-1","Name":"web","Tags":["v1"],"Address":"10.0.0.1","Port":8080,"Meta":{"zone":"a"},
		  "Check":{"TTL":"10s","Status":"passing"}}`)
}
