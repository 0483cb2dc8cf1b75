package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

func TestMaintenanceApply(t *testing.T) {
	cases := map[string]struct {
		service, id string
		enable      bool
		reason      string
		before      string // maintenance reason before the command
		want        string // reason after; "" not in maintenance
		err         error
		moves       bool // ModifyIndex moves and a change is reported
	}{
		"enable with a reason":                {service: "web", id: "w1", enable: true, reason: "kernel upgrade", want: "kernel upgrade", moves: true},
		"enable without a reason":             {service: "web", id: "w1", enable: true, want: DefaultMaintenanceReason, moves: true},
		"enable by id alone":                  {id: "w1", enable: true, reason: "r", want: "r", moves: true},
		"service is case-insensitive":         {service: "WEB", id: "w1", enable: true, reason: "r", want: "r", moves: true},
		"enable again, same reason":           {service: "web", id: "w1", enable: true, reason: "r", before: "r", want: "r"},
		"enable again, new reason":            {service: "web", id: "w1", enable: true, reason: "s", before: "r", want: "s", moves: true},
		"disable":                             {service: "web", id: "w1", before: "r", moves: true},
		"disable when not in it":              {service: "web", id: "w1"},
		"unknown id":                          {service: "web", id: "nope", enable: true, err: ErrNotFound},
		"id held by another service":          {service: "db", id: "w1", enable: true, err: ErrNotFound},
		"a long reason is cut":                {service: "web", id: "w1", enable: true, reason: strings.Repeat("x", MaxOutput+10), want: strings.Repeat("x", MaxOutput), moves: true},
		"invalid UTF-8 in reason is replaced": {service: "web", id: "w1", enable: true, reason: "a\xffb", want: "a\uFFFDb", moves: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := newApplier(t)
			a.register(inst("web", "w1"))
			if tc.before != "" {
				a.mustOK(EncodeMaintenance("web", "w1", true, tc.before, t0))
			}
			before, _ := a.c.Instance("w1")
			idx := a.c.Index()
			res := a.apply(EncodeMaintenance(tc.service, tc.id, tc.enable, tc.reason, t0))
			if tc.err != nil {
				wantErr(t, res.Err, tc.err)
			} else if res.Err != nil {
				t.Fatal(res.Err)
			}
			after, _ := a.c.Instance("w1")
			if after.Maintenance != tc.want {
				t.Fatalf("maintenance %q, want %q", after.Maintenance, tc.want)
			}
			moved := after.ModifyIndex != before.ModifyIndex
			if moved != tc.moves || (len(res.Changed) > 0) != tc.moves {
				t.Fatalf("modify index %d -> %d, %d changes; want moved=%v", before.ModifyIndex, after.ModifyIndex, len(res.Changed), tc.moves)
			}
			if !tc.moves && a.c.Service("web").Index != idx {
				t.Fatalf("the service index moved from %d to %d for a command that changed nothing", idx, a.c.Service("web").Index)
			}
			if tc.err == nil && res.Instance.Maintenance != tc.want {
				t.Fatalf("result instance %+v", res.Instance)
			}
		})
	}
}

// TestMaintenanceIsCriticalForDiscovery: an instance in maintenance is left
// out of the default listings and counted critical, while its own status
// (what heartbeats set) stays as it was and unchanged heartbeats still
// change nothing.
func TestMaintenanceIsCriticalForDiscovery(t *testing.T) {
	a := newApplier(t)
	w1 := inst("web", "w1")
	w1.TTL = 10 * time.Second
	a.register(w1)
	a.register(inst("web", "w2"))
	a.mustOK(EncodeMaintenance("web", "w1", true, "upgrade", t0))

	v := a.c.Service("web")
	if got := v.Select(FilterHealthy, ""); len(got) != 1 || got[0].ID != "w2" {
		t.Fatalf("healthy: %+v", got)
	}
	if got := v.Select(FilterPassing, ""); len(got) != 1 || got[0].ID != "w2" {
		t.Fatalf("passing: %+v", got)
	}
	if got := v.Select(FilterCritical, ""); len(got) != 1 || got[0].ID != "w1" {
		t.Fatalf("critical: %+v", got)
	}
	if c := v.Counts(); c.Passing != 1 || c.Critical != 1 {
		t.Fatalf("counts %+v", c)
	}
	if s := a.c.Services().Services; len(s) != 1 || s[0].Critical != 1 || s[0].Passing != 1 {
		t.Fatalf("service list %+v", s)
	}
	if w1, _ := v.Get("w1"); w1.ToAPI().Status != api.StatusCritical || w1.ToAPI().Maintenance != "upgrade" {
		t.Fatalf("w1 on the wire: %+v", w1.ToAPI())
	}
	got, _ := a.c.Instance("w1")
	if got.Status != api.StatusPassing || got.Health() != api.StatusCritical {
		t.Fatalf("status %s, health %s", got.Status, got.Health())
	}
	// A passing heartbeat changes nothing; re-registering keeps maintenance.
	idx := a.c.Service("web").Index
	if res := a.status("w1", api.StatusPassing, t0); len(res.Changed) != 0 || a.c.Service("web").Index != idx {
		t.Fatal("an unchanged heartbeat changed an instance in maintenance")
	}
	if res := a.register(w1); len(res.Changed) != 0 || res.Instance.Maintenance != "upgrade" {
		t.Fatalf("re-registering the same data: %d changes, maintenance %q", len(res.Changed), res.Instance.Maintenance)
	}
	a.mustOK(EncodeMaintenance("web", "w1", false, "", t0))
	if got := a.c.Service("web").Select(FilterPassing, ""); len(got) != 2 {
		t.Fatalf("after disable, passing: %+v", got)
	}
	// A deregistered and registered-again instance starts out of maintenance.
	a.mustOK(EncodeMaintenance("web", "w2", true, "", t0))
	a.mustOK(EncodeDeregister("web", "w2", t0))
	if res := a.register(inst("web", "w2")); res.Instance.Maintenance != "" {
		t.Fatal("maintenance survived a deregistration")
	}
}

// maintenanceGoldenCatalog is the state saved in testdata/snapshot-v3.bin.
func maintenanceGoldenCatalog(t *testing.T) *Catalog {
	a := newApplier(t)
	w1 := inst("web", "web-1")
	w1.TTL = 10 * time.Second
	a.register(w1)
	a.register(inst("web", "web-2"))
	a.mustOK(EncodeMaintenance("web", "web-1", true, "kernel upgrade", t0+1e9))
	a.mustOK(EncodeACLBootstrap(token("boot", "operator:write"), 0))
	return a.c
}

// TestGoldenSnapshotV3: a catalog with an instance in maintenance is written
// as version 3, exactly these bytes, and restores with the reason.
func TestGoldenSnapshotV3(t *testing.T) {
	path := filepath.Join("testdata", "snapshot-v3.bin")
	if *update && SnapshotVersion == 3 {
		if err := os.WriteFile(path, snapshotBytes(t, maintenanceGoldenCatalog(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenSnapshotV3 -update to create it)", err)
	}
	if data[4] != 3 {
		t.Fatalf("version byte %d, want 3", data[4])
	}
	c := New()
	if err := c.Restore(bytes.NewReader(data), 0); err != nil {
		t.Fatalf("a version 3 snapshot no longer restores: %v", err)
	}
	w1, ok := c.Instance("web-1")
	if !ok || w1.Maintenance != "kernel upgrade" || w1.Health() != api.StatusCritical || w1.ModifyIndex != 3 {
		t.Fatalf("web-1 %+v", w1)
	}
	if w2, _ := c.Instance("web-2"); w2.Maintenance != "" {
		t.Fatalf("web-2 %+v", w2)
	}
	if s := c.Service("web").Counts(); s.Critical != 1 || s.Passing != 1 {
		t.Fatalf("restored counts %+v", s)
	}
	if c.ACLBootstrapIndex() != 4 {
		t.Fatalf("bootstrap index %d", c.ACLBootstrapIndex())
	}
	if SnapshotVersion == 3 && !bytes.Equal(snapshotBytes(t, maintenanceGoldenCatalog(t)), data) {
		t.Fatal("version 3 snapshots are written differently now: bump SnapshotVersion and keep reading version 3")
	}
	// Disabling maintenance everywhere goes back to writing version 2.
	a := &applier{t: t, c: c, idx: c.Index()}
	a.mustOK(EncodeMaintenance("", "web-1", false, "", t0+2e9))
	if b := snapshotBytes(t, c); b[4] != 2 {
		t.Fatalf("without maintenance the snapshot is version %d, want 2", b[4])
	}
}
