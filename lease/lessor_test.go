package lease

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
	"github.com/rosterhq/roster/store"
)

// fakeClock is a settable clock for the lease table.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(0, t0)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// leaseEnv drives a catalog and a lease table the way the replication
// layer does: every Apply's changes go to Observe, and what Due hands out
// is written back as commands.
type leaseEnv struct {
	t     *testing.T
	a     *applier
	clock *fakeClock
	l     *Lessor
}

func newLeaseEnv(t *testing.T, cfg Config) *leaseEnv {
	e := &leaseEnv{t: t, a: newApplier(t), clock: newFakeClock()}
	cfg.Now = e.clock.Now
	cfg.Catalog = e.a.c
	e.l = NewLessor(cfg)
	return e
}

func (e *leaseEnv) apply(cmd []byte) *registry.Result {
	e.t.Helper()
	res := e.a.mustOK(cmd)
	e.l.Observe(res.Changed)
	return res
}

func (e *leaseEnv) register(svc, id string, ttl, deregAfter time.Duration) {
	e.t.Helper()
	in := inst(svc, id)
	in.TTL, in.DeregisterAfter = ttl, deregAfter
	e.apply(registry.EncodeRegister(in, e.clock.Now().UnixNano()))
}

// renew renews like a heartbeat and writes the status change if needed.
func (e *leaseEnv) renew(id string, status api.Status, output string) bool {
	e.t.Helper()
	write, err := e.l.Renew(id, status, output)
	if err != nil {
		e.t.Fatalf("Renew(%s): %v", id, err)
	}
	if write {
		e.apply(registry.EncodeStatus([]registry.StatusUpdate{{ID: id, Status: status, Output: output}}, e.clock.Now().UnixNano()))
	}
	return write
}

// due calls Due and writes its work back, as the leader loop does.
func (e *leaseEnv) due() (expire, reap []string) {
	e.t.Helper()
	expire, reap = e.l.Due()
	now := e.clock.Now().UnixNano()
	if len(expire) > 0 {
		ups := make([]registry.StatusUpdate, len(expire))
		for i, id := range expire {
			ups[i] = registry.StatusUpdate{ID: id, Status: api.StatusCritical, KeepOutput: true}
		}
		e.apply(registry.EncodeStatus(ups, now))
	}
	if len(reap) > 0 {
		e.apply(registry.EncodeReap(reap, now))
	}
	return expire, reap
}

// run advances the clock by d in steps of 500ms, calling Due after each,
// and returns everything expired and reaped, sorted.
func (e *leaseEnv) run(d time.Duration) (expired, reaped []string) {
	e.t.Helper()
	for step := time.Duration(0); step < d; step += 500 * time.Millisecond {
		e.clock.advance(min(500*time.Millisecond, d-step))
		x, r := e.due()
		expired = append(expired, x...)
		reaped = append(reaped, r...)
	}
	slices.Sort(expired)
	slices.Sort(reaped)
	return expired, reaped
}

func (e *leaseEnv) status(id string) api.Status {
	in, ok := e.a.c.Instance(id)
	if !ok {
		return ""
	}
	return in.Status
}

func TestRenewRoles(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	if _, err := e.l.Renew("w1", "", ""); !errors.Is(err, store.ErrNotArmed) {
		t.Fatalf("before Promote: %v", err)
	}
	if st := e.l.State(); st.Leader || st.Leases != 0 {
		t.Fatalf("a table that never led reports %+v", st)
	}
	e.l.Elected()
	if st := e.l.State(); !st.Leader || st.Armed {
		t.Fatalf("elected, not armed: %+v", st)
	}
	e.l.Promote()
	if st := e.l.State(); !st.Leader || !st.Armed || st.Leases != 1 {
		t.Fatalf("armed: %+v", st)
	}
	if write, err := e.l.Renew("w1", "", ""); err != nil || write {
		t.Fatalf("Renew = %v, %v", write, err)
	}
	if _, err := e.l.Renew("ghost", "", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := e.l.Renew("w1", "asleep", ""); err == nil {
		t.Fatal("invalid status accepted")
	}
	e.l.Demote()
	if _, err := e.l.Renew("w1", "", ""); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("after Demote: %v", err)
	}
	if x, r := e.l.Due(); x != nil || r != nil {
		t.Fatal("a demoted table hands out work")
	}
	if st := e.l.State(); st != (api.LeaseState{}) {
		t.Fatalf("follower state %+v", st)
	}
	e.l.Elected()
	if _, err := e.l.Renew("w1", "", ""); !errors.Is(err, store.ErrNotArmed) {
		t.Fatalf("elected again: %v", err)
	}
}

func TestRenewWriteDecisions(t *testing.T) {
	e := newLeaseEnv(t, Config{ClockJump: time.Hour})
	e.register("web", "w1", 30*time.Second, 0)
	e.register("web", "plain", 0, 0) // no lease: answered from the catalog
	e.l.Promote()
	steps := []struct {
		name    string
		advance time.Duration
		id      string
		status  api.Status
		output  string
		write   bool
	}{
		{"unchanged", 0, "w1", "", "", false},
		{"explicit passing", 0, "w1", api.StatusPassing, "", false},
		{"first output", 0, "w1", "", "ok", true},
		{"same output", time.Second, "w1", "", "ok", false},
		{"output alone within 5m", time.Minute, "w1", "", "ok 2", false},
		{"status change writes at once", time.Second, "w1", api.StatusWarning, "slow", true},
		{"output alone again within 5m", time.Minute, "w1", api.StatusWarning, "slower", false},
		{"output alone after 5m", 4 * time.Minute, "w1", api.StatusWarning, "slower", true},
		{"back to passing", time.Second, "w1", "", "", true},
		{"no lease, unchanged", 0, "plain", "", "", false},
		{"no lease, status change", 0, "plain", api.StatusWarning, "", true},
		{"no lease, first output", 0, "plain", api.StatusWarning, "x", true},
		{"no lease, output within 5m", time.Minute, "plain", api.StatusWarning, "y", false},
	}
	for _, s := range steps {
		e.clock.advance(s.advance)
		e.l.Due()
		if got := e.renew(s.id, s.status, s.output); got != s.write {
			t.Fatalf("%s: write = %v, want %v", s.name, got, s.write)
		}
	}
	// Output is compared as Apply stores it: an over-long output that was
	// written once does not differ forever.
	long := string(make([]byte, registry.MaxOutput+100))
	e.clock.advance(6 * time.Minute)
	e.l.Due()
	if !e.renew("w1", "", long) {
		t.Fatal("long output not written")
	}
	e.clock.advance(registry.OutputWriteInterval)
	e.l.Due()
	if e.renew("w1", "", long) {
		t.Fatal("the same long output written again")
	}
}

func TestLeaseExpiresAndRenewalRevives(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	e.register("web", "w2", 10*time.Second, 0)
	e.register("web", "forever", 0, 0)
	e.l.Promote()
	if x, _ := e.run(9 * time.Second); len(x) != 0 {
		t.Fatalf("expired early: %v", x)
	}
	e.renew("w2", "", "")
	x, _ := e.run(1500 * time.Millisecond)
	if !slices.Equal(x, []string{"w1"}) {
		t.Fatalf("expired %v, want w1", x)
	}
	if e.status("w1") != api.StatusCritical || e.status("w2") != api.StatusPassing {
		t.Fatalf("w1 %s, w2 %s", e.status("w1"), e.status("w2"))
	}
	if st := e.l.State(); st.Expired != 1 {
		t.Fatalf("expired_total %d", st.Expired)
	}
	// A critical lease does not expire again.
	x, _ = e.run(9 * time.Second)
	if !slices.Equal(x, []string{"w2"}) {
		t.Fatalf("second round expired %v", x)
	}
	// Renewing an expired instance turns it passing with one write and
	// arms it again.
	if !e.renew("w1", "", "") || e.status("w1") != api.StatusPassing {
		t.Fatal("renewal did not revive w1")
	}
	if e.renew("w1", "", "") {
		t.Fatal("second renewal wrote again")
	}
	if x, _ := e.run(9 * time.Second); len(x) != 0 {
		t.Fatalf("revived lease expired early: %v", x)
	}
	if x, _ := e.run(2 * time.Second); !slices.Equal(x, []string{"w1"}) {
		t.Fatalf("revived lease did not expire: %v", x)
	}
	if e.status("forever") != api.StatusPassing {
		t.Fatal("an instance without TTL expired")
	}
}

func TestReapAfterDeregisterAfter(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, time.Minute)
	e.register("web", "w2", 10*time.Second, time.Minute)
	e.l.Promote()
	x, _ := e.run(11 * time.Second)
	if len(x) != 2 {
		t.Fatalf("expired %v", x)
	}
	// w2 comes back before deregister_after: its reap is cancelled.
	e.run(30 * time.Second)
	e.renew("w2", "", "")
	_, r := e.run(31 * time.Second)
	if !slices.Equal(r, []string{"w1"}) {
		t.Fatalf("reaped %v, want w1", r)
	}
	if _, ok := e.a.c.Instance("w1"); ok {
		t.Fatal("w1 still registered")
	}
	if e.a.c.Tombstoned("w1", 0) {
		t.Fatal("a reaped instance is tombstoned")
	}
	if _, err := e.l.Renew("w1", "", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("renew after reap: %v", err)
	}
	st := e.l.State()
	if st.Reaped != 1 || st.Leases != 1 {
		t.Fatalf("state %+v", st)
	}
}

func TestCriticalWithoutTTLIsReaped(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	in := inst("web", "w1")
	in.Status = api.StatusCritical
	in.DeregisterAfter = time.Minute
	e.apply(registry.EncodeRegister(in, e.clock.Now().UnixNano()))
	e.l.Promote()
	if _, r := e.run(59 * time.Second); len(r) != 0 {
		t.Fatalf("reaped early %v", r)
	}
	if _, r := e.run(2 * time.Second); !slices.Equal(r, []string{"w1"}) {
		t.Fatalf("reaped %v", r)
	}
}

func TestPromoteRearmsOldDeadlines(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	in := inst("web", "crit")
	in.TTL, in.DeregisterAfter, in.Status = 10*time.Second, time.Minute, api.StatusCritical
	e.apply(registry.EncodeRegister(in, e.clock.Now().UnixNano()))
	// A follower observed these long ago; nobody renewed since.
	e.clock.advance(time.Hour)
	e.l.Elected()
	e.l.Promote()
	if x, r := e.run(9 * time.Second); len(x) != 0 || len(r) != 0 {
		t.Fatalf("expired %v reaped %v right after promotion", x, r)
	}
	x, r := e.run(2 * time.Second)
	if !slices.Equal(x, []string{"w1"}) || !slices.Equal(r, []string{"crit"}) {
		t.Fatalf("after one TTL: expired %v reaped %v", x, r)
	}
}

func TestClockJumpRearmsInsteadOfExpiring(t *testing.T) {
	e := newLeaseEnv(t, Config{ClockJump: 5 * time.Second})
	e.register("web", "w1", 10*time.Second, 0)
	e.l.Promote()
	e.run(4 * time.Second)
	e.clock.advance(30 * time.Second) // SIGSTOP, GC, slow disk
	if x, _ := e.due(); len(x) != 0 {
		t.Fatalf("expired after a clock jump: %v", x)
	}
	if s := e.l.Stats(); s.ClockJumps != 1 || s.LastClockJump.IsZero() {
		t.Fatalf("stats %+v", s)
	}
	if x, _ := e.run(9 * time.Second); len(x) != 0 {
		t.Fatalf("expired within a TTL of the re-arm: %v", x)
	}
	if x, _ := e.run(2 * time.Second); !slices.Equal(x, []string{"w1"}) {
		t.Fatalf("not expired a TTL after the re-arm: %v", x)
	}
	// The gap between Promote and the first Due counts too.
	e2 := newLeaseEnv(t, Config{ClockJump: 5 * time.Second})
	e2.register("web", "w1", 10*time.Second, 0)
	e2.l.Promote()
	e2.clock.advance(20 * time.Second)
	if x, _ := e2.due(); len(x) != 0 || e2.l.Stats().ClockJumps != 1 {
		t.Fatal("a stalled first Due expired")
	}
}

func TestBatchSizeAndRateLimit(t *testing.T) {
	e := newLeaseEnv(t, Config{BatchSize: 100, RatePerSecond: 250})
	var cmds [][]byte
	for i := range 600 {
		in := inst("web", fmt.Sprintf("w%03d", i))
		in.TTL = 10 * time.Second
		cmds = append(cmds, registry.EncodeRegister(in, t0))
	}
	e.apply(registry.EncodeBatch(cmds))
	e.l.Promote()
	e.run(9500 * time.Millisecond)
	e.clock.advance(time.Second)
	counts := []int{}
	for range 4 {
		x, _ := e.due()
		counts = append(counts, len(x))
	}
	// 250 tokens: 100 + 100 + 50, then nothing until time passes.
	if !slices.Equal(counts, []int{100, 100, 50, 0}) {
		t.Fatalf("handed out %v", counts)
	}
	if st := e.l.State(); st.Pending != 350 {
		t.Fatalf("pending %d, want 350", st.Pending)
	}
	e.clock.advance(400 * time.Millisecond) // 100 tokens
	if x, _ := e.due(); len(x) != 100 {
		t.Fatalf("after 400ms: %d", len(x))
	}
	total := 350
	for range 20 {
		e.clock.advance(time.Second)
		x, _ := e.due()
		total += len(x)
	}
	if total != 600 {
		t.Fatalf("expired %d of 600", total)
	}
}

func TestObserveKeepsTableInSync(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.l.Promote()
	e.register("web", "w1", 10*time.Second, 0)
	e.register("web", "w2", 10*time.Second, 0)
	e.run(5 * time.Second)
	// A new TTL re-arms at now + TTL.
	e.register("web", "w1", 20*time.Second, 0)
	// Dropping the TTL ends the lease; deregistering removes it.
	e.register("web", "w2", 0, 0)
	if st := e.l.State(); st.Leases != 1 {
		t.Fatalf("leases %d", st.Leases)
	}
	if x, _ := e.run(19 * time.Second); len(x) != 0 {
		t.Fatalf("expired %v before the new TTL", x)
	}
	if x, _ := e.run(2 * time.Second); !slices.Equal(x, []string{"w1"}) {
		t.Fatalf("expired %v", x)
	}
	e.apply(registry.EncodeDeregister("web", "w1", e.clock.Now().UnixNano()))
	if st := e.l.State(); st.Leases != 0 || st.Pending != 0 {
		t.Fatalf("after deregister %+v", st)
	}
	if s := e.l.Stats(); s.Tracked != 0 || s.LeasedServices != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestResetRebuildsFromCatalog(t *testing.T) {
	e := newLeaseEnv(t, Config{})
	e.register("web", "w1", 10*time.Second, 0)
	e.register("api", "a1", 10*time.Second, 0)
	e.l.Promote()
	other := registry.New()
	in := inst("orders", "o1")
	in.TTL = 10 * time.Second
	other.Apply(1, registry.EncodeRegister(in, t0))
	e.l.Reset(other)
	if st := e.l.State(); st.Leases != 1 || !st.Armed {
		t.Fatalf("after reset %+v", st)
	}
	if _, err := e.l.Renew("w1", "", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("renew of an instance the restore removed: %v", err)
	}
	x, _ := e.l.Due()
	for range 22 {
		e.clock.advance(500 * time.Millisecond)
		xs, _ := e.l.Due()
		x = append(x, xs...)
	}
	if !slices.Equal(x, []string{"o1"}) {
		t.Fatalf("expired %v", x)
	}
}

func TestLessorConcurrentUse(t *testing.T) {
	e := newLeaseEnv(t, Config{ClockJump: time.Hour})
	for i := range 50 {
		e.register("web", fmt.Sprint("w", i), 10*time.Second, time.Minute)
	}
	e.l.Promote()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				_, _ = e.l.Renew(fmt.Sprint("w", (i+g)%50), "", "")
				_ = e.l.State()
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			e.clock.advance(100 * time.Millisecond)
			e.l.Due()
		}
	})
	wg.Wait()
}
