package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func next(t *testing.T, w *client.Watcher) *api.InstanceList {
	t.Helper()
	select {
	case l, ok := <-w.Updates():
		if !ok {
			t.Fatal("watcher stopped")
		}
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return nil
}

func ids(l *api.InstanceList) string {
	s := ""
	for _, in := range l.Instances {
		s += in.ID + "/" + string(in.Status) + " "
	}
	return s
}

func TestWatchDeliversTheListAndEveryChange(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	ctx := context.Background()
	w := c.Watch(ctx, "orders", &client.WatchOptions{Status: "any"})
	defer w.Stop()
	if l := next(t, w); len(l.Instances) != 0 {
		t.Fatalf("first list of a service not yet registered: %s", ids(l))
	}
	register(t, c, "web-1", 0) // another service: no update for orders
	reg, err := c.Register(ctx, client.InstanceSpec{Service: "orders", ID: "orders-1", Address: "10.0.0.1", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Until orders exists, its index is the catalog's (design.md, "Index"),
	// so web's registration may deliver orders' empty list at a newer
	// index first; nothing but that may come before orders-1.
	l := next(t, w)
	for len(l.Instances) == 0 {
		l = next(t, w)
	}
	if got := ids(l); got != "orders-1/passing " {
		t.Fatalf("after register: %s", got)
	}
	prev := l.Index
	if err := reg.SetStatus(ctx, api.StatusCritical, "down"); err != nil {
		t.Fatal(err)
	}
	l = next(t, w)
	if got := ids(l); got != "orders-1/critical " || l.Index <= prev {
		t.Fatalf("after status change: %s at %d (was %d)", got, l.Index, prev)
	}
	if err := reg.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if l := next(t, w); len(l.Instances) != 0 {
		t.Fatalf("after deregister: %s", ids(l))
	}
}

func TestWatchKeepsTheLastListWhileServersAreDownAndRecovers(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	ctx := context.Background()
	register(t, c, "web-1", 0)
	w := c.Watch(ctx, "web", &client.WatchOptions{MaxBackoff: 200 * time.Millisecond})
	defer w.Stop()
	if got := ids(next(t, w)); got != "web-1/passing " {
		t.Fatalf("first list: %s", got)
	}
	s.Stop()
	retry.Eventually(t, 5*time.Second, func() error {
		if w.Err() == nil {
			return fmt.Errorf("no error seen yet")
		}
		return nil
	})
	retry.Never(t, 500*time.Millisecond, func() error {
		select {
		case l := <-w.Updates():
			return fmt.Errorf("delivered %q while every server was down", ids(l))
		default:
		}
		if l, ok := w.Last(); !ok || ids(l) != "web-1/passing " {
			return fmt.Errorf("Last lost the list during the outage")
		}
		return nil
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// A change made after the restart reaches the watcher.
	register(t, c, "web-2", 0)
	retry.Eventually(t, 5*time.Second, func() error {
		select {
		case l := <-w.Updates():
			if ids(l) == "web-1/passing web-2/passing " {
				return nil
			}
			return fmt.Errorf("got %s", ids(l))
		default:
			return fmt.Errorf("no update yet")
		}
	})
}

// A server whose index stays behind the last one seen (a wiped cluster)
// makes the watcher start over from the new index; a single stale answer
// (a lagging follower) does not.
func TestWatchResetsWhenTheIndexStaysBehind(t *testing.T) {
	var calls, blocked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Query().Get("index") == "7" {
			// Blocking on the new index, as a server would.
			blocked.Add(1)
			<-r.Context().Done()
			return
		}
		index, id := uint64(100), "old"
		if n > 1 {
			index, id = 7, "restored"
		}
		w.Header().Set(api.HeaderIndex, fmt.Sprint(index))
		_ = json.NewEncoder(w).Encode(api.InstanceList{Service: "web", Index: index, Instances: []api.Instance{{Service: "web", ID: id, Status: api.StatusPassing}}})
	}))
	defer srv.Close()
	defer srv.CloseClientConnections()
	c := newClient(t, srv.URL)
	w := c.Watch(context.Background(), "web", &client.WatchOptions{MaxBackoff: 100 * time.Millisecond})
	defer w.Stop()
	if got := ids(next(t, w)); got != "old/passing " {
		t.Fatalf("first: %s", got)
	}
	l := next(t, w)
	if ids(l) != "restored/passing " || l.Index != 7 {
		t.Fatalf("after the index went back: %s at %d", ids(l), l.Index)
	}
	if n := calls.Load(); n < 4 {
		t.Fatalf("reset after %d answers; a single stale answer must not reset", n-1)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if blocked.Load() == 0 {
			return fmt.Errorf("no blocking query on the new index")
		}
		return nil
	})
}

func TestResolverServesTheLastGoodListWhileEveryServerIsDown(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	register(t, c, "web-1", 0)
	r := c.NewResolver(client.ResolverOptions{})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.Pick(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	retry.Never(t, time.Second, func() error {
		inst, err := r.Pick(ctx, "web")
		if err != nil || inst.ID != "web-1" {
			return fmt.Errorf("Pick during the outage: %v %v", inst.ID, err)
		}
		return nil
	})
}

// A server answering index 0 (nothing applied yet) cannot block; the
// watcher delivers that list once and polls gently instead of spinning.
func TestWatchOfIndexZeroDeliversOnceAndDoesNotSpin(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set(api.HeaderIndex, "0")
		_ = json.NewEncoder(w).Encode(api.InstanceList{Service: "web", Index: 0, Instances: []api.Instance{}})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	w := c.Watch(context.Background(), "web", nil)
	defer w.Stop()
	next(t, w)
	retry.Never(t, time.Second, func() error {
		select {
		case l := <-w.Updates():
			return fmt.Errorf("unchanged list delivered again at index %d", l.Index)
		default:
			return nil
		}
	})
	if n := calls.Load(); n > 12 {
		t.Fatalf("%d queries in about a second", n)
	}
}
