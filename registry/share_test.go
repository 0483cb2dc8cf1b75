package registry

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"testing"
)

func samePointer(a, b any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func TestEqualMetaAndTagsAreSharedWithinAService(t *testing.T) {
	a := newApplier(t)
	for i := range 10 {
		in := inst("web", fmt.Sprintf("web-%d", i))
		in.Meta = map[string]string{"version": "1.4.2", "zone": "a"}
		in.Tags = []string{"v1", "http"}
		if i == 9 {
			in.Meta = map[string]string{"version": "1.5.0", "zone": "a"}
		}
		a.register(in)
	}
	v := a.c.Service("web")
	first := v.Instances()[0]
	for _, in := range v.Instances()[1:] {
		if in.Meta["version"] == "1.4.2" && !samePointer(in.Meta, first.Meta) {
			t.Fatalf("%s does not share the meta map of %s", in.ID, first.ID)
		}
		if !samePointer(in.Tags, first.Tags) {
			t.Fatalf("%s does not share the tags of %s", in.ID, first.ID)
		}
	}
	got, _ := a.c.Instance("web-9")
	if got.Meta["version"] != "1.5.0" || samePointer(got.Meta, first.Meta) {
		t.Fatalf("web-9 meta = %v, want its own 1.5.0", got.Meta)
	}

	// A restored catalog shares them too, and holds the same data.
	b := New()
	if err := b.Restore(bytes.NewReader(snapshotBytes(t, a.c)), a.idx); err != nil {
		t.Fatal(err)
	}
	rv := b.Service("web")
	if !samePointer(rv.Instances()[0].Meta, rv.Instances()[1].Meta) || !samePointer(rv.Instances()[0].Tags, rv.Instances()[1].Tags) {
		t.Fatal("restored instances do not share equal meta and tags")
	}
	for i := range v.Instances() {
		x, y := v.Instances()[i], rv.Instances()[i]
		if !sameData(&x, &y) {
			t.Fatalf("restored %+v, want %+v", y, x)
		}
	}
}

// BenchmarkCatalogBytesPerInstance reports the live heap of a catalog
// holding 100,000 instances (1,000 services of 100, a TTL, a tag and a meta
// key each, as bench/scale registers them).
func BenchmarkCatalogBytesPerInstance(b *testing.B) {
	const services, per = 1000, 100
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New()
		idx := uint64(0)
		for s := range services {
			cmds := make([][]byte, 0, per)
			for i := range per {
				in := inst(fmt.Sprintf("svc-%04d", s), fmt.Sprintf("svc-%04d-%d", s, i))
				in.Tags = []string{"v1"}
				in.Meta = map[string]string{"version": "1.4.2"}
				in.TTL = 300e9
				cmds = append(cmds, EncodeRegister(in, t0))
			}
			idx++
			if res := c.Apply(idx, EncodeBatch(cmds)); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(services*per), "B/instance")
		runtime.KeepAlive(c)
	}
}
