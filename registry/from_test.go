package registry

import (
	"fmt"
	"slices"
	"testing"
)

func TestFromYieldsTheInstancesFromAnID(t *testing.T) {
	a := newApplier(t)
	var ids []string
	for i := range 500 { // many chunks
		id := fmt.Sprintf("w-%04d", i*2)
		ids = append(ids, id)
		a.mustOK(EncodeRegister(inst("web", id), t0))
	}
	v := a.c.Service("web")
	for _, from := range []string{"", "a", "w-0000", "w-0001", "w-0500", "w-0501", "w-0998", "w-0999", "x"} {
		var got []string
		for in := range v.From(from) {
			got = append(got, in.ID)
		}
		i, _ := slices.BinarySearch(ids, from)
		if want := ids[i:]; !slices.Equal(got, want) {
			t.Errorf("From(%q): %d instances from %v, want %d from %v", from, len(got), head(got), len(want), head(want))
		}
	}
	n := 0
	for range v.From("w-0100") {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("stopping early yielded %d", n)
	}
	var empty *ServiceView
	for range empty.From("") {
		t.Fatal("nil view yielded an instance")
	}
}

func head(s []string) []string { return s[:min(len(s), 3)] }
