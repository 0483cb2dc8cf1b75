package registry

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

func TestServiceJSONEqualsEncodingJSON(t *testing.T) {
	a := newApplier(t)
	full := inst("web", "b-full")
	full.Tags = []string{"traefik.http.routers.a.rule=Host(`x`)", "<html>&"}
	full.Meta = map[string]string{"zone": "eu-1", "quote": `"q"`}
	full.Weight = 7
	full.Output = "HTTP 200 OK\n\u2028"
	full.TTL = 10 * time.Second
	full.DeregisterAfter = 90 * time.Second
	a.register(full)
	a.register(inst("web", "a-bare"))
	warn := inst("web", "c-warn")
	warn.Status = api.StatusWarning
	a.register(warn)
	crit := inst("web", "d-crit")
	crit.Status = api.StatusCritical
	a.register(crit)

	v := a.c.Service("web")
	for f := range numFilters + 1 { // one past the end: unknown filters list everything
		want := api.InstanceList{Service: "web", Index: v.Index, Instances: []api.Instance{}}
		for _, in := range v.Instances {
			if f.Match(in.Status) {
				want.Instances = append(want.Instances, in.ToAPI())
			}
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.JSON(f); string(got) != string(wantJSON) {
			t.Errorf("filter %d:\n got %s\nwant %s", f, got, wantJSON)
		}
	}
	var back api.InstanceList
	if err := json.Unmarshal(v.JSON(FilterAny), &back); err != nil {
		t.Fatal(err)
	}
	bare := back.Instances[0]
	if bare.ID != "a-bare" || bare.Tags == nil || bare.Meta == nil || bare.TTL != "" || bare.DeregisterAfter != "" {
		t.Fatalf("bare instance %+v", bare)
	}
	if got := back.Instances[1]; got.TTL != "10s" || got.DeregisterAfter != "1m30s" || got.Weight != 7 {
		t.Fatalf("full instance %+v", got)
	}
	if got := string(a.c.Service("empty").JSON(FilterHealthy)); got != `{"service":"empty","index":4,"instances":[]}` {
		t.Fatalf("unknown service JSON %s", got)
	}
}

func TestServiceJSONIsCachedPerView(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	v := a.c.Service("web")
	first := v.JSON(FilterHealthy)
	if &first[0] != &v.JSON(FilterHealthy)[0] {
		t.Fatal("JSON re-encoded for the same view")
	}
	a.register(inst("web", "w2"))
	if v2 := a.c.Service("web"); v2 == v || string(v2.JSON(FilterHealthy)) == string(first) {
		t.Fatal("a change did not give a new view and encoding")
	}
	// The old view is untouched: readers holding it keep a consistent picture.
	if len(v.Instances) != 1 || string(v.JSON(FilterHealthy)) != string(first) {
		t.Fatal("an old view changed")
	}
}

func TestSelect(t *testing.T) {
	a := newApplier(t)
	for _, c := range []struct {
		id     string
		status api.Status
		tags   []string
	}{
		{"a", api.StatusPassing, []string{"v1", "primary"}},
		{"b", api.StatusWarning, []string{"v1"}},
		{"c", api.StatusCritical, []string{"v1"}},
		{"d", api.StatusPassing, []string{"V1"}},
	} {
		in := inst("web", c.id)
		in.Status, in.Tags = c.status, c.tags
		a.register(in)
	}
	v := a.c.Service("web")
	ids := func(ins []Instance) []string {
		var out []string
		for _, in := range ins {
			out = append(out, in.ID)
		}
		return out
	}
	cases := []struct {
		f    Filter
		tag  string
		want []string
	}{
		{FilterHealthy, "", []string{"a", "b", "d"}},
		{FilterPassing, "", []string{"a", "d"}},
		{FilterWarning, "", []string{"b"}},
		{FilterCritical, "", []string{"c"}},
		{FilterAny, "", []string{"a", "b", "c", "d"}},
		{FilterHealthy, "v1", []string{"a", "b"}},
		{FilterAny, "v1", []string{"a", "b", "c"}},
		{FilterPassing, "primary", []string{"a"}},
		{FilterAny, "nope", nil},
	}
	for _, c := range cases {
		if got := ids(v.Select(c.f, c.tag)); !slices.Equal(got, c.want) {
			t.Errorf("Select(%d, %q) = %v, want %v", c.f, c.tag, got, c.want)
		}
	}
}

func TestServicesJSONEqualsEncodingJSON(t *testing.T) {
	a := newApplier(t)
	in := inst("web", "w1")
	in.Tags = []string{"b", "a", "b"}
	a.register(in)
	a.register(inst("api", "a1"))
	sv := a.c.Services()
	want, _ := json.Marshal(api.ServiceList{Index: sv.Index, Services: sv.Services})
	if string(sv.JSON()) != string(want) {
		t.Fatalf("got %s\nwant %s", sv.JSON(), want)
	}
	if string(sv.JSON()) != `{"index":2,"services":[{"name":"api","instances":1,"passing":1,"warning":0,"critical":0,"tags":[]},{"name":"web","instances":1,"passing":1,"warning":0,"critical":0,"tags":["a","b"]}]}` {
		t.Fatalf("unexpected list %s", sv.JSON())
	}
}

func TestToAPI(t *testing.T) {
	got := Instance{Service: "web", ID: "w", Status: api.StatusPassing, TTL: 1500 * time.Millisecond}.ToAPI()
	if got.TTL != "1.5s" || got.DeregisterAfter != "" || got.Tags == nil || got.Meta == nil {
		t.Fatalf("%+v", got)
	}
}
