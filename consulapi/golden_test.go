package consulapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Every answer has exactly the shape Consul 1.20's own types give it
// (testdata/golden, written by testdata/goldengen from Consul's types):
// the same field names and casing at every level, and the same JSON kind
// for every value. Values are not compared, only the shape tools decode.
func TestAnswersHaveConsulShapes(t *testing.T) {
	n := startNode(t)
	registerWeb(t, n)
	cases := []struct {
		golden, method, path, body string
		// dataMaps are the paths of objects whose keys are data (ids,
		// names, meta keys): their values are compared with the golden's
		// first value.
		dataMaps []string
	}{
		{"agent_services", "GET", "/v1/agent/services", "", []string{"", "/*/Meta"}},
		{"agent_service", "GET", "/v1/agent/service/web-1", "", []string{"/Meta"}},
		{"agent_checks", "GET", "/v1/agent/checks", "", []string{""}},
		{"agent_members", "GET", "/v1/agent/members", "", []string{"/[]/Tags"}},
		{"agent_self", "GET", "/v1/agent/self", "", []string{"/Member/Tags", "/Meta"}},
		{"catalog_datacenters", "GET", "/v1/catalog/datacenters", "", nil},
		{"catalog_services", "GET", "/v1/catalog/services", "", []string{""}},
		{"catalog_service", "GET", "/v1/catalog/service/web", "", []string{"/[]/ServiceMeta", "/[]/NodeMeta", "/[]/TaggedAddresses"}},
		{"catalog_nodes", "GET", "/v1/catalog/nodes", "", []string{"/[]/Meta", "/[]/TaggedAddresses"}},
		{"catalog_node", "GET", "/v1/catalog/node/10.0.0.1", "", []string{"/Services", "/Services/*/Meta", "/Node/Meta", "/Node/TaggedAddresses"}},
		{"health_service", "GET", "/v1/health/service/web", "", []string{"/[]/Service/Meta", "/[]/Node/Meta", "/[]/Node/TaggedAddresses"}},
		{"health_checks", "GET", "/v1/health/checks/web", "", nil},
		{"health_state", "GET", "/v1/health/state/passing", "", nil},
		{"health_node", "GET", "/v1/health/node/10.0.0.1", "", nil},
		{"status_leader", "GET", "/v1/status/leader", "", nil},
		{"status_peers", "GET", "/v1/status/peers", "", nil},
		{"catalog_register", "PUT", "/v1/catalog/register", `{"Node":"10.0.0.2","Address":"10.0.0.2","Service":{"ID":"db-1","Service":"db","Port":5432}}`, nil},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "golden", c.golden+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("golden: %v", err)
			}
			a := must(t, n, http.StatusOK, c.method, c.path, c.body)
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			decodeJSON(t, a.body, &got)
			for _, diff := range compareShape("", want, got, c.dataMaps) {
				t.Error(diff)
			}
		})
	}
}

// compareShape lists where got's shape differs from want's.
func compareShape(path string, want, got any, dataMaps []string) []string {
	if kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s: %s, Consul has %s", where(path), kind(got), kind(want))}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		if isDataMap(path, dataMaps) {
			wv, ok := first(w)
			if !ok {
				return nil
			}
			for k, gv := range g {
				_ = k
				diffs = append(diffs, compareShape(path+"/*", wv, gv, dataMaps)...)
			}
			return diffs
		}
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: field %q missing", where(path), k))
				continue
			}
			diffs = append(diffs, compareShape(path+"/"+k, w[k], gv, dataMaps)...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: field %q is not in Consul's answer", where(path), k))
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) == 0 {
			return []string{fmt.Sprintf("%s: empty array; the test expects entries to compare", where(path))}
		}
		if len(w) > 0 {
			for _, gv := range g {
				diffs = append(diffs, compareShape(path+"/[]", w[0], gv, dataMaps)...)
			}
		}
	}
	return diffs
}

func isDataMap(path string, dataMaps []string) bool {
	for _, p := range dataMaps {
		if p == path {
			return true
		}
	}
	return false
}

func first(m map[string]any) (any, bool) {
	for _, k := range sortedKeys(m) {
		return m[k], true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func where(path string) string {
	if path == "" {
		return "the answer"
	}
	return strings.TrimPrefix(path, "/")
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// The comparison itself catches a missing field, an extra one, a wrong
// kind and a wrong casing.
func TestCompareShapeFindsDifferences(t *testing.T) {
	var want, got any
	decodeJSON(t, []byte(`[{"ServiceID":"a","ServicePort":1,"ServiceTags":["x"],"ServiceMeta":{"k":"v"}}]`), &want)
	decodeJSON(t, []byte(`[{"ServiceId":"a","ServicePort":"1","ServiceTags":[3],"ServiceMeta":{"k":"v"},"Extra":true}]`), &got)
	diffs := compareShape("", want, got, []string{"/[]/ServiceMeta"})
	joined := strings.Join(diffs, "\n")
	for _, s := range []string{`field "ServiceID" missing`, `field "ServiceId" is not in`, `field "Extra" is not in`,
		"ServicePort: a string, Consul has a number", "ServiceTags/[]: a number, Consul has a string"} {
		if !strings.Contains(joined, s) {
			t.Errorf("no %q among the differences:\n%s", s, joined)
		}
	}
}
