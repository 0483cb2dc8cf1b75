package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func passing(ctx context.Context, c *client.Client, service, id string) error {
	inst, err := c.Instance(ctx, service, id)
	if err != nil {
		return err
	}
	if inst.Status != api.StatusPassing {
		return fmt.Errorf("%s is %s (%s)", id, inst.Status, inst.Output)
	}
	return nil
}

func TestRegistrationSurvivesLeaderLoss(t *testing.T) {
	nodes := testkit.StartCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, addrs(nodes)...)
	reg, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Reads are local: wait until every server has applied the
	// registration, so that what follows measures the lease alone.
	for _, n := range nodes {
		r := newClient(t, n.HTTPAddr())
		retry.Eventually(t, 5*time.Second, func() error { return passing(ctx, r, "web", "web-1") })
	}
	l := testkit.Leader(t, nodes)
	testkit.Close(l)
	var rest []string
	for _, n := range nodes {
		if n != l {
			rest = append(rest, n.HTTPAddr())
		}
	}
	reader := newClient(t, rest...)
	// Over three TTLs after the leader went, the instance never turns
	// critical: heartbeats fail over and the new leader re-arms its lease.
	retry.Never(t, 6*time.Second, func() error {
		if err := passing(ctx, reader, "web", "web-1"); err != nil && !errors.Is(err, client.ErrNoLeader) {
			return err
		}
		return nil
	})
	select {
	case <-reg.Done():
		t.Fatalf("registration stopped: %v", reg.Err())
	default:
	}
}

func TestRegistrationComesBackAfterAFullExpiry(t *testing.T) {
	n := testkit.StartDev(t)
	p := startProxy(t, n.HTTPAddr())
	ctx := context.Background()
	c := newClient(t, p.Addr())
	direct := newClient(t, n.HTTPAddr())
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, TTL: time.Second, DeregisterAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	// The client loses the cluster long enough for the lease to expire and
	// the instance to be removed.
	p.block(true)
	retry.Eventually(t, 15*time.Second, func() error {
		if _, err := direct.Instance(ctx, "web", "web-1"); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("not removed yet: %v", err)
		}
		return nil
	})
	p.block(false)
	retry.Eventually(t, 10*time.Second, func() error { return passing(ctx, direct, "web", "web-1") })
}

func TestRegistrationComesBackAfterARestore(t *testing.T) {
	n := testkit.StartDev(t)
	ctx := context.Background()
	c := newClient(t, n.HTTPAddr())
	var backup bytes.Buffer
	if _, err := c.SnapshotSave(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, TTL: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := c.SnapshotRestore(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 10*time.Second, func() error { return passing(ctx, c, "web", "web-1") })
}

func TestCloseRemovesTheInstance(t *testing.T) {
	nodes := testkit.StartCluster(t, 3)
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: addrs(nodes)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, TTL: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Every server, not only the one written to, forgets it.
	for _, n := range nodes {
		r := newClient(t, n.HTTPAddr())
		retry.Eventually(t, 5*time.Second, func() error {
			if _, err := r.Instance(ctx, "web", "web-1"); !errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("%s still has web-1: %v", n.HTTPAddr(), err)
			}
			return nil
		})
	}
}

func TestWatchSeesEveryChangeAndRecoversAfterAServerRestart(t *testing.T) {
	n := testkit.StartDev(t)
	addr := n.HTTPAddr()
	ctx := context.Background()
	c := newClient(t, addr)
	w := c.Watch(ctx, "web", &client.WatchOptions{Status: "any", MaxBackoff: 300 * time.Millisecond})
	defer w.Stop()
	next := func() *api.InstanceList {
		t.Helper()
		select {
		case l := <-w.Updates():
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no update")
		}
		return nil
	}
	if l := next(); len(l.Instances) != 0 {
		t.Fatalf("first list: %+v", l)
	}
	var last uint64
	for i := 1; i <= 3; i++ {
		if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: fmt.Sprintf("web-%d", i), Address: "10.0.0.1", Port: 80}); err != nil {
			t.Fatal(err)
		}
		l := next()
		if len(l.Instances) != i || l.Index <= last {
			t.Fatalf("after registering %d: %d instances at index %d (previous %d)", i, len(l.Instances), l.Index, last)
		}
		last = l.Index
	}
	// The server restarts empty (dev mode keeps nothing): the watcher keeps
	// the last list while it is down and follows the new server after.
	testkit.Close(n)
	if l, ok := w.Last(); !ok || len(l.Instances) != 3 {
		t.Fatalf("Last during the restart: %+v", l)
	}
	n2 := testkit.StartDev(t, func(c *node.Config) { c.HTTPAddr = addr })
	c2 := newClient(t, n2.HTTPAddr())
	if _, err := c2.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-9", Address: "10.0.0.1", Port: 80}); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 15*time.Second, func() error {
		select {
		case l := <-w.Updates():
			if len(l.Instances) == 1 && l.Instances[0].ID == "web-9" {
				return nil
			}
			return fmt.Errorf("got %d instances", len(l.Instances))
		default:
			return fmt.Errorf("no update yet (last error %v)", w.Err())
		}
	})
}

func TestResolverServesWhileEveryServerIsStopped(t *testing.T) {
	nodes := testkit.StartCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, addrs(nodes)...)
	for i := range 2 {
		if _, err := c.Register(ctx, client.InstanceSpec{Service: "users", ID: fmt.Sprintf("users-%d", i), Address: "10.0.0.1", Port: 8000 + i}); err != nil {
			t.Fatal(err)
		}
	}
	r := c.NewResolver(client.ResolverOptions{})
	defer r.Close()
	retry.Eventually(t, 5*time.Second, func() error {
		in, err := r.Instances(ctx, "users")
		if err != nil || len(in) != 2 {
			return fmt.Errorf("%d instances, %v", len(in), err)
		}
		return nil
	})
	for _, n := range nodes {
		testkit.Close(n)
	}
	retry.Never(t, 2*time.Second, func() error {
		in, err := r.Instances(ctx, "users")
		if err != nil || len(in) != 2 {
			return fmt.Errorf("while every server is down: %d instances, %v", len(in), err)
		}
		_, err = r.Pick(ctx, "users")
		return err
	})
}

func TestBalancerSpreadsLoadAndSkipsCriticalInstances(t *testing.T) {
	n := testkit.StartDev(t)
	ctx := context.Background()
	c := newClient(t, n.HTTPAddr())
	var regs []*client.Registration
	for i := range 3 {
		reg, err := c.Register(ctx, client.InstanceSpec{Service: "users", ID: fmt.Sprintf("users-%d", i), Address: "10.0.0.1", Port: 8000 + i, TTL: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, reg)
	}
	r := c.NewResolver(client.ResolverOptions{Strategy: client.RoundRobin})
	defer r.Close()
	retry.Eventually(t, 5*time.Second, func() error {
		in, err := r.Instances(ctx, "users")
		if err != nil || len(in) != 3 {
			return fmt.Errorf("%d instances, %v", len(in), err)
		}
		return nil
	})
	counts := map[string]int{}
	for range 300 {
		inst, err := r.Pick(ctx, "users")
		if err != nil {
			t.Fatal(err)
		}
		counts[inst.ID]++
	}
	for id, n := range counts {
		if n != 100 {
			t.Fatalf("%s got %d of 300 picks: %v", id, n, counts)
		}
	}
	if err := regs[1].SetStatus(ctx, api.StatusCritical, "db down"); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		in, _ := r.Instances(ctx, "users")
		if len(in) != 2 {
			return fmt.Errorf("%d instances", len(in))
		}
		return nil
	})
	for range 100 {
		inst, _ := r.Pick(ctx, "users")
		if inst.ID == "users-1" {
			t.Fatal("picked a critical instance")
		}
	}
}
