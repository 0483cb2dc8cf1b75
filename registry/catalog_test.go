package registry

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

func TestRegisterNewInstance(t *testing.T) {
	a := newApplier(t)
	in := inst("Web", "web-1")
	in.Tags = []string{"v1"}
	res := a.register(in)
	got := res.Instance
	if got.Service != "web" || got.Status != api.StatusPassing || got.Weight != 1 ||
		got.CreateIndex != 1 || got.ModifyIndex != 1 || got.CriticalSince != 0 {
		t.Fatalf("stored %+v", got)
	}
	if len(res.Changed) != 1 || res.Changed[0].Kind != ChangeUpsert || res.Changed[0].Instance.ID != "web-1" {
		t.Fatalf("Changed %+v", res.Changed)
	}
	v := a.c.Service("WEB")
	if v.Index != 1 || len(v.Instances()) != 1 || v.Instances()[0].ID != "web-1" {
		t.Fatalf("view %+v", v)
	}
	if stored, ok := a.c.Instance("web-1"); !ok || stored.ModifyIndex != 1 {
		t.Fatalf("Instance = %+v, %v", stored, ok)
	}
	if a.c.Index() != 1 {
		t.Fatalf("Index %d", a.c.Index())
	}
}

func TestRegisterSameDataMovesNoIndex(t *testing.T) {
	a := newApplier(t)
	in := inst("web", "web-1")
	in.Meta = map[string]string{"zone": "a", "rack": "1"}
	in.TTL = 10 * time.Second
	a.register(in)
	a.register(inst("other", "o-1")) // index 2
	res := a.register(in)            // index 3: same data
	if len(res.Changed) != 0 {
		t.Fatalf("no-op register reported changes: %+v", res.Changed)
	}
	if res.Instance.ModifyIndex != 1 || res.Instance.CreateIndex != 1 {
		t.Fatalf("no-op register answered %+v", res.Instance)
	}
	if v := a.c.Service("web"); v.Index != 1 {
		t.Fatalf("service index moved to %d", v.Index)
	}
	if a.c.Index() != 3 {
		t.Fatalf("catalog index %d, want 3", a.c.Index())
	}
	// Explicit defaults are the same data as implicit ones.
	in.Weight, in.Status, in.Tags = 1, api.StatusPassing, []string{}
	if res := a.register(in); len(res.Changed) != 0 {
		t.Fatalf("explicit defaults changed the instance")
	}
}

func TestReRegisterWithNewDataKeepsCreateIndex(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "web-1"))
	in := inst("web", "web-1")
	in.Port = 9090
	res := a.register(in)
	if res.Instance.CreateIndex != 1 || res.Instance.ModifyIndex != 2 || res.Instance.Port != 9090 {
		t.Fatalf("stored %+v", res.Instance)
	}
	if v := a.c.Service("web"); v.Index != 2 || len(v.Instances()) != 1 {
		t.Fatalf("view %+v", v)
	}
}

func TestRegisterStatusRules(t *testing.T) {
	a := newApplier(t)
	in := inst("web", "web-1")
	in.Status = api.StatusCritical
	now := t0 + 5
	res := a.mustOK(EncodeRegister(in, now))
	if res.Instance.CriticalSince != now {
		t.Fatalf("CriticalSince %d, want %d", res.Instance.CriticalSince, now)
	}
	// Still critical: the time it turned critical is kept.
	res = a.mustOK(EncodeRegister(in, now+100))
	if res.Instance.CriticalSince != now || len(res.Changed) != 0 {
		t.Fatalf("re-register critical: %+v", res.Instance)
	}
	// A re-register without status means passing.
	in.Status = ""
	res = a.mustOK(EncodeRegister(in, now+200))
	if res.Instance.Status != api.StatusPassing || res.Instance.CriticalSince != 0 {
		t.Fatalf("re-register without status: %+v", res.Instance)
	}
}

func TestRegisterConflict(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "shared-id"))
	res := a.apply(EncodeRegister(inst("api", "shared-id"), t0))
	wantErr(t, res.Err, ErrConflict)
	if len(res.Changed) != 0 {
		t.Fatal("conflict changed state")
	}
	if v := a.c.Service("api"); len(v.Instances()) != 0 {
		t.Fatal("conflicting instance stored")
	}
	// A deregister naming the wrong service is refused as well.
	res = a.apply(EncodeDeregister("api", "shared-id", t0))
	wantErr(t, res.Err, ErrConflict)
	if _, ok := a.c.Instance("shared-id"); !ok {
		t.Fatal("wrong-service deregister removed the instance")
	}
}

func TestApplyRefusesInvalidRegistration(t *testing.T) {
	a := newApplier(t)
	in := inst("web", "web-1")
	in.Port = 0
	res := a.apply(EncodeRegister(in, t0))
	var ve *ValidationError
	if !errors.As(res.Err, &ve) || ve.Field != "port" {
		t.Fatalf("Err = %v", res.Err)
	}
	if a.c.Index() != 1 || a.c.Service("web").Index != 1 {
		t.Fatalf("a refused command moves the catalog index only as far as any entry: %d", a.c.Index())
	}
	if _, ok := a.c.Instance("web-1"); ok {
		t.Fatal("invalid instance stored")
	}
}

func TestDeregisterAndTombstones(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "web-1"))
	now := t0 + int64(time.Hour)
	res := a.mustOK(EncodeDeregister("web", "web-1", now))
	if len(res.Changed) != 1 || res.Changed[0].Kind != ChangeRemove || res.Changed[0].Instance.ID != "web-1" {
		t.Fatalf("Changed %+v", res.Changed)
	}
	if v := a.c.Service("web"); v.Index != 2 || len(v.Instances()) != 0 {
		t.Fatalf("view after deregister %+v", v)
	}
	if !a.c.Tombstoned("web-1", now-int64(TombstonePeriod)) || !a.c.Tombstoned("web-1", now) {
		t.Fatal("not tombstoned")
	}
	if a.c.Tombstoned("web-1", now+1) {
		t.Fatal("tombstoned after its time")
	}

	// Unknown ids succeed and change nothing.
	res = a.mustOK(EncodeDeregister("web", "never-seen", now))
	if len(res.Changed) != 0 || a.c.Tombstoned("never-seen", 0) || a.c.Service("web").Index != 2 {
		t.Fatal("deregister of an unknown id changed state")
	}

	// A command 10 minutes later keeps it; one just past drops it.
	a.mustOK(EncodeDeregister("x", "y", now+int64(TombstonePeriod)))
	if !a.c.Tombstoned("web-1", 0) {
		t.Fatal("tombstone dropped at exactly the period")
	}
	a.mustOK(EncodeDeregister("x", "y", now+int64(TombstonePeriod)+1))
	if a.c.Tombstoned("web-1", 0) {
		t.Fatal("tombstone kept past the period")
	}
}

func TestRegisterClearsTombstone(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "web-1"))
	a.mustOK(EncodeDeregister("", "web-1", t0)) // by id alone
	if !a.c.Tombstoned("web-1", 0) {
		t.Fatal("not tombstoned")
	}
	res := a.register(inst("web", "web-1"))
	if res.Instance.CreateIndex != 3 {
		t.Fatalf("re-registered %+v", res.Instance)
	}
	if a.c.Tombstoned("web-1", 0) {
		t.Fatal("tombstone survived a new registration")
	}
}

func TestStatusUpdates(t *testing.T) {
	a := newApplier(t)
	in := inst("web", "web-1")
	in.Output = "booting"
	a.register(in)

	res := a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusCritical, Output: "down"}}, t0+10))
	got := res.Changed[0].Instance
	if got.Status != api.StatusCritical || got.CriticalSince != t0+10 || got.Output != "down" || got.ModifyIndex != 2 {
		t.Fatalf("after critical %+v", got)
	}
	// Critical again: CriticalSince stays, output changes.
	res = a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusCritical, Output: "still down"}}, t0+20))
	if got := res.Changed[0].Instance; got.CriticalSince != t0+10 || got.Output != "still down" {
		t.Fatalf("still critical %+v", got)
	}
	// Expiry keeps the output.
	a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusWarning, Output: "slow"}}, t0+30))
	res = a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusCritical, KeepOutput: true}}, t0+40))
	if got := res.Changed[0].Instance; got.Output != "slow" || got.CriticalSince != t0+40 {
		t.Fatalf("expiry %+v", got)
	}
	// Empty status means passing, and leaving critical clears CriticalSince.
	res = a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Output: "ok"}}, t0+50))
	if got := res.Changed[0].Instance; got.Status != api.StatusPassing || got.CriticalSince != 0 || got.ModifyIndex != 6 {
		t.Fatalf("renewed %+v", got)
	}
	// The same status and output again changes nothing and moves no index.
	res = a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusPassing, Output: "ok"}}, t0+60))
	if len(res.Changed) != 0 || a.c.Service("web").Index != 6 {
		t.Fatalf("no-op status update changed %+v", res.Changed)
	}
	// Unknown ids are ignored; an invalid status refuses the command.
	res = a.mustOK(EncodeStatus([]StatusUpdate{{ID: "ghost", Status: api.StatusCritical}}, t0))
	if len(res.Changed) != 0 {
		t.Fatal("update of an unknown id changed something")
	}
	res = a.apply(EncodeStatus([]StatusUpdate{{ID: "web-1", Status: api.StatusCritical}, {ID: "web-1", Status: "sleepy"}}, t0))
	var ve *ValidationError
	if !errors.As(res.Err, &ve) || len(res.Changed) != 0 {
		t.Fatalf("invalid status: %v %+v", res.Err, res.Changed)
	}
}

func TestStatusOutputIsCut(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "web-1"))
	long := string(make([]byte, MaxOutput-1)) + "é" // the rune straddles the limit
	res := a.mustOK(EncodeStatus([]StatusUpdate{{ID: "web-1", Output: long}}, t0))
	if got := res.Changed[0].Instance.Output; len(got) != MaxOutput-1 {
		t.Fatalf("output of %d bytes", len(got))
	}
}

func TestReapOnlyIfStillCritical(t *testing.T) {
	a := newApplier(t)
	for _, id := range []string{"a", "b", "c"} {
		in := inst("web", id)
		in.TTL = 10 * time.Second
		in.DeregisterAfter = time.Minute
		a.register(in)
	}
	a.status("a", api.StatusCritical, t0)
	a.status("b", api.StatusCritical, t0)
	a.status("b", api.StatusPassing, t0+1) // renewed after the leader decided
	res := a.mustOK(EncodeReap([]string{"a", "b", "ghost"}, t0+int64(time.Minute)))
	if len(res.Changed) != 1 || res.Changed[0].Kind != ChangeRemove || res.Changed[0].Instance.ID != "a" {
		t.Fatalf("Changed %+v", res.Changed)
	}
	ids := []string{}
	for _, in := range a.c.Service("web").Instances() {
		ids = append(ids, in.ID)
	}
	if !slices.Equal(ids, []string{"b", "c"}) {
		t.Fatalf("left %v", ids)
	}
	if a.c.Tombstoned("a", 0) {
		t.Fatal("a reaped instance is tombstoned")
	}
}

func TestBatch(t *testing.T) {
	a := newApplier(t)
	a.register(inst("api", "taken"))
	res := a.mustOK(EncodeBatch([][]byte{
		EncodeRegister(inst("web", "w1"), t0),
		EncodeRegister(inst("web", "taken"), t0), // conflict
		EncodeRegister(inst("web", "w0"), t0),
		EncodeDeregister("web", "w1", t0),
		EncodeStatus([]StatusUpdate{{ID: "w0", Status: api.StatusWarning}}, t0),
	}))
	if len(res.Errs) != 5 || len(res.Stored) != 5 {
		t.Fatalf("Errs %v", res.Errs)
	}
	for i, err := range res.Errs {
		if (i == 1) != (err != nil) {
			t.Fatalf("Errs[%d] = %v", i, err)
		}
	}
	wantErr(t, res.Errs[1], ErrConflict)
	if in := res.Stored[2]; in == nil || in.ID != "w0" || in.CreateIndex != 2 || in.Status != api.StatusPassing {
		t.Fatalf("Stored[2] %+v, want w0 as registered (created at 2, passing)", in)
	}
	if res.Stored[1] != nil || res.Stored[3] != nil || res.Stored[4] != nil {
		t.Fatalf("Stored %v: only registrations that stored an instance have one", res.Stored)
	}
	if len(res.Changed) != 4 {
		t.Fatalf("Changed %+v", res.Changed)
	}
	v := a.c.Service("web")
	if v.Index != 2 || len(v.Instances()) != 1 || v.Instances()[0].ID != "w0" || v.Instances()[0].Status != api.StatusWarning {
		t.Fatalf("view %+v", v)
	}
}

func TestUnknownVersionChangesNothing(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	before := snapshotBytes(t, a.c)

	future := EncodeRegister(inst("web", "w2"), t0)
	future[0] = CommandVersion + 1
	unknownType := EncodeRegister(inst("web", "w2"), t0)
	unknownType[1] = 99
	cases := map[string]struct {
		cmd  []byte
		want error
	}{
		"future version": {future, ErrUnknownVersion},
		"unknown type":   {unknownType, ErrUnknownVersion},
		"in a batch":     {EncodeBatch([][]byte{EncodeRegister(inst("web", "w3"), t0), future}), ErrUnknownVersion},
		"empty":          {nil, ErrCorrupt},
		"truncated":      {EncodeRegister(inst("web", "w2"), t0)[:10], ErrCorrupt},
		"trailing bytes": {append(EncodeReap([]string{"w1"}, t0), 0), ErrCorrupt},
		"nested batch":   {EncodeBatch([][]byte{EncodeBatch(nil)}), ErrCorrupt},
		"huge count":     {[]byte{CommandVersion, cmdReap, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res := a.c.Apply(100, tc.cmd)
			wantErr(t, res.Err, tc.want)
			if a.c.Index() != 1 {
				t.Fatalf("index moved to %d", a.c.Index())
			}
			if got := snapshotBytes(t, a.c); string(got) != string(before) {
				t.Fatal("state changed")
			}
		})
	}
}

func TestServiceIndexesNeverGoBackwards(t *testing.T) {
	a := newApplier(t)
	if v := a.c.Service("orders"); v.Index != 0 || len(v.Instances()) != 0 || v.Name != "orders" {
		t.Fatalf("unknown service on an empty catalog %+v", v)
	}
	a.register(inst("web", "w1")) // 1
	a.register(inst("orders", "o1"))
	a.register(inst("web", "w2")) // 3
	if v := a.c.Service("never"); v.Index != 3 {
		t.Fatalf("never-seen service index %d, want the catalog's 3", v.Index)
	}
	a.mustOK(EncodeDeregister("orders", "o1", t0)) // 4
	a.register(inst("web", "w3"))                  // 5
	if v := a.c.Service("orders"); v.Index != 4 || len(v.Instances()) != 0 {
		t.Fatalf("removed service %+v, want its last change 4", v)
	}
	if v := a.c.Service("web"); v.Index != 5 {
		t.Fatalf("web index %d", v.Index)
	}
}

func TestServicesView(t *testing.T) {
	a := newApplier(t)
	sv := a.c.Services()
	if sv.Index != 0 || len(sv.Services) != 0 {
		t.Fatalf("empty list %+v", sv)
	}
	w := inst("web", "w1")
	w.Tags = []string{"v2", "http"}
	a.register(w) // 1
	w2 := inst("web", "w2")
	w2.Tags = []string{"http"}
	w2.Status = api.StatusCritical
	a.register(w2)                // 2
	a.register(inst("api", "a1")) // 3
	ch := a.c.WatchServices()
	a.register(inst("api", "a2")) // 4: counts change
	if !closed(ch) {
		t.Fatal("services watch not woken by a count change")
	}
	ch = a.c.WatchServices()
	moved := inst("api", "a2")
	moved.Port = 1 // 5: no count or tag change
	a.register(moved)
	if closed(ch) {
		t.Fatal("services watch woken by a change that leaves the list as it was")
	}
	sv = a.c.Services()
	want := []api.ServiceSummary{
		{Name: "api", Instances: 2, Passing: 2, Tags: []string{}},
		{Name: "web", Instances: 2, Passing: 1, Critical: 1, Tags: []string{"http", "v2"}},
	}
	if sv.Index != 4 || fmt.Sprint(sv.Services) != fmt.Sprint(want) {
		t.Fatalf("list %d %+v", sv.Index, sv.Services)
	}
	if a.c.Services() != sv {
		t.Fatal("the list is rebuilt without a change")
	}
	a.mustOK(EncodeDeregister("api", "a1", t0))
	a.mustOK(EncodeDeregister("api", "a2", t0)) // 7: api goes
	if !closed(ch) {
		t.Fatal("services watch not woken when a service goes")
	}
	sv = a.c.Services()
	if sv.Index != 7 || len(sv.Services) != 1 || sv.Services[0].Name != "web" {
		t.Fatalf("list after api went %+v", sv)
	}
}

func TestWatchWakesOnlyTheChangedService(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	web := a.c.WatchService("web")
	api := a.c.WatchService("API")
	orders := a.c.WatchService("orders") // does not exist yet
	a.register(inst("web", "w2"))
	if !closed(web) || closed(api) || closed(orders) {
		t.Fatalf("web %v api %v orders %v", closed(web), closed(api), closed(orders))
	}
	// A no-op write wakes nobody.
	web = a.c.WatchService("web")
	a.register(inst("web", "w2"))
	if closed(web) {
		t.Fatal("no-op register woke watchers")
	}
	a.register(inst("orders", "o1"))
	if !closed(orders) || closed(api) || closed(web) {
		t.Fatal("creating orders did not wake exactly its watchers")
	}
	a.register(inst("api", "a1"))
	if !closed(api) {
		t.Fatal("api watcher (taken with upper case) not woken")
	}
}

func TestWatchBlocksUntilChange(t *testing.T) {
	a := newApplier(t)
	ch := a.c.WatchService("web")
	got := make(chan uint64)
	go func() {
		<-ch
		got <- a.c.Service("web").Index
	}()
	a.register(inst("web", "w1"))
	select {
	case idx := <-got:
		if idx != 1 {
			t.Fatalf("woken watcher read index %d", idx)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not woken")
	}
}

func TestForEachLeased(t *testing.T) {
	a := newApplier(t)
	ttl := inst("web", "ttl")
	ttl.TTL = time.Minute
	a.register(ttl)
	a.register(inst("web", "plain"))
	crit := inst("web", "crit")
	crit.Status = api.StatusCritical
	crit.DeregisterAfter = time.Minute
	a.register(crit)
	critNoReap := inst("web", "crit-keep")
	critNoReap.Status = api.StatusCritical
	a.register(critNoReap)
	var ids []string
	a.c.ForEachLeased(func(in Instance) { ids = append(ids, in.ID) })
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"crit", "ttl"}) {
		t.Fatalf("leased %v", ids)
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	cmds := scriptedCommands(300)
	run := func() []byte {
		c := New()
		for i, cmd := range cmds {
			c.Apply(uint64(i+1), cmd)
		}
		return snapshotBytes(t, c)
	}
	first := run()
	// The summaries kept up to date change by change equal a recount.
	c := New()
	for i, cmd := range cmds {
		c.Apply(uint64(i+1), cmd)
		if i%25 != 0 {
			continue
		}
		for name, v := range c.services {
			if want := summarize(name, v.Instances()); !sameSummary(&v.summary, &want) {
				t.Fatalf("after command %d, %s: summary %+v, recount %+v", i, name, v.summary, want)
			}
		}
	}
	for range 3 {
		if got := run(); string(got) != string(first) {
			t.Fatal("the same commands gave different snapshots")
		}
	}
}

// scriptedCommands is a fixed mix of every command kind over a few services.
func scriptedCommands(n int) [][]byte {
	var cmds [][]byte
	statuses := []api.Status{api.StatusPassing, api.StatusWarning, api.StatusCritical}
	for i := range n {
		now := t0 + int64(i)*int64(10*time.Second)
		svc := fmt.Sprint("svc-", i%7)
		id := fmt.Sprint("inst-", i%41)
		switch i % 6 {
		case 0, 1:
			in := inst(svc, id)
			in.Tags = []string{fmt.Sprint("t", i%3), "common"}
			in.Meta = map[string]string{"a": fmt.Sprint(i % 5), "b": "x", "c": "y"}
			in.TTL = time.Duration(1+i%30) * time.Second
			in.DeregisterAfter = time.Minute
			cmds = append(cmds, EncodeRegister(in, now))
		case 2:
			cmds = append(cmds, EncodeStatus([]StatusUpdate{
				{ID: id, Status: statuses[i%3], Output: fmt.Sprint("out ", i)},
				{ID: fmt.Sprint("inst-", (i+5)%41), Status: api.StatusCritical, KeepOutput: true},
			}, now))
		case 3:
			cmds = append(cmds, EncodeDeregister(svc, id, now))
		case 4:
			cmds = append(cmds, EncodeReap([]string{id, fmt.Sprint("inst-", (i+5)%41)}, now))
		case 5:
			cmds = append(cmds, EncodeBatch([][]byte{
				EncodeRegister(inst(svc, fmt.Sprint("b-", i%13)), now),
				EncodeRegister(inst(svc, fmt.Sprint("b-", (i+1)%13)), now),
				EncodeDeregister("", fmt.Sprint("b-", (i+7)%13), now),
			}))
		}
	}
	return cmds
}
