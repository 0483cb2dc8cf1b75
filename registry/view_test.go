package registry

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rosterhq/roster/api"
)

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

func TestServiceEncodingIsCachedPerView(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	v := a.c.Service("web")
	first := v.Encode(idEncoder{}, FilterHealthy).Bytes()
	if &first[0] != &v.Encode(idEncoder{}, FilterHealthy).Bytes()[0] {
		t.Fatal("re-encoded for the same view")
	}
	a.register(inst("web", "w2"))
	if v2 := a.c.Service("web"); v2 == v || string(v2.Encode(idEncoder{}, FilterHealthy).Bytes()) == string(first) {
		t.Fatal("a change did not give a new view and encoding")
	}
	// The old view is untouched: readers holding it keep a consistent picture.
	if v.Len() != 1 || string(v.Encode(idEncoder{}, FilterHealthy).Bytes()) != string(first) {
		t.Fatal("an old view changed")
	}
}

type listEncoder struct{}

func (listEncoder) AppendList(b []byte, v *ServicesView) []byte {
	return fmt.Appendf(b, "%d:%d", v.Index, len(v.Services))
}

func TestServicesEncodingIsCachedPerView(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	sv := a.c.Services()
	first := sv.Encode(listEncoder{})
	if string(first) != "1:1" || &first[0] != &sv.Encode(listEncoder{})[0] {
		t.Fatalf("list encoded %q, or again for the same view", first)
	}
	a.register(inst("api", "a1"))
	if got := string(a.c.Services().Encode(listEncoder{})); got != "2:2" {
		t.Fatalf("after a change: %s", got)
	}
}
