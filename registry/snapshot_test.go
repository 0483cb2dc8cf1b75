package registry

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestSnapshotRoundTrip10k(t *testing.T) {
	a := newApplier(t)
	for s := range 100 {
		var cmds [][]byte
		for i := range 100 {
			in := inst(fmt.Sprint("svc-", s), fmt.Sprintf("svc-%d-%03d", s, i))
			in.Tags = []string{"v1", fmt.Sprint("shard-", i%4)}
			in.Meta = map[string]string{"zone": fmt.Sprint("z", i%3)}
			in.TTL = 15 * time.Second
			in.DeregisterAfter = time.Minute
			cmds = append(cmds, EncodeRegister(in, t0))
		}
		a.mustOK(EncodeBatch(cmds))
	}
	a.status("svc-3-007", api.StatusCritical, t0+42)
	a.mustOK(EncodeDeregister("svc-4", "svc-4-000", t0+43))
	a.mustOK(EncodeDeregister("svc-5", "svc-5-000", t0+44))
	for i := range 100 {
		a.mustOK(EncodeDeregister("svc-99", fmt.Sprintf("svc-99-%03d", i), t0+45)) // svc-99 goes
	}
	snap := snapshotBytes(t, a.c)

	start := time.Now()
	restored := New()
	watch := restored.WatchService("svc-1")
	// At index 0 nothing is raised, so the state must come back exactly.
	if err := restored.Restore(bytes.NewReader(snap), 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("restored %d bytes (%d instances) in %s", len(snap), 99*100-2, time.Since(start))
	if !closed(watch) {
		t.Fatal("restore did not wake watchers")
	}
	if got := snapshotBytes(t, restored); !bytes.Equal(got, snap) {
		t.Fatal("a restored catalog snapshots differently")
	}
	for _, name := range []string{"svc-0", "svc-3", "svc-4", "svc-99", "never"} {
		want, got := a.c.Service(name), restored.Service(name)
		if got.Index != want.Index || !slices.EqualFunc(got.Instances(), want.Instances(), func(x, y Instance) bool {
			return sameData(&x, &y) && x.CreateIndex == y.CreateIndex && x.ModifyIndex == y.ModifyIndex
		}) || got.Counts().Passing != want.Counts().Passing {
			t.Fatalf("service %s differs after restore", name)
		}
	}
	if !reflect.DeepEqual(restored.Services().Services, a.c.Services().Services) {
		t.Fatal("service list differs after restore")
	}
	if !restored.Tombstoned("svc-4-000", t0) {
		t.Fatal("tombstone lost")
	}
	if in, ok := restored.Instance("svc-3-007"); !ok || in.CriticalSince != t0+42 {
		t.Fatalf("critical instance %+v", in)
	}
	// The restored catalog goes on applying.
	res := restored.Apply(restored.Index()+1, EncodeRegister(inst("svc-0", "svc-3-007"), t0))
	wantErr(t, res.Err, ErrConflict)
}

func TestRestoreRaisesIndexes(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1")) // 1
	a.register(inst("api", "a1")) // 2
	a.mustOK(EncodeDeregister("api", "a1", t0))
	snap := snapshotBytes(t, a.c)

	c := New()
	// The restoring catalog knew a service the snapshot does not.
	c.Apply(1, EncodeRegister(inst("gone", "g1"), t0))
	gone := c.WatchService("gone")
	list := c.WatchServices()
	if err := c.Restore(bytes.NewReader(snap), 1000); err != nil {
		t.Fatal(err)
	}
	if !closed(gone) || !closed(list) {
		t.Fatal("restore did not wake every watcher")
	}
	for _, name := range []string{"web", "api", "gone", "never"} {
		if v := c.Service(name); v.Index < 1000 {
			t.Errorf("%s index %d after restore at 1000", name, v.Index)
		}
	}
	if c.Index() != 1000 || c.Services().Index != 1000 {
		t.Fatalf("catalog index %d, list index %d", c.Index(), c.Services().Index)
	}
	if len(c.Service("gone").Instances()) != 0 {
		t.Fatal("state from before the restore survived")
	}
	if _, ok := c.Instance("g1"); ok {
		t.Fatal("instance from before the restore survived")
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	good := snapshotBytes(t, a.c)
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string]struct {
		data []byte
		want error
	}{
		"future version": {mutate(func(b []byte) []byte { b[4] = SnapshotVersion + 1; return b }), ErrUnknownVersion},
		"bad magic":      {mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrCorrupt},
		"flipped byte":   {mutate(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), ErrCorrupt},
		"bad checksum":   {mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		"truncated":      {good[:len(good)-7], ErrCorrupt},
		"empty":          {nil, ErrCorrupt},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := New()
			c.Apply(1, EncodeRegister(inst("keep", "k1"), t0))
			err := c.Restore(bytes.NewReader(tc.data), 5)
			wantErr(t, err, tc.want)
			if _, ok := c.Instance("k1"); !ok || c.Index() != 1 {
				t.Fatal("a refused restore changed the catalog")
			}
		})
	}
}

// A backup with a valid checksum is still outside input: every instance
// goes through the rules of a registration, and the first bad record is
// named (issue #15).
func TestRestoreRefusesInvalidRecordsWithValidChecksum(t *testing.T) {
	cases := map[string]func(*Instance){
		"port 0":             func(i *Instance) { i.Port = 0 },
		"port negative":      func(i *Instance) { i.Port = -5 },
		"port 70000":         func(i *Instance) { i.Port = 70000 },
		"weight 0":           func(i *Instance) { i.Weight = 0 },
		"weight negative":    func(i *Instance) { i.Weight = -7 },
		"status bogus":       func(i *Instance) { i.Status = "bogus" },
		"id with slash":      func(i *Instance) { i.ID = "a/b" },
		"id with newline":    func(i *Instance) { i.ID = "a\nb" },
		"id with NUL":        func(i *Instance) { i.ID = "a\x00b" },
		"address not an ip":  func(i *Instance) { i.Address = "not an ip!!" },
		"ttl negative":       func(i *Instance) { i.TTL = -time.Second },
		"deregister forever": func(i *Instance) { i.DeregisterAfter = 2562030 * time.Hour },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			good := inst("web", "a-good-one")
			good.Weight, good.Status = 1, api.StatusPassing
			bad := inst("web", "bad")
			bad.Weight, bad.Status = 1, api.StatusPassing
			edit(&bad)
			snap := &Snapshot{index: 9, listIndex: 9, views: []*ServiceView{
				newServiceView("web", 9, []Instance{good, bad}),
			}}
			var buf bytes.Buffer
			if _, err := snap.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			c := New()
			c.Apply(1, EncodeRegister(inst("keep", "k1"), t0))
			err := c.Restore(&buf, 9)
			wantErr(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", bad.ID)) {
				t.Errorf("error %q does not name the bad record %q", err, bad.ID)
			}
			if _, ok := c.Instance("k1"); !ok || c.Index() != 1 {
				t.Fatal("a refused restore changed the catalog")
			}
		})
	}
	t.Run("one id in two services", func(t *testing.T) {
		a, b := inst("api", "same"), inst("web", "same")
		a.Weight, a.Status = 1, api.StatusPassing
		b.Weight, b.Status = 1, api.StatusPassing
		snap := &Snapshot{index: 9, listIndex: 9, views: []*ServiceView{
			newServiceView("api", 9, []Instance{a}), newServiceView("web", 9, []Instance{b}),
		}}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		err := New().Restore(&buf, 9)
		wantErr(t, err, ErrCorrupt)
		if !strings.Contains(err.Error(), "same in two services") {
			t.Errorf("error %q does not name the repeated id", err)
		}
	})
	t.Run("tombstone id with NUL", func(t *testing.T) {
		snap := &Snapshot{index: 9, listIndex: 9, tombs: []tomb{{id: "x\x00", at: t0}}}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		wantErr(t, New().Restore(&buf, 9), ErrCorrupt)
	})
}

// goldenCatalog builds the state saved in testdata/snapshot-v1.bin.
func goldenCatalog(t *testing.T) *Catalog {
	a := newApplier(t)
	full := inst("Web", "web-1")
	full.Address = "web-1.internal"
	full.Tags = []string{"v1", "traefik.http.routers.web.rule=Host(`web.example`)"}
	full.Meta = map[string]string{"version": "1.2.3", "zone": "eu-west-1a"}
	full.Weight = 10
	full.Output = "HTTP GET /health: 200 OK"
	full.TTL = 10 * time.Second
	full.DeregisterAfter = 2 * time.Minute
	a.register(full)
	v6 := inst("web", "web-2")
	v6.Address = "2001:db8::2"
	v6.Status = api.StatusWarning
	a.register(v6)
	crit := inst("orders", "orders-1")
	crit.TTL = 30 * time.Second
	crit.DeregisterAfter = time.Minute
	a.register(crit)
	a.mustOK(EncodeStatus([]StatusUpdate{{ID: "orders-1", Status: api.StatusCritical, KeepOutput: true}}, t0+1e9))
	a.register(inst("gone", "gone-1"))
	a.mustOK(EncodeDeregister("gone", "gone-1", t0+2e9))
	return a.c
}

func TestGoldenSnapshotV1(t *testing.T) {
	path := filepath.Join("testdata", "snapshot-v1.bin")
	if *update && SnapshotVersion == 1 { // a v1 file is never rewritten by a later format
		if err := os.WriteFile(path, snapshotBytes(t, goldenCatalog(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenSnapshotV1 -update to create it)", err)
	}
	c := New()
	if err := c.Restore(bytes.NewReader(data), 0); err != nil {
		t.Fatalf("a version 1 snapshot no longer restores: %v", err)
	}
	web := c.Service("web")
	if web.Index != 2 || len(web.Instances()) != 2 {
		t.Fatalf("web %+v", web)
	}
	w1 := web.Instances()[0]
	if w1.Address != "web-1.internal" || w1.Weight != 10 || w1.TTL != 10*time.Second ||
		w1.DeregisterAfter != 2*time.Minute || w1.Meta["zone"] != "eu-west-1a" ||
		w1.Tags[1] != "traefik.http.routers.web.rule=Host(`web.example`)" || w1.CreateIndex != 1 {
		t.Fatalf("web-1 %+v", w1)
	}
	if web.Instances()[1].Status != api.StatusWarning || web.Instances()[1].Address != "2001:db8::2" {
		t.Fatalf("web-2 %+v", web.Instances()[1])
	}
	if o, ok := c.Instance("orders-1"); !ok || o.Status != api.StatusCritical || o.CriticalSince != t0+1e9 || o.ModifyIndex != 4 {
		t.Fatalf("orders-1 %+v", o)
	}
	if g := c.Service("gone"); g.Index != 6 || len(g.Instances()) != 0 {
		t.Fatalf("gone %+v", g)
	}
	if !c.Tombstoned("gone-1", t0+2e9) || c.Index() != 6 {
		t.Fatal("tombstone or index lost")
	}
	// While the format is version 1, this build writes exactly these bytes.
	if SnapshotVersion == 1 && !bytes.Equal(snapshotBytes(t, goldenCatalog(t)), data) {
		t.Fatal("version 1 snapshots are written differently now: bump SnapshotVersion and keep reading version 1")
	}
}

func TestSnapshotIsIsolatedFromLaterApplies(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	snap := a.c.Snapshot()
	a.register(inst("web", "w2"))
	a.mustOK(EncodeDeregister("web", "w1", t0))
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	c := New()
	if err := c.Restore(&buf, snap.Index()); err != nil {
		t.Fatal(err)
	}
	if v := c.Service("web"); len(v.Instances()) != 1 || v.Instances()[0].ID != "w1" {
		t.Fatalf("snapshot saw later applies: %+v", v.Instances())
	}
}

func TestSnapshot100kMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	a := newApplier(t)
	for s := range 1000 {
		cmds := make([][]byte, 0, 100)
		for i := range 100 {
			in := inst(fmt.Sprint("svc-", s), fmt.Sprintf("i-%d-%d", s, i))
			in.TTL = 10 * time.Second
			in.Tags = []string{"v1"}
			cmds = append(cmds, EncodeRegister(in, t0))
		}
		a.mustOK(EncodeBatch(cmds))
	}
	var buf bytes.Buffer
	start := time.Now()
	if _, err := a.c.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start = time.Now()
	c := New()
	if err := c.Restore(bytes.NewReader(buf.Bytes()), a.c.Index()); err != nil {
		t.Fatal(err)
	}
	read := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("100k instances: snapshot %d bytes, written in %s, restored in %s, restored heap %.1f MB",
		buf.Len(), wrote, read, float64(after.HeapAlloc-before.HeapAlloc)/1e6)
	if read > 5*time.Second {
		t.Fatalf("restore of 100k instances took %s", read)
	}
	if v := c.Service("svc-999"); len(v.Instances()) != 100 || c.Index() != a.c.Index() {
		t.Fatalf("restored catalog: %d instances in svc-999 at index %d, want 100 at %d", len(v.Instances()), c.Index(), a.c.Index())
	}
	// design.md: 100k instances under 150 MB resident for the whole server;
	// the catalog's share must stay well inside it (about 30 MB measured).
	if heap := int64(after.HeapAlloc) - int64(before.HeapAlloc); heap > 80<<20 {
		t.Fatalf("the restored catalog of 100k instances takes %.1f MB of heap, want under 80 MB", float64(heap)/1e6)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(a)
}
