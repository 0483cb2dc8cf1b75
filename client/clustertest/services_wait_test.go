package clustertest

import (
	"context"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/testkit"
)

func TestWaitServicesAnswersWhenTheServiceListChanges(t *testing.T) {
	n := testkit.StartDev(t)
	c := newClient(t, n.HTTPAddr())
	ctx := context.Background()
	// An empty catalog's list is at index 0, which never blocks.
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "db", ID: "db-1", Address: "10.0.0.2", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	first, err := c.WaitServices(ctx, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *api.ServiceList, 1)
	errs := make(chan error, 1)
	go func() {
		l, err := c.WaitServices(ctx, first.Index, time.Minute)
		if err != nil {
			errs <- err
			return
		}
		got <- l
	}()
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, Tags: []string{"gateway.route=/web"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.Index <= first.Index || len(l.Services) != 2 || l.Services[1].Name != "web" || len(l.Services[1].Tags) != 1 {
			t.Fatalf("after registering: %+v (first index %d)", l, first.Index)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query did not answer the change")
	}

	// No change: it answers after wait, with the same index.
	cur, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l, err := c.WaitServices(ctx, cur.Index, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); l.Index != cur.Index || d < 250*time.Millisecond {
		t.Fatalf("without a change: index %d (was %d) after %v, want the same after the wait", l.Index, cur.Index, d)
	}
}
