package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// TestInstanceListEqualsEncodingJSON: the cached listing, built a run of
// instances at a time, is byte for byte encoding/json.Marshal of the
// api.InstanceList, for every filter, for a small service (one part) and a
// large one (many), before and after a change.
func TestInstanceListEqualsEncodingJSON(t *testing.T) {
	fc := newFakeCluster()
	full := registry.Instance{Service: "web", ID: "b-full", Address: "10.0.0.1", Port: 80,
		Tags:   []string{"traefik.http.routers.a.rule=Host(`x`)", "<html>&"},
		Meta:   map[string]string{"zone": "eu-1", "quote": `"q"`},
		Weight: 7, Output: "HTTP 200 OK\n\u2028", TTL: 10 * time.Second, DeregisterAfter: 90 * time.Second}
	cmds := [][]byte{registry.EncodeRegister(full, 1)}
	for i, st := range []api.Status{api.StatusPassing, api.StatusWarning, api.StatusCritical} {
		in := registry.Instance{Service: "web", ID: fmt.Sprintf("c-%d", i), Address: "10.0.0.2", Port: 81, Status: st}
		cmds = append(cmds, registry.EncodeRegister(in, 1))
	}
	for i := range 200 {
		in := registry.Instance{Service: "big", ID: fmt.Sprintf("b-%03d", i), Address: "10.0.1.1", Port: 80 + i,
			Status: []api.Status{api.StatusPassing, api.StatusWarning, api.StatusCritical}[i%7%3]}
		cmds = append(cmds, registry.EncodeRegister(in, 1))
	}
	fc.apply(registry.EncodeBatch(cmds))
	check := func(name string) {
		t.Helper()
		v := fc.cat.Service(name)
		for f := range registry.FilterAny + 1 {
			want := api.InstanceList{Service: name, Index: v.Index, Instances: []api.Instance{}}
			for _, in := range v.Select(f, "") {
				want.Instances = append(want.Instances, in.ToAPI())
			}
			wantJSON, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Encode(instanceList{}, f).Bytes(); string(got) != string(wantJSON) {
				t.Errorf("%s, filter %d:\n got %s\nwant %s", name, f, got, wantJSON)
			}
		}
	}
	for _, name := range []string{"web", "big", "empty"} {
		check(name)
	}
	if got := string(fc.cat.Service("empty").Encode(instanceList{}, registry.FilterHealthy).Bytes()); got != `{"service":"empty","index":1,"instances":[]}` {
		t.Fatalf("unknown service %s", got)
	}
	moved := registry.Instance{Service: "big", ID: "b-100", Address: "10.0.1.1", Port: 9, Status: api.StatusCritical}
	fc.apply(registry.EncodeRegister(moved, 1))
	fc.apply(registry.EncodeDeregister("big", "b-150", 1))
	check("big")
}

func TestServiceListEqualsEncodingJSON(t *testing.T) {
	fc := newFakeCluster()
	empty := fc.cat.Services()
	if got := string(empty.Encode(serviceList{})); got != `{"index":0,"services":[]}` {
		t.Fatalf("empty list %s", got)
	}
	fc.apply(registry.EncodeRegister(registry.Instance{Service: "web", ID: "w1", Address: "10.0.0.1", Port: 1, Tags: []string{"b", "a", "b"}}, 1))
	fc.apply(registry.EncodeRegister(registry.Instance{Service: "api", ID: "a1", Address: "10.0.0.1", Port: 1}, 1))
	sv := fc.cat.Services()
	want, _ := json.Marshal(api.ServiceList{Index: sv.Index, Services: sv.Services})
	if got := sv.Encode(serviceList{}); string(got) != string(want) ||
		string(got) != `{"index":2,"services":[{"name":"api","instances":1,"passing":1,"warning":0,"critical":0,"tags":[]},{"name":"web","instances":1,"passing":1,"warning":0,"critical":0,"tags":["a","b"]}]}` {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
