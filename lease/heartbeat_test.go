package lease

import (
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// heartbeats runs the heartbeat rule over the env's catalog and writes what
// it decided, as the replication layer does.
func (e *leaseEnv) heartbeats(refuse func(string) error, hbs ...api.BatchHeartbeat) (Renewals, error) {
	e.t.Helper()
	res, err := e.l.Heartbeats(e.a.c, hbs, refuse)
	if err == nil && len(res.Updates) > 0 {
		e.apply(registry.EncodeStatus(res.Updates, e.clock.Now().UnixNano()))
	}
	return res, err
}

func TestHeartbeatsAnswers(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	e.register("web", "gone", 10*time.Second, 0)
	e.register("db", "d1", 0, 0)
	if _, err := e.heartbeats(nil, api.BatchHeartbeat{Service: "web", ID: "w1"}); !errors.Is(err, store.ErrNotArmed) {
		t.Fatalf("before Promote: err %v, want ErrNotArmed", err)
	}
	e.l.Promote()
	e.apply(registry.EncodeDeregister("web", "gone", e.clock.Now().UnixNano()))

	denied := errors.New("denied")
	refuse := func(svc string) error {
		if svc == "db" {
			return denied
		}
		return nil
	}
	res, err := e.heartbeats(refuse,
		api.BatchHeartbeat{Service: "WEB", ID: "w1"},    // renewed, mixed case
		api.BatchHeartbeat{Service: "web", ID: "ghost"}, // never registered
		api.BatchHeartbeat{Service: "web", ID: "gone"},  // tombstoned
		api.BatchHeartbeat{Service: "api", ID: "w1"},    // another service's id
		api.BatchHeartbeat{Service: "db", ID: "d1"},     // refused by the caller
	)
	if err != nil {
		t.Fatalf("Heartbeats: %v", err)
	}
	want := []error{nil, registry.ErrNotFound, registry.ErrGone, registry.ErrNotFound, denied}
	for i, w := range want {
		if !errors.Is(res.Errs[i], w) || (w == nil) != (res.Errs[i] == nil) {
			t.Errorf("heartbeat %d: %v, want %v", i, res.Errs[i], w)
		}
	}
	if len(res.Updates) != 0 {
		t.Fatalf("unchanged passing renewal wrote %+v", res.Updates)
	}

	// The tombstone lasts registry.TombstonePeriod, then the id is unknown.
	e.clock.advance(registry.TombstonePeriod + time.Second)
	if res, _ := e.heartbeats(nil, api.BatchHeartbeat{Service: "web", ID: "gone"}); !errors.Is(res.Errs[0], registry.ErrNotFound) {
		t.Fatalf("after the tombstone period: %v, want ErrNotFound", res.Errs[0])
	}

	e.l.Demote()
	if _, err := e.heartbeats(nil, api.BatchHeartbeat{Service: "web", ID: "w1"}); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("after Demote: err %v, want ErrNotLeader", err)
	}
}

func TestHeartbeatsWrites(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	e.l.Promote()
	hb := func(status api.Status, output string) []registry.StatusUpdate {
		t.Helper()
		res, err := e.heartbeats(nil, api.BatchHeartbeat{Service: "web", ID: "w1", Status: status, Output: output})
		if err != nil || res.Errs[0] != nil {
			t.Fatalf("Heartbeats(%s, %q): %v %v", status, output, err, res.Errs)
		}
		return res.Updates
	}
	if u := hb("", ""); len(u) != 0 {
		t.Fatalf("no status means passing, unchanged: wrote %+v", u)
	}
	if u := hb(api.StatusWarning, "slow"); len(u) != 1 || u[0].Status != api.StatusWarning {
		t.Fatalf("status change: wrote %+v, want warning at once", u)
	}
	if u := hb(api.StatusWarning, "slower"); len(u) != 0 {
		t.Fatalf("output alone within 5m: wrote %+v", u)
	}
	e.clock.advance(registry.OutputWriteInterval)
	if u := hb(api.StatusWarning, "slower"); len(u) != 1 || u[0].Output != "slower" {
		t.Fatalf("output alone after 5m: wrote %+v", u)
	}
	if u := hb("", ""); len(u) != 1 || u[0].Status != api.StatusPassing {
		t.Fatalf("back to passing: wrote %+v", u)
	}

	// Last mention wins, and every mention answers as it does.
	res, err := e.heartbeats(nil,
		api.BatchHeartbeat{Service: "web", ID: "w1", Status: api.StatusCritical},
		api.BatchHeartbeat{Service: "web", ID: "w1", Status: api.StatusWarning})
	if err != nil || res.Errs[0] != nil || res.Errs[1] != nil {
		t.Fatalf("duplicate batch: %v %v", err, res.Errs)
	}
	if len(res.Updates) != 1 || res.Updates[0].Status != api.StatusWarning || e.status("w1") != api.StatusWarning {
		t.Fatalf("duplicate batch wrote %+v (status %s), want warning once", res.Updates, e.status("w1"))
	}

	// One invalid heartbeat refuses the batch and renews nothing.
	_, err = e.heartbeats(nil,
		api.BatchHeartbeat{Service: "web", ID: "w1", Status: api.StatusCritical},
		api.BatchHeartbeat{Service: "web", ID: "w1", Status: "asleep"})
	var ve *registry.ValidationError
	if !errors.As(err, &ve) || ve.Field != "status" {
		t.Fatalf("invalid status: err %v, want a status ValidationError", err)
	}
	if e.status("w1") != api.StatusWarning {
		t.Fatalf("refused batch changed the status to %s", e.status("w1"))
	}
}

func TestHeartbeatsRenewDeadline(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 2*time.Second, 0)
	e.l.Promote()
	for range 6 { // 6s of renewals every second: never expires
		e.clock.advance(time.Second)
		if res, err := e.heartbeats(nil, api.BatchHeartbeat{Service: "web", ID: "w1"}); err != nil || res.Errs[0] != nil {
			t.Fatalf("Heartbeats: %v %v", err, res.Errs)
		}
		if x, _ := e.due(); len(x) != 0 {
			t.Fatalf("renewed lease expired: %v", x)
		}
	}
	if x, _ := e.run(3 * time.Second); len(x) != 1 {
		t.Fatalf("unrenewed lease: expired %v, want w1", x)
	}
}
