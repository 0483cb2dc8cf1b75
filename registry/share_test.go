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

// TestRestoreSharesOnlyEqualMetaAndTags: a restore shares a service's
// meta maps and tag lists among equal ones only, and every instance comes
// back with exactly its own, also when the service carries more distinct
// ones than it keeps for sharing (then some equal ones stay apart).
func TestRestoreSharesOnlyEqualMetaAndTags(t *testing.T) {
	a := newApplier(t)
	for i := range 60 {
		in := inst("web", fmt.Sprintf("web-%02d", i))
		// Seven distinct metas (more than are kept for sharing) and
		// three distinct tag lists, interleaved.
		in.Meta = map[string]string{"version": fmt.Sprintf("1.%d", i%7), "zone": "a"}
		in.Tags = []string{"v1", fmt.Sprintf("t%d", i%3)}
		if i%11 == 0 {
			in.Meta, in.Tags = nil, nil
		}
		a.register(in)
		other := inst("api", fmt.Sprintf("api-%02d", i))
		other.Meta = map[string]string{"version": fmt.Sprintf("1.%d", i%3), "zone": "a"}
		a.register(other)
	}
	b := New()
	if err := b.Restore(bytes.NewReader(snapshotBytes(t, a.c)), a.idx); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "api"} {
		v, rv := a.c.Service(svc), b.Service(svc)
		want, got := v.Instances(), rv.Instances()
		if len(got) != len(want) {
			t.Fatalf("%s: restored %d instances, want %d", svc, len(got), len(want))
		}
		for i := range want {
			x, y := want[i], got[i]
			if !sameData(&x, &y) {
				t.Fatalf("%s: restored %+v, want %+v", svc, y, x)
			}
		}
	}
	web, api := b.Service("web").Instances(), b.Service("api").Instances()
	if !samePointer(web[1].Tags, web[4].Tags) || !samePointer(web[1].Tags, web[58].Tags) {
		t.Error("equal tags restored as separate copies")
	}
	if !samePointer(api[1].Meta, api[4].Meta) || !samePointer(api[1].Meta, api[58].Meta) {
		t.Error("equal meta restored as separate copies")
	}
	if samePointer(web[1].Tags, web[2].Tags) || samePointer(api[1].Meta, api[2].Meta) {
		t.Error("different tags or meta restored as one")
	}
}
