package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/store"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rosterhq/roster/registry"
)

// TestNewServerBecomesVoterOnlyOnceCaughtUp: a server joining a cluster
// with a long log is added as a non-voter and stays one while its applied
// index (published in gossip) is more than 250 entries behind the leader's
// commit index, however long it has been alive; once it catches up it is
// promoted, and the leader's decision was taken on a caught-up index.
func TestNewServerBecomesVoterOnlyOnceCaughtUp(t *testing.T) {
	promotions := &recorder{msg: "membership changed", attr: "action", value: "promote_voter"}
	c := startCluster(t, 3, func(cfg *Config) { cfg.Logger = slog.New(promotions.wrap(cfg.Logger.Handler())) })
	last := fillLog(t, c, 1000)
	leader := c.waitForLeader()

	// The new server's FSM may apply only up to limit: far enough behind.
	var limit atomic.Uint64
	limit.Store(last - 600)
	cfg := testConfig(t, "s4")
	cfg.Join = []string{leader.GossipAddr()}
	cfg.beforeApply = func(idx uint64, stop <-chan struct{}) { gate(&limit, idx, stop) }
	s4 := openStore(t, cfg)
	c.servers = append(c.servers, s4)

	retry.Eventually(t, 10*time.Second, func() error { return suffrageIs(leader, s4.ID(), "nonvoter") })
	// It applies part of the log and the leader sees that in gossip.
	retry.Eventually(t, 10*time.Second, func() error {
		m, ok := leader.gossip.byID(s4.ID())
		if !ok {
			return errors.New("leader does not know s4 in gossip")
		}
		if applied := s4.applied.load(); m.Meta.Applied == 0 || m.Meta.Applied != applied {
			return fmt.Errorf("leader sees s4 applied %d, s4 has %d", m.Meta.Applied, applied)
		}
		return nil
	})
	if applied := s4.applied.load(); applied+catchUpMaxLag >= leader.raft.CommitIndex() {
		t.Fatalf("s4 applied %d is not far behind the commit index %d: the test proves nothing", applied, leader.raft.CommitIndex())
	}
	// Alive for many times the stabilization time, but behind: not promoted.
	retry.Never(t, 5*cfg.serverStabilization, func() error { return suffrageIs(leader, s4.ID(), "nonvoter") })

	held := s4.applied.load()
	limit.Store(math.MaxUint64)
	// The configuration shows the voter as soon as the change is appended;
	// the leader counts and logs it once it commits.
	retry.Eventually(t, 10*time.Second, func() error {
		promoted := 0.0
		for _, s := range c.running() {
			promoted += counterValue(s.metrics.membership.WithLabelValues("promote_voter"))
		}
		if promoted != 1 {
			return fmt.Errorf("promote_voter counted %v times, want 1", promoted)
		}
		return suffrageIs(c.waitForLeader(), s4.ID(), "voter")
	})
	recs := promotions.records()
	if len(recs) != 1 {
		t.Fatalf("%d promotion log records, want 1", len(recs))
	}
	applied, commit := recs[0]["applied_index"].Uint64(), recs[0]["commit_index"].Uint64()
	if applied <= held || applied+catchUpMaxLag < commit {
		t.Fatalf("promoted at published applied index %d, commit index %d; want past %d (where it was held) and within %d of commit",
			applied, commit, held, catchUpMaxLag)
	}
	if err := s4.WaitApplied(ctxT(t), last); err != nil {
		t.Fatal(err)
	}
}

// TestNonvoterThatCannotCatchUpStaysNonvoter: a server whose state machine
// cannot apply (a full disk, a broken FSM) stays a non-voter, and the
// leader logs and counts it once when the catch-up wait has passed.
func TestNonvoterThatCannotCatchUpStaysNonvoter(t *testing.T) {
	stuck := &recorder{msg: "non-voter has not caught up; keeping it a non-voter"}
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.catchUpWait = time.Second
		cfg.Logger = slog.New(stuck.wrap(cfg.Logger.Handler()))
	})
	fillLog(t, c, 2*catchUpMaxLag)
	leader := c.waitForLeader()

	cfg := testConfig(t, "s4")
	cfg.Join = []string{leader.GossipAddr()}
	cfg.beforeApply = func(_ uint64, stop <-chan struct{}) { <-stop }
	s4 := openStore(t, cfg)
	c.servers = append(c.servers, s4)

	retry.Eventually(t, 10*time.Second, func() error { return suffrageIs(leader, s4.ID(), "nonvoter") })
	retry.Eventually(t, 10*time.Second, func() error {
		if got := counterValue(leader.metrics.catchUpTimeouts); got != 1 {
			return fmt.Errorf("catch-up timeouts %v, want 1", got)
		}
		if got := gaugeValue(leader.metrics.nonvotersBehind); got != 1 {
			return fmt.Errorf("non-voters behind %v, want 1", got)
		}
		return nil
	})
	retry.Never(t, time.Second, func() error {
		if got := counterValue(leader.metrics.catchUpTimeouts); got != 1 {
			return fmt.Errorf("catch-up timeouts %v, want 1 (counted once)", got)
		}
		return suffrageIs(leader, s4.ID(), "nonvoter")
	})
	recs := stuck.records()
	if len(recs) != 1 {
		t.Fatalf("%d stuck-non-voter log records, want 1", len(recs))
	}
	if id := recs[0]["id"].String(); id != s4.ID() {
		t.Fatalf("stuck record names %s, want s4 (%s)", id, s4.ID())
	}
	if lag := recs[0]["lag"].Uint64(); lag <= catchUpMaxLag {
		t.Fatalf("stuck record lag %d, want more than %d", lag, catchUpMaxLag)
	}
	if got := len(leader.Raft().Servers); got != 4 {
		t.Fatalf("%d servers in the configuration, want 4 (3 voters and the non-voter)", got)
	}
}

// TestCatchUpLagRules: when the leader counts a non-voter as caught up.
func TestCatchUpLagRules(t *testing.T) {
	now := time.Now()
	leadSince := now.Add(-time.Minute)
	cases := []struct {
		name      string
		applied   uint64
		stamp     uint64 // leader's commit index when the applied index arrived
		at        time.Time
		commit    uint64
		want      bool
		wantLag   uint64
		leadSince time.Time
	}{
		{name: "within the bound of the commit index now", applied: 1000, stamp: 1000, at: now.Add(-time.Hour), commit: 1250, want: true, wantLag: 250},
		{name: "ahead of the commit index", applied: 1300, stamp: 1300, at: now, commit: 1250, want: true},
		{name: "far behind", applied: 100, stamp: 1000, at: now, commit: 1000, wantLag: 900},
		{name: "caught up when published, writes flowing since", applied: 5000, stamp: 5100, at: now.Add(-time.Second), commit: 5600, want: true, wantLag: 100},
		{name: "caught up when published, but long ago: stuck since", applied: 5000, stamp: 5100, at: now.Add(-appliedFreshness - time.Second), commit: 5600, wantLag: 600},
		{name: "published before this leadership began", applied: 5000, stamp: 5100, at: now.Add(-time.Second), commit: 5600, wantLag: 600, leadSince: now.Add(-time.Millisecond)},
		{name: "never published (applied 0)", stamp: 800, at: now, commit: 900, wantLag: 900},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{}
			s.leadSince.Store(leadSince.UnixNano())
			if !tc.leadSince.IsZero() {
				s.leadSince.Store(tc.leadSince.UnixNano())
			}
			m := member{Meta: nodeMeta{Applied: tc.applied}, AppliedAt: tc.at, AppliedCommit: tc.stamp}
			lag, ok := s.catchUpLag(m, tc.commit, now)
			if ok != tc.want || lag != tc.wantLag {
				t.Fatalf("catchUpLag = %d, %v; want %d, %v", lag, ok, tc.wantLag, tc.want)
			}
		})
	}
}

// TestNodeMetaFitsGossipLimit: the tags with every field at its longest
// stay under memberlist's 512-byte meta limit once serf encodes them, and
// carry the applied index.
func TestNodeMetaFitsGossipLimit(t *testing.T) {
	addr := "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
	meta := nodeMeta{
		ID: "adf4238a-882b-4d2c-9a5d-5b6758e4159e", Raft: addr, HTTP: addr, DNS: addr,
		Version: "v10.20.30-rc.10+0123456789ab.dirty", Cluster: "5c1e7a0e-2b8f-4d0e-9a57-6f3c2d4b8e11",
		Expect: 99, HasState: true, Applied: math.MaxUint64,
	}
	// serf encodes tags with msgpack after a magic byte; a map of short
	// strings costs at most its text plus 3 bytes per string and 5 for the map.
	size := 1 + 5
	for k, v := range meta.tags() {
		size += len(k) + len(v) + 6
	}
	if size > 512 {
		t.Fatalf("tags of up to %d bytes do not fit memberlist's 512", size)
	}
	got, err := parseMeta(meta.tags())
	if err != nil || got != meta {
		t.Fatalf("meta round trip: %+v, %v; want %+v", got, err, meta)
	}
	t.Logf("longest tags: at most %d bytes", size)
}

// fillLog writes n separate log entries through the leader, concurrently
// (Raft batches the appends), retrying while leadership moves, and returns
// the last index.
func fillLog(t testing.TB, c *cluster, n int) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const workers = 32
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last uint64
		errs []error
	)
	leader := c.waitForLeader()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				inst := testInstance("fill", fmt.Sprintf("fill-%d", i))
				err := registry.Validate(&inst, time.Second)
				var idx uint64
				for err == nil {
					mu.Lock()
					l := leader
					mu.Unlock()
					idx, err = l.applyEntry(ctx, registry.EncodeRegister(inst, time.Now().UnixNano()))
					if !errors.Is(err, store.ErrNoLeader) && !errors.Is(err, store.ErrNotLeader) {
						break
					}
					err = nil
					mu.Lock()
					for _, s := range c.running() {
						if s.IsLeader() {
							leader = s
						}
					}
					mu.Unlock()
					select {
					case <-ctx.Done():
						err = ctx.Err()
					case <-time.After(10 * time.Millisecond):
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				last = max(last, idx)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("filling the log: %v", err)
	}
	return last
}

// gate blocks an FSM batch ending at idx until limit allows it or the store
// stops: a state machine slower than the log.
func gate(limit *atomic.Uint64, idx uint64, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for idx > limit.Load() {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// suffrageIs checks server id's suffrage in the leader's configuration.
func suffrageIs(leader *Store, id, want string) error {
	f := leader.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) != id {
			continue
		}
		if got := strings.ToLower(srv.Suffrage.String()); got != want {
			return fmt.Errorf("%s is a %s, want %s", id, got, want)
		}
		return nil
	}
	return fmt.Errorf("%s not in the configuration (want %s)", id, want)
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

// recorder keeps the attributes of log records with a given message (and,
// when attr is set, attr equal to value), from every logger derived from
// the handler it wraps.
type recorder struct {
	msg, attr, value string

	mu   sync.Mutex
	recs []map[string]slog.Value
}

func (r *recorder) wrap(h slog.Handler) slog.Handler { return &recordingHandler{Handler: h, r: r} }

func (r *recorder) records() []map[string]slog.Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]slog.Value(nil), r.recs...)
}

type recordingHandler struct {
	slog.Handler
	r *recorder
}

func (h *recordingHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == h.r.msg {
		attrs := map[string]slog.Value{}
		rec.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Resolve()
			return true
		})
		if h.r.attr == "" || attrs[h.r.attr].String() == h.r.value {
			h.r.mu.Lock()
			h.r.recs = append(h.r.recs, attrs)
			h.r.mu.Unlock()
		}
	}
	return h.Handler.Handle(ctx, rec)
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordingHandler{Handler: h.Handler.WithAttrs(as), r: h.r}
}

func (h *recordingHandler) WithGroup(name string) slog.Handler {
	return &recordingHandler{Handler: h.Handler.WithGroup(name), r: h.r}
}
