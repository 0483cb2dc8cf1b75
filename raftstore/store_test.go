package raftstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/store"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

func TestDevServerBootstrapsAndRegisters(t *testing.T) {
	cfg := testConfig(t, "d1")
	cfg.Dev = true
	cfg.DataDir = ""
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, s.Ready)
	ctx := ctxT(t)

	in := testInstance("Web", "web-1")
	in.Tags = []string{"v1"}
	stored, idx, err := s.Register(ctx, in)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if stored.Service != "web" || stored.Status != api.StatusPassing || stored.ModifyIndex != idx || idx == 0 {
		t.Fatalf("stored %+v at %d: want service web, passing, modify index = %d", stored, idx, idx)
	}
	if got, ok := s.Catalog().Instance("web-1"); !ok || got.Port != 8080 {
		t.Fatalf("catalog after register: %+v %v", got, ok)
	}
	if err := s.ConsistentRead(ctx); err != nil {
		t.Fatalf("consistent read: %v", err)
	}

	_, again, err := s.Register(ctx, in)
	if err != nil {
		t.Fatalf("register again: %v", err)
	}
	if v := s.Catalog().Service("web"); v.Index != idx {
		t.Fatalf("same registration moved the service index: %d -> %d (entry %d)", idx, v.Index, again)
	}

	if _, _, err := s.Register(ctx, testInstance("api", "web-1")); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("id held by another service: err = %v, want ErrConflict", err)
	}
	var ve *registry.ValidationError
	if _, _, err := s.Register(ctx, testInstance("bad name!", "x")); !errors.As(err, &ve) {
		t.Fatalf("invalid service name: err = %v, want a ValidationError", err)
	}

	didx, err := s.Deregister(ctx, "WEB", "web-1")
	if err != nil || didx <= idx {
		t.Fatalf("deregister: index %d, err %v", didx, err)
	}
	if _, ok := s.Catalog().Instance("web-1"); ok {
		t.Fatal("instance still present after deregister")
	}
	if _, err := s.Deregister(ctx, "web", "never-seen"); err != nil {
		t.Fatalf("deregister of an unknown id: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, _, err := s.Register(ctx, in); !errors.Is(err, store.ErrNoLeader) {
		t.Fatalf("register after close: %v, want ErrNoLeader", err)
	}
	if err := s.WaitApplied(ctx, idx+100); !errors.Is(err, store.ErrNoLeader) {
		t.Fatalf("wait applied after close: %v, want it to end with ErrNoLeader", err)
	}
}

func TestSingleServerKeepsItsIdentityAndDataAcrossRestart(t *testing.T) {
	cfg := testConfig(t, "r1")
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, s.Ready)
	ctx := ctxT(t)
	_, idx, err := s.Register(ctx, testInstance("web", "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, cfg)
	if s2.ID() != id {
		t.Fatalf("server id changed across restart: %s -> %s", id, s2.ID())
	}
	if err := s2.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Catalog().Instance("web-1"); !ok {
		t.Fatal("registration lost across restart")
	}
	retry.Eventually(t, 5*time.Second, s2.Ready)

	// A wiped data dir is a new server.
	s2.Close()
	os.RemoveAll(cfg.DataDir)
	s3 := openStore(t, cfg)
	if s3.ID() == id {
		t.Fatal("a wiped server kept its old id")
	}
}

func TestClusterFormsThroughGossipWithBootstrapExpect(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader()
	info := leader.Raft()
	if len(info.Servers) != 3 {
		t.Fatalf("raft configuration has %d servers, want 3: %+v", len(info.Servers), info.Servers)
	}
	for _, srv := range info.Servers {
		if srv.Suffrage != "voter" {
			t.Fatalf("server %s is %s, want voter", srv.ID, srv.Suffrage)
		}
	}
	// One cluster id, derived identically and persisted by every server.
	var cluster string
	for i, s := range c.servers {
		b, err := os.ReadFile(filepath.Join(c.cfgs[i].DataDir, clusterIDFile))
		if err != nil {
			retry.Eventually(t, 5*time.Second, func() error {
				b, err = os.ReadFile(filepath.Join(c.cfgs[i].DataDir, clusterIDFile))
				return err
			})
		}
		id := strings.TrimSpace(string(b))
		if cluster == "" {
			cluster = id
		}
		if id == "" || id != cluster || s.gossip.clusterID() != cluster {
			t.Fatalf("server %d cluster id %q, want %q", i, id, cluster)
		}
	}
	retry.Eventually(t, 5*time.Second, func() error {
		ms := leader.Members()
		if len(ms) != 3 {
			return fmt.Errorf("%d members", len(ms))
		}
		roles := map[string]int{}
		for _, m := range ms {
			if m.State != "alive" || m.RaftAddr == "" || m.HTTPAddr == "" || m.Version != "test" {
				return fmt.Errorf("member %+v", m)
			}
			roles[m.RaftRole]++
		}
		if roles["leader"] != 1 || roles["follower"] != 2 {
			return fmt.Errorf("roles %v", roles)
		}
		return nil
	})
	for _, f := range c.followers() {
		l := f.Leader()
		if l.ID != leader.ID() || l.RaftAddr != leader.RaftAddr() || l.HTTPAddr != leader.cfg.HTTPAddr {
			t.Fatalf("follower sees leader %+v, want id %s raft %s http %s", l, leader.ID(), leader.RaftAddr(), leader.cfg.HTTPAddr)
		}
		retry.Eventually(t, 5*time.Second, f.Ready)
	}
}

func TestWritesOnFollowerAnswerNotLeader(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	f := c.followers()[0]
	if _, _, err := f.Register(ctx, testInstance("web", "w1")); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("register on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := f.Deregister(ctx, "web", "w1"); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("deregister on a follower: %v, want ErrNotLeader", err)
	}
	if _, _, err := f.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "web", ID: "w1"}}); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("heartbeat on a follower: %v, want ErrNotLeader", err)
	}
	if err := f.ConsistentRead(ctx); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("consistent read on a follower: %v, want ErrNotLeader", err)
	}
	if err := f.RemovePeer(ctx, c.servers[0].ID()); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("remove peer on a follower: %v, want ErrNotLeader", err)
	}
}

func TestConcurrentWritesOnLeaderAreCoalescedAndReachEveryServer(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader()
	ctx := ctxT(t)
	const n = 200
	var wg sync.WaitGroup
	idxs := make([]uint64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := testInstance(fmt.Sprintf("svc-%d", i%7), fmt.Sprintf("i-%d", i))
			var stored registry.Instance
			stored, idxs[i], errs[i] = leader.Register(ctx, inst)
			if errs[i] == nil && (stored.ID != inst.ID || stored.ModifyIndex != idxs[i]) {
				errs[i] = fmt.Errorf("stored %+v at %d", stored, idxs[i])
			}
		}()
	}
	wg.Wait()
	entries := map[uint64]bool{}
	var maxIdx uint64
	for i, err := range errs {
		if err != nil {
			t.Fatalf("register %d: %v", i, err)
		}
		entries[idxs[i]] = true
		maxIdx = max(maxIdx, idxs[i])
	}
	if len(entries) >= n {
		t.Errorf("%d concurrent registrations took %d log entries: nothing was coalesced", n, len(entries))
	}
	t.Logf("%d registrations in %d log entries", n, len(entries))
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, maxIdx); err != nil {
			t.Fatalf("%s wait applied: %v", s.cfg.NodeName, err)
		}
		for i := range n {
			if _, ok := s.Catalog().Instance(fmt.Sprintf("i-%d", i)); !ok {
				t.Fatalf("%s is missing i-%d", s.cfg.NodeName, i)
			}
		}
	}
}

func TestLeaderLossElectsNewLeaderAndLosesNoAcknowledgedWrite(t *testing.T) {
	c := startCluster(t, 3)
	old := c.waitForLeader()
	ctx := ctxT(t)

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.registerOnLeader(wctx, testInstance("orders", id))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	retry.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 50 {
			return fmt.Errorf("%d writes so far", len(acked))
		}
		return nil
	})

	crashed := time.Now()
	old.crash()
	leader := c.waitForLeader()
	// Writes are accepted again soon after the loss: detection takes one
	// heartbeat timeout (500ms), the election well under 2s more.
	_, idx, err := leader.Register(ctx, testInstance("orders", "after-failover"))
	if err != nil {
		t.Fatalf("write on the new leader: %v", err)
	}
	if d := time.Since(crashed); d > 3*time.Second {
		t.Errorf("writes accepted again %s after the leader was lost, want under 2.5s", d)
	}
	t.Logf("new leader accepted writes %s after the old one crashed", time.Since(crashed))
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsistentRead(ctx); err != nil && !errors.Is(err, store.ErrNotLeader) {
			t.Fatal(err)
		}
	}
	if err := leader.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, leader.applied.load()); err != nil {
			t.Fatalf("%s did not catch up with the leader: %v", s.cfg.NodeName, err)
		}
	}
	for _, id := range acked {
		for _, s := range c.running() {
			if _, ok := s.Catalog().Instance(id); !ok {
				t.Fatalf("acknowledged registration %s lost on %s", id, s.cfg.NodeName)
			}
		}
	}
	t.Logf("%d acknowledged registrations, all present", len(acked))
}

func TestHeartbeatsKeepInstancesPassingAcrossFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	in := testInstance("pay", "pay-1")
	in.TTL = 2 * time.Second
	idx, err := c.registerOnLeader(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var notArmed, renewed sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, s := range c.running() {
				errs, _, err := s.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "pay", ID: "pay-1"}})
				switch {
				case errors.Is(err, store.ErrNotArmed):
					notArmed.Store(s.ID(), true)
				case err == nil && errs[0] == nil:
					renewed.Store(s.ID(), true)
				case err == nil:
					t.Errorf("heartbeat answered %v on the leader", errs[0])
				}
			}
		}
	}()
	old := c.waitForLeader()
	old.crash()
	leader := c.waitForLeader()
	// Watch the instance for two TTLs after the failover: it must never
	// turn critical on any server.
	retry.Never(t, 2*in.TTL, func() error {
		for _, s := range c.running() {
			if st, ok := statusOf(s, "pay-1"); !ok || st != api.StatusPassing {
				return fmt.Errorf("instance on %s is %q (present %v) after failover, want passing", s.cfg.NodeName, st, ok)
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if _, ok := renewed.Load(leader.ID()); !ok {
		t.Fatal("the new leader never renewed the lease")
	}
	// Only a leader that has not re-armed yet answers "not armed" (503);
	// a follower answers "not leader", so the front end forwards.
	notArmed.Range(func(id, _ any) bool {
		if id != leader.ID() && id != old.ID() {
			t.Errorf("server %s, never leader, answered a heartbeat with ErrNotArmed", id)
		}
		return true
	})
	if ls := leader.Leases(); !ls.Leader || !ls.Armed || ls.Leases != 1 {
		t.Fatalf("new leader's lease table %+v, want leader, armed, 1 lease", ls)
	}
	for _, f := range c.followers() {
		if ls := f.Leases(); ls.Leader || ls.Leases != 0 {
			t.Fatalf("follower's lease state %+v, want not leader and zero counts", ls)
		}
	}
}

func TestUnchangedHeartbeatWritesNothingToRaft(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader()
	ctx := ctxT(t)
	in := testInstance("web", "w1")
	in.TTL = 10 * time.Second
	if _, _, err := leader.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	before := leader.raft.LastIndex()
	for range 20 {
		errs, _, err := leader.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "web", ID: "w1"}})
		if err != nil || errs[0] != nil {
			t.Fatalf("heartbeat: %v %v", err, errs)
		}
	}
	if after := leader.raft.LastIndex(); after != before {
		t.Fatalf("unchanged heartbeats moved the raft last index %d -> %d", before, after)
	}

	errs, idx, err := leader.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "web", ID: "w1", Status: api.StatusWarning, Output: "slow"}})
	if err != nil || errs[0] != nil {
		t.Fatalf("status change heartbeat: %v %v", err, errs)
	}
	if idx <= before {
		t.Fatalf("status change answered index %d, want above %d", idx, before)
	}
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if inst, _ := s.Catalog().Instance("w1"); inst.Status != api.StatusWarning || inst.Output != "slow" {
			t.Fatalf("%s: instance %+v, want warning/slow", s.cfg.NodeName, inst)
		}
	}

	errs, _, err = leader.Heartbeat(ctx, []api.BatchHeartbeat{
		{Service: "web", ID: "w1", Status: api.StatusWarning, Output: "slow"},
		{Service: "web", ID: "nobody"},
		{Service: "other", ID: "w1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], registry.ErrNotFound) || !errors.Is(errs[2], registry.ErrNotFound) {
		t.Fatalf("errs = %v, want [nil ErrNotFound ErrNotFound]", errs)
	}
	if _, err := leader.Deregister(ctx, "web", "w1"); err != nil {
		t.Fatal(err)
	}
	errs, _, err = leader.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "web", ID: "w1"}})
	if err != nil || !errors.Is(errs[0], registry.ErrGone) {
		t.Fatalf("heartbeat after deregister: %v %v, want ErrGone", err, errs)
	}
}

func TestExpiredLeaseTurnsCriticalThenDeregisterAfterRemoves(t *testing.T) {
	cfg := testConfig(t, "e1")
	cfg.Dev = true
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, func() error {
		if !s.armed.Load() {
			return errors.New("not armed")
		}
		return nil
	})
	ctx := ctxT(t)
	in := testInstance("jobs", "j1")
	in.TTL = time.Second
	in.DeregisterAfter = time.Second
	_, _, err := s.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	registered := time.Now()
	retry.Eventually(t, 3*time.Second, func() error {
		if st, _ := statusOf(s, "j1"); st != api.StatusCritical {
			return fmt.Errorf("status %q", st)
		}
		return nil
	})
	if d := time.Since(registered); d > in.TTL+time.Second {
		t.Errorf("critical after %s, want within TTL + 1s", d)
	}
	if inst, _ := s.Catalog().Instance("j1"); inst.CriticalSince == 0 {
		t.Errorf("critical instance has no critical_since: %+v", inst)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if _, ok := s.Catalog().Instance("j1"); ok {
			return errors.New("still registered")
		}
		return nil
	})
	// Reaped, not deregistered: a heartbeat answers 404 and the client
	// registers again.
	errs, _, err := s.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "jobs", ID: "j1"}})
	if err != nil || !errors.Is(errs[0], registry.ErrNotFound) {
		t.Fatalf("heartbeat after reap: %v %v, want ErrNotFound", err, errs)
	}
	ls := s.Leases()
	if ls.Expired < 1 || ls.Reaped < 1 {
		t.Fatalf("lease state %+v, want an expiry and a reap counted", ls)
	}
}

func TestRestartedFollowerRejoinsAndCatchesUp(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	f := c.followers()[0]
	i := c.index(f)
	id := f.ID()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for n := range 30 {
		idx, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("while-down-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	f2 := c.restart(i)
	if f2.ID() != id {
		t.Fatalf("restarted follower has id %s, want %s", f2.ID(), id)
	}
	if err := f2.WaitApplied(ctx, last); err != nil {
		t.Fatalf("restarted follower did not catch up: %v", err)
	}
	for n := range 30 {
		if _, ok := f2.Catalog().Instance(fmt.Sprintf("while-down-%d", n)); !ok {
			t.Fatalf("restarted follower misses while-down-%d", n)
		}
	}
	retry.Eventually(t, 5*time.Second, f2.Ready)
	if n := len(c.waitForLeader().Raft().Servers); n != 3 {
		t.Fatalf("configuration has %d servers after the restart, want 3", n)
	}
}

func TestLaggingFollowerCatchesUpFromSnapshot(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	ctx := ctxT(t)
	f := c.followers()[0]
	i := c.index(f)
	f.crash()
	var last uint64
	for n := range 100 {
		idx, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("lag-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	leader := c.waitForLeader()
	retry.Eventually(t, 10*time.Second, func() error {
		metas, err := leader.snaps.List()
		if err != nil || len(metas) == 0 || metas[0].Index < last-20 {
			return fmt.Errorf("no recent snapshot on the leader yet (%v)", err)
		}
		first, _ := leader.logs.FirstIndex()
		if first <= 2 {
			return fmt.Errorf("log not compacted yet: first index %d", first)
		}
		return nil
	})
	f2 := c.restart(i)
	if err := f2.WaitApplied(ctx, last); err != nil {
		t.Fatalf("lagging follower did not catch up: %v", err)
	}
	for n := range 100 {
		if _, ok := f2.Catalog().Instance(fmt.Sprintf("lag-%d", n)); !ok {
			t.Fatalf("follower misses lag-%d after the snapshot install", n)
		}
	}
	if got := counterValue(f2.metrics.restores); got < 1 {
		t.Fatalf("follower restored %v snapshots, want at least one (installed from the leader)", got)
	}
}

func TestBackupRestoresIntoFreshServer(t *testing.T) {
	ctx := ctxT(t)
	src := openDev(t, "b1")
	for n := range 20 {
		in := testInstance(fmt.Sprintf("svc-%d", n%3), fmt.Sprintf("b-%d", n))
		in.Tags = []string{fmt.Sprintf("t%d", n)}
		if _, _, err := src.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var backup strings.Builder
	if err := src.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}

	dst := openDev(t, "b2")
	if _, _, err := dst.Register(ctx, testInstance("stale", "gone-after-restore")); err != nil {
		t.Fatal(err)
	}
	before := dst.Catalog().Index()
	if err := dst.Restore(ctx, strings.NewReader(backup.String())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, want := dst.Catalog().Services(), src.Catalog().Services(); !sameServices(got, want) {
		t.Fatalf("restored services %+v, want %+v", got.Services, want.Services)
	}
	for n := range 20 {
		a, _ := src.Catalog().Instance(fmt.Sprintf("b-%d", n))
		b, ok := dst.Catalog().Instance(fmt.Sprintf("b-%d", n))
		if !ok || a.Service != b.Service || a.Tags[0] != b.Tags[0] {
			t.Fatalf("restored b-%d = %+v, want %+v", n, b, a)
		}
	}
	if _, ok := dst.Catalog().Instance("gone-after-restore"); ok {
		t.Fatal("restore kept an instance that is not in the backup")
	}
	if idx := dst.Catalog().Service("svc-0").Index; idx <= before {
		t.Fatalf("service index after restore %d, want above the index before (%d)", idx, before)
	}
	// The restored server keeps working.
	if _, _, err := dst.Register(ctx, testInstance("svc-0", "after")); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptBackupIsRejectedAndChangesNothing(t *testing.T) {
	ctx := ctxT(t)
	src := openDev(t, "c1")
	if _, _, err := src.Register(ctx, testInstance("web", "w1")); err != nil {
		t.Fatal(err)
	}
	var backup strings.Builder
	if err := src.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	good := []byte(backup.String())

	dst := openDev(t, "c2")
	if _, _, err := dst.Register(ctx, testInstance("keep", "k1")); err != nil {
		t.Fatal(err)
	}
	index := dst.Catalog().Index()
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	cases := map[string][]byte{
		"flipped byte":  flipped,
		"truncated":     good[:len(good)-10],
		"empty":         nil,
		"not a backup":  []byte(strings.Repeat("x", 100)),
		"extra payload": append(append([]byte(nil), good[:backupHeader]...), good...),
	}
	for name, b := range cases {
		err := dst.Restore(ctx, strings.NewReader(string(b)))
		var ve *registry.ValidationError
		if !errors.Is(err, ErrBadBackup) || !errors.As(err, &ve) {
			t.Fatalf("%s: restore err = %v, want ErrBadBackup with a ValidationError", name, err)
		}
		if name == "truncated" && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("truncated backup: %v, want it called truncated", err)
		}
	}
	if _, ok := dst.Catalog().Instance("k1"); !ok || dst.Catalog().Index() != index {
		t.Fatalf("a rejected restore changed the catalog (index %d -> %d)", index, dst.Catalog().Index())
	}
	if _, ok := dst.Catalog().Instance("w1"); ok {
		t.Fatal("a rejected restore applied the backup")
	}
}

func TestUnknownCommandVersionStopsApplyingAndMarksUnready(t *testing.T) {
	s := openDev(t, "v1")
	ctx := ctxT(t)
	_, idx, err := s.Register(ctx, testInstance("web", "w1"))
	if err != nil {
		t.Fatal(err)
	}
	future := []byte{registry.CommandVersion + 100, 1, 2, 3}
	s.raft.Apply(future, time.Second) // never answers: the FSM stops
	after := s.raft.Apply(registry.EncodeRegister(testInstance("web", "w2"), time.Now().UnixNano()), time.Second)
	retry.Eventually(t, 5*time.Second, func() error {
		if err := s.Ready(); err == nil || !errors.Is(err, registry.ErrUnknownVersion) {
			return fmt.Errorf("ready = %v", err)
		}
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := s.WaitApplied(wctx, idx+2); !errors.Is(err, registry.ErrUnknownVersion) {
		t.Fatalf("wait past the unknown entry: %v, want ErrUnknownVersion", err)
	}
	if _, ok := s.Catalog().Instance("w2"); ok {
		t.Fatal("an entry after the unknown one was applied: it was skipped")
	}
	if s.applied.load() != idx {
		t.Fatalf("applied index %d, want it to stay at %d", s.applied.load(), idx)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close of a halted server: %v", err)
	}
	if err := after.Error(); err == nil {
		if res, _ := after.Response().(*registry.Result); res == nil || res.Err == nil {
			t.Fatal("the entry after the unknown one was answered as applied")
		}
	}
}

func TestLeaveRemovesServerFromConfiguration(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	f := c.followers()[0]
	if err := f.Leave(ctx); err != nil {
		t.Fatalf("follower leave: %v", err)
	}
	leader := c.waitForLeader()
	retry.Eventually(t, 5*time.Second, func() error {
		if n := len(leader.Raft().Servers); n != 2 {
			return fmt.Errorf("%d servers in the configuration", n)
		}
		return nil
	})
	// The leader leaves: leadership moves first, then it is removed.
	if err := leader.Leave(ctx); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	last := c.waitForLeader()
	retry.Eventually(t, 5*time.Second, func() error {
		info := last.Raft()
		if len(info.Servers) != 1 || info.Servers[0].ID != last.ID() {
			return fmt.Errorf("configuration %+v", info.Servers)
		}
		return nil
	})
	if _, _, err := last.Register(ctx, testInstance("web", "w1")); err != nil {
		t.Fatalf("write on the remaining server: %v", err)
	}
}

func TestFailedServerIsRemovedAfterGraceAndNewServerBecomesVoter(t *testing.T) {
	c := startCluster(t, 3)
	f := c.followers()[0]
	f.crash()
	leader := c.waitForLeader()
	retry.Eventually(t, 10*time.Second, func() error {
		if n := len(leader.Raft().Servers); n != 2 {
			return fmt.Errorf("%d servers in the configuration", n)
		}
		return nil
	})
	// A new server joining later becomes a non-voter, then a voter.
	cfg := testConfig(t, "s4")
	cfg.Join = []string{leader.GossipAddr()}
	s4 := openStore(t, cfg)
	c.servers = append(c.servers, s4)
	retry.Eventually(t, 10*time.Second, func() error {
		for _, srv := range leader.Raft().Servers {
			if srv.ID == s4.ID() && srv.Suffrage == "voter" {
				return nil
			}
		}
		return fmt.Errorf("s4 not a voter: %+v", leader.Raft().Servers)
	})
	if s4.gossip.clusterID() != leader.gossip.clusterID() {
		t.Fatalf("joined server cluster id %q, want %q", s4.gossip.clusterID(), leader.gossip.clusterID())
	}
	if got := counterValue(leader.metrics.membership.WithLabelValues("remove_failed")); got != 1 {
		t.Fatalf("remove_failed counted %v times, want 1", got)
	}
}

func TestTwoClustersNeverMerge(t *testing.T) {
	a := openStore(t, testConfig(t, "a1"))
	b := openStore(t, testConfig(t, "b1"))
	retry.Eventually(t, 5*time.Second, a.Ready)
	retry.Eventually(t, 5*time.Second, b.Ready)
	if a.gossip.clusterID() == "" || a.gossip.clusterID() == b.gossip.clusterID() {
		t.Fatalf("cluster ids %q and %q, want two distinct ids", a.gossip.clusterID(), b.gossip.clusterID())
	}
	if n, err := b.serf.Join([]string{a.GossipAddr()}, true); err == nil {
		t.Fatalf("joining another cluster succeeded (%d contacted)", n)
	}
	if n := len(a.serf.Members()); n != 1 {
		t.Fatalf("cluster a sees %d gossip members, want 1", n)
	}
	if n := len(b.serf.Members()); n != 1 {
		t.Fatalf("cluster b sees %d gossip members, want 1", n)
	}
}

func TestMetricsAreExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, "m1")
	cfg.Metrics = reg
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, s.Ready)
	if _, _, err := s.Register(ctxT(t), testInstance("web", "w1")); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{
		"roster_raft_state", "roster_raft_term", "roster_raft_commit_index", "roster_raft_applied_index",
		"roster_raft_last_contact_seconds", "roster_raft_apply_duration_seconds", "roster_boltdb_freelist_free_pages",
		"roster_boltdb_freelist_inuse_bytes", "roster_raft_log_store_bytes", "roster_leases", "roster_leases_paused",
		"roster_instances", "roster_raft_leader_changes_total",
	} {
		if !got[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func openDev(t testing.TB, name string) *Store {
	t.Helper()
	cfg := testConfig(t, name)
	cfg.Dev = true
	cfg.DataDir = ""
	s := openStore(t, cfg)
	retry.Eventually(t, 5*time.Second, func() error {
		if !s.armed.Load() {
			return errors.New("not leading yet")
		}
		return nil
	})
	return s
}

func sameServices(a, b *registry.ServicesView) bool {
	if len(a.Services) != len(b.Services) {
		return false
	}
	for i := range a.Services {
		x, y := a.Services[i], b.Services[i]
		if x.Name != y.Name || x.Instances != y.Instances || x.Passing != y.Passing || strings.Join(x.Tags, ",") != strings.Join(y.Tags, ",") {
			return false
		}
	}
	return true
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func TestRestoreOnClusterReachesEveryServer(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	var last uint64
	for n := range 10 {
		idx, err := c.registerOnLeader(ctx, testInstance("web", fmt.Sprintf("keep-%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	// A follower's backup is a consistent picture of what it has applied.
	f := c.followers()[0]
	if err := f.WaitApplied(ctx, last); err != nil {
		t.Fatal(err)
	}
	var backup strings.Builder
	if err := f.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	if _, err := c.registerOnLeader(ctx, testInstance("web", "after-backup")); err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(ctx, strings.NewReader(backup.String())); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("restore on a follower: %v, want ErrNotLeader", err)
	}
	leader := c.waitForLeader()
	before := leader.Catalog().Service("web").Index
	if err := leader.Restore(ctx, strings.NewReader(backup.String())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	applied := leader.applied.load()
	for _, s := range c.running() {
		if err := s.WaitApplied(ctx, applied); err != nil {
			t.Fatalf("%s: %v", s.cfg.NodeName, err)
		}
		if _, ok := s.Catalog().Instance("after-backup"); ok {
			t.Fatalf("%s still has the instance registered after the backup", s.cfg.NodeName)
		}
		for n := range 10 {
			if _, ok := s.Catalog().Instance(fmt.Sprintf("keep-%d", n)); !ok {
				t.Fatalf("%s misses keep-%d after the restore", s.cfg.NodeName, n)
			}
		}
		if idx := s.Catalog().Service("web").Index; idx <= before {
			t.Fatalf("%s: service index %d after restore, want above %d", s.cfg.NodeName, idx, before)
		}
	}
	if _, err := c.registerOnLeader(ctx, testInstance("web", "after-restore")); err != nil {
		t.Fatalf("write after restore: %v", err)
	}
}

// A batch that names one instance twice keeps the last status, not the
// first (issue #15).
func TestBatchHeartbeatNamingAnInstanceTwiceLastWins(t *testing.T) {
	c := startCluster(t, 1)
	leader := c.waitForLeader()
	ctx := ctxT(t)
	in := testInstance("web", "w1")
	in.TTL = 10 * time.Second
	if _, _, err := leader.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][2]api.Status{
		{api.StatusCritical, api.StatusPassing},
		{api.StatusPassing, api.StatusWarning},
		{api.StatusWarning, api.StatusCritical},
	} {
		errs, idx, err := leader.Heartbeat(ctx, []api.BatchHeartbeat{
			{Service: "web", ID: "w1", Status: order[0]},
			{Service: "nobody", ID: "x"},
			{Service: "WEB", ID: "w1", Status: order[1]},
		})
		if err != nil || errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], registry.ErrNotFound) {
			t.Fatalf("heartbeat %v: %v %v", order, err, errs)
		}
		if err := leader.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if got, _ := leader.Catalog().Instance("w1"); got.Status != order[1] {
			t.Fatalf("after %v the instance is %s, want the last status", order, got.Status)
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A crafted backup (valid checksums, an instance no registration would
// accept) is refused with the bad record named, changes nothing, and is
// refused as it streams in: the rest of the upload is neither read nor
// spooled (issue #15).
func TestCraftedBackupIsRefusedWhileStreaming(t *testing.T) {
	ctx := ctxT(t)
	src := openDev(t, "c1")
	in := testInstance("web", "w1")
	in.Address = "10.0.0.77"
	if _, _, err := src.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := src.Catalog().Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Replace(snap.Bytes(), []byte("10.0.0.77"), []byte("not an ip"), 1)
	body := payload[:len(payload)-4]
	payload = binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	crafted := sealBackup(payload, src.Catalog().Index())

	dst := openDev(t, "c2")
	if _, _, err := dst.Register(ctx, testInstance("keep", "k1")); err != nil {
		t.Fatal(err)
	}
	index := dst.Catalog().Index()
	const tail = 64 << 20
	r := &countingReader{r: io.MultiReader(bytes.NewReader(crafted), io.LimitReader(zeroReader{}, tail))}
	err := dst.Restore(ctx, r)
	if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), `"w1"`) || !strings.Contains(err.Error(), "address") {
		t.Fatalf("restore err = %v, want ErrBadBackup naming w1's address", err)
	}
	if r.n > 4<<20 {
		t.Fatalf("read %d bytes of a %d-byte upload before refusing it", r.n, int64(len(crafted))+tail)
	}
	if _, ok := dst.Catalog().Instance("k1"); !ok || dst.Catalog().Index() != index {
		t.Fatal("a refused restore changed the catalog")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
