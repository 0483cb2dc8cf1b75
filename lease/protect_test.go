package lease

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// fleet is a set of leases with heartbeating clients, for mass-expiry
// protection tests: instance k of the fleet renews every interval, at its
// own phase (k steps into the interval), as the Go client spreads them.
type fleet struct {
	e        *leaseEnv
	ids      []string
	service  map[string]string
	interval time.Duration
	step     time.Duration
	n        int // steps taken
}

// newFleet registers perService leases of ttl in each of services services
// (svc-S, ids svc-S-I), promotes the table and heartbeats every TTL/3 for
// three TTLs so that every lease is established.
func newFleet(t *testing.T, cfg Config, services, perService int, ttl time.Duration) *fleet {
	e := newLeaseEnv(t, cfg)
	f := &fleet{e: e, service: make(map[string]string), interval: ttl / 3, step: 100 * time.Millisecond}
	for s := range services {
		for i := range perService {
			id := fmt.Sprintf("svc-%d-%d", s, i)
			e.register(fmt.Sprint("svc-", s), id, ttl, time.Minute)
			f.ids = append(f.ids, id)
			f.service[id] = fmt.Sprint("svc-", s)
		}
	}
	e.l.Promote()
	if x := f.beat(3*ttl, func(string) bool { return true }); len(x) != 0 {
		t.Fatalf("expired %v while every client heartbeats", x)
	}
	return f
}

// beat advances the clock by d in steps, renewing the instances for which
// alive is true when their phase comes, and calling Due after each step.
// It returns what expired.
func (f *fleet) beat(d time.Duration, alive func(id string) bool) (expired []string) {
	f.e.t.Helper()
	steps := int(f.interval / f.step)
	for range int(d / f.step) {
		f.e.clock.advance(f.step)
		f.n++
		for k, id := range f.ids {
			if (f.n+k)%steps == 0 && alive(id) {
				f.e.renew(id, "", "")
			}
		}
		x, _ := f.e.due()
		expired = append(expired, x...)
	}
	slices.Sort(expired)
	return expired
}

func none(string) bool { return false }

func TestMassExpiryPausesOnNetworkFault(t *testing.T) {
	f := newFleet(t, Config{}, 10, 3, 10*time.Second)
	// Every client loses the network: no renewals.
	if x := f.beat(15*time.Second, none); len(x) != 0 {
		t.Fatalf("expired %d during a network fault", len(x))
	}
	st := f.e.l.State()
	if !st.Paused || st.PauseReason == "" || st.PausedSince == "" || st.Pending != 30 {
		t.Fatalf("state %+v", st)
	}
	// Renewals go on during the pause.
	if write, err := f.e.l.Renew("svc-0-0", "", ""); err != nil || write {
		t.Fatalf("renew while paused: %v %v", write, err)
	}
	if f.e.l.Stats().Pauses != 1 {
		t.Fatal("pause not counted")
	}
}

// The signature of issue #15: 40 instances over 8 services, TTL 3s, every
// heartbeat stops at once. The pause must come before the first expiry,
// and when heartbeats resume none of them may flap critical.
func TestMassExpiryPausesBeforeTheFirstExpiryAndResumesWithoutFlapping(t *testing.T) {
	const ttl = 3 * time.Second
	f := newFleet(t, Config{}, 8, 5, ttl)
	var pausedAfter time.Duration
	for d := time.Duration(0); d < 2*ttl; d += f.step {
		if x := f.beat(f.step, none); len(x) != 0 {
			t.Fatalf("%v into the fault, expired %v before pausing", d, x)
		}
		if pausedAfter == 0 && f.e.l.State().Paused {
			pausedAfter = d + f.step
		}
	}
	if pausedAfter == 0 || pausedAfter > ttl/2 {
		t.Fatalf("paused %v after renewals stopped, want within half a TTL", pausedAfter)
	}
	t.Logf("paused %v after renewals stopped", pausedAfter)
	// Heartbeats resume, each at its own phase: nothing expires, nobody
	// turns critical while its renewal is on its way.
	for range 3 * ttl / f.step {
		if x := f.beat(f.step, func(string) bool { return true }); len(x) != 0 {
			t.Fatalf("expired %v after heartbeats resumed", x)
		}
		for _, id := range f.ids {
			if st := f.e.status(id); st != api.StatusPassing {
				t.Fatalf("%s is %s after heartbeats resumed", id, st)
			}
		}
	}
	if st := f.e.l.State(); st.Paused {
		t.Fatalf("still paused after recovery: %+v", st)
	}
}

// Twelve never-heartbeated 1s leases in twelve new services must not
// hold back the expiry of a real instance that stopped heartbeating.
func TestAbandonedFreshLeasesDoNotTripProtection(t *testing.T) {
	f := newFleet(t, Config{}, 1, 3, 3*time.Second)
	for s := range 12 {
		f.e.register(fmt.Sprint("junk-", s), fmt.Sprint("junk-", s), time.Second, 0)
	}
	// svc-0-0 stops; the other two instances of svc-0 keep heartbeating.
	x := f.beat(5*time.Second, func(id string) bool { return id != "svc-0-0" })
	for s := range 12 {
		if f.e.status(fmt.Sprint("junk-", s)) != api.StatusCritical {
			t.Fatalf("junk-%d is %s, expired %v", s, f.e.status(fmt.Sprint("junk-", s)), x)
		}
	}
	if f.e.status("svc-0-0") != api.StatusCritical {
		t.Fatalf("the dead instance is %s, expired %v", f.e.status("svc-0-0"), x)
	}
	if f.e.l.State().Paused || f.e.l.Stats().Pauses != 0 {
		t.Fatalf("paused: %+v", f.e.l.State())
	}
}

// A burst of new registrations across many services, renewed once or
// never, expires on time and never pauses anything.
func TestRegistrationBurstDoesNotTripProtection(t *testing.T) {
	f := newFleet(t, Config{}, 4, 3, 3*time.Second)
	for i := range 2000 {
		f.e.register(fmt.Sprint("burst-", i%200), fmt.Sprint("burst-", i), time.Second, 0)
	}
	f.e.clock.advance(500 * time.Millisecond)
	for i := 0; i < 2000; i += 2 {
		f.e.renew(fmt.Sprint("burst-", i), "", "")
	}
	f.beat(3*time.Second, func(id string) bool { return true })
	for i := range 2000 {
		if st := f.e.status(fmt.Sprint("burst-", i)); st != api.StatusCritical {
			t.Fatalf("burst-%d is %s", i, st)
		}
	}
	if f.e.l.Stats().Pauses != 0 {
		t.Fatal("a registration burst paused expiry")
	}
}

func TestOneServiceDyingExpiresNormally(t *testing.T) {
	f := newFleet(t, Config{}, 10, 5, 10*time.Second)
	expired := f.beat(15*time.Second, func(id string) bool { return f.service[id] != "svc-0" })
	if len(expired) != 5 || expired[0] != "svc-0-0" || expired[4] != "svc-0-4" {
		t.Fatalf("expired %v, want the 5 instances of svc-0", expired)
	}
	if f.e.l.State().Paused {
		t.Fatal("paused for one dead service")
	}
}

func TestMinorityOfServicesDoesNotPause(t *testing.T) {
	f := newFleet(t, Config{}, 10, 4, 10*time.Second)
	// 5 of 10 services: not more than half.
	expired := f.beat(15*time.Second, func(id string) bool { return f.service[id] >= "svc-5" })
	if len(expired) != 20 || f.e.l.State().Paused {
		t.Fatalf("expired %d, paused %v", len(expired), f.e.l.State().Paused)
	}
}

func TestPauseEndsWhenRenewalsRecover(t *testing.T) {
	const ttl = 10 * time.Second
	f := newFleet(t, Config{}, 10, 3, ttl)
	f.beat(12*time.Second, none)
	if !f.e.l.State().Paused {
		t.Fatal("not paused")
	}
	// The network comes back; svc-0 really died meanwhile. Nothing expires
	// at once (every lease is re-armed at now + TTL); svc-0 expires one TTL
	// after the recovery.
	alive := func(id string) bool { return f.service[id] != "svc-0" }
	if x := f.beat(ttl-time.Second, alive); len(x) != 0 {
		t.Fatalf("expired %v within a TTL of the recovery", x)
	}
	if st := f.e.l.State(); st.Paused || st.PauseReason != "" {
		t.Fatalf("still paused: %+v", st)
	}
	if x := f.beat(5*time.Second, alive); !slices.Equal(x, []string{"svc-0-0", "svc-0-1", "svc-0-2"}) {
		t.Fatalf("after recovery expired %v", x)
	}
	for _, id := range f.ids {
		if f.service[id] != "svc-0" && f.e.status(id) != api.StatusPassing {
			t.Fatalf("%s is %s", id, f.e.status(id))
		}
	}
}

func TestPauseEndsAtMaxPause(t *testing.T) {
	f := newFleet(t, Config{MaxPause: time.Minute}, 10, 3, 10*time.Second)
	if x := f.beat(50*time.Second, none); len(x) != 0 || !f.e.l.State().Paused {
		t.Fatal("not paused")
	}
	if x := f.beat(25*time.Second, none); len(x) != 30 {
		t.Fatalf("after MaxPause expired %d of 30", len(x))
	}
	if f.e.l.State().Paused {
		t.Fatal("paused again right after MaxPause")
	}
	// Reaps were held during the pause and go ahead after it.
	_, r := f.e.run(61 * time.Second)
	if len(r) != 30 {
		t.Fatalf("reaped %d of 30", len(r))
	}
}

func TestReapsHeldDuringPause(t *testing.T) {
	f := newFleet(t, Config{}, 4, 3, 30*time.Second)
	in := inst("web", "crit")
	in.Status, in.DeregisterAfter = api.StatusCritical, time.Minute
	f.e.apply(registry.EncodeRegister(in, f.e.clock.Now().UnixNano()))
	f.beat(25*time.Second, none)
	if !f.e.l.State().Paused {
		t.Fatal("not paused")
	}
	if _, r := f.e.run(60 * time.Second); len(r) != 0 {
		t.Fatalf("reaped %v during a pause", r)
	}
}

// After a pause of the leader itself (a clock jump), the established
// leases do not all look late at once: no pause, nothing expires.
func TestClockJumpDoesNotTripProtection(t *testing.T) {
	f := newFleet(t, Config{}, 10, 3, 10*time.Second)
	f.e.clock.advance(8 * time.Second) // the process was stopped
	if x := f.beat(20*time.Second, func(string) bool { return true }); len(x) != 0 {
		t.Fatalf("expired %v after a clock jump", x)
	}
	if s := f.e.l.Stats(); s.Pauses != 0 || s.ClockJumps != 1 {
		t.Fatalf("stats %+v, want one clock jump and no pause", s)
	}
}
