package registry

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// Many watchers re-arming while changes stream in must each end up holding
// the final state: a wake-up lost between taking the channel and reading
// the view would leave a watcher parked forever.
func TestWatchersMissNoChangeUnderConcurrentApplies(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "seed"))
	const watchers, changes = 64, 1000
	final := a.idx + changes
	var wg sync.WaitGroup
	stuck := make(chan string, watchers)
	for w := range watchers {
		wg.Go(func() {
			name := "web"
			if w%2 == 1 {
				name = "WEB" // case-insensitive names share one notifier
			}
			for {
				ch := a.c.WatchService(name)
				if a.c.Service(name).Index >= final {
					return
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					stuck <- fmt.Sprintf("watcher %d parked at index %d", w, a.c.Service(name).Index)
					return
				}
			}
		})
	}
	for i := range changes {
		a.register(inst("web", fmt.Sprintf("w%d", i)))
	}
	wg.Wait()
	close(stuck)
	for msg := range stuck {
		t.Error(msg)
	}
}

// Re-taking a channel someone already took, and a change that nobody
// watches, allocate nothing: thousands of woken streams re-arm at once.
func TestWatchRearmAllocatesNothing(t *testing.T) {
	var w watchers
	w.service("web")
	if n := testing.AllocsPerRun(100, func() { w.service("web") }); n != 0 {
		t.Errorf("taking an existing channel: %v allocations", n)
	}
	w.fire([]string{"web"}, false)
	if n := testing.AllocsPerRun(100, func() { w.fire([]string{"web"}, true) }); n != 0 {
		t.Errorf("a change nobody watches: %v allocations", n)
	}
}

// A fire closes the channel handed out before it, and only that one: the
// next watch gets a fresh channel.
func TestWatchChannelIsClosedOnceAndReplaced(t *testing.T) {
	var w watchers
	first := w.service("web")
	list := w.services()
	w.fire([]string{"web"}, false)
	if !closed(first) || closed(list) {
		t.Fatalf("web closed %v, list closed %v; want true, false", closed(first), closed(list))
	}
	second := w.service("web")
	if closed(second) {
		t.Fatal("the channel taken after a fire is already closed")
	}
	w.fire([]string{"web"}, false) // nobody re-took it: must not close twice
	w.fire([]string{"web"}, false)
	if !closed(second) {
		t.Fatal("second channel not closed")
	}
	w.fireAll()
	if !closed(list) {
		t.Fatal("fireAll left the service-list channel open")
	}
}

// BenchmarkWatchWake is one change waking many parked watchers, each of
// which re-arms and reads the new view (what every SSE stream and blocking
// query does on a change). ns/op is the time until the last one has it.
func BenchmarkWatchWake(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := newApplier(b)
			a.register(inst("web", "seed"))
			var have sync.WaitGroup // watchers still to see the latest change
			var done sync.WaitGroup
			stop := make(chan struct{})
			have.Add(n)
			for range n {
				done.Go(func() {
					var seen uint64
					ch := a.c.WatchService("web")
					have.Done()
					for {
						select {
						case <-ch:
						case <-stop:
							return
						}
						ch = a.c.WatchService("web")
						if v := a.c.Service("web"); v.Index != seen {
							seen = v.Index
							have.Done()
						}
					}
				})
			}
			have.Wait()
			for i := 0; b.Loop(); i++ {
				have.Add(n)
				a.register(inst("web", fmt.Sprintf("w%d", i)))
				have.Wait()
			}
			close(stop)
			done.Wait()
		})
	}
}

// WatchAny wakes on a change of any service, and a command that changes
// nothing wakes nobody.
func TestWatchAnyWakesOnEveryServiceChange(t *testing.T) {
	a := newApplier(t)
	a.register(inst("web", "w1"))
	ch := a.c.WatchAny()
	a.register(inst("web", "w1")) // the same data again: no change
	if closed(ch) {
		t.Fatal("a registration that changed nothing woke WatchAny")
	}
	a.register(inst("api", "a1"))
	if !closed(ch) {
		t.Fatal("a new service's registration did not wake WatchAny")
	}
	ch = a.c.WatchAny()
	a.status("w1", api.StatusWarning, t0)
	if !closed(ch) {
		t.Fatal("a status change did not wake WatchAny")
	}
}
