package raftstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
)

// Twelve never-heartbeated 1 s registrations in twelve new services used
// to pause expiry for up to 15 minutes, keeping a real instance that
// stopped heartbeating passing (issue #15). Through the leader's own
// expiry loop, the dead instance now turns critical within its TTL plus a
// second, and so do the abandoned ones.
func TestAbandonedRegistrationsDoNotHoldBackExpiry(t *testing.T) {
	s := openDev(t, "p1")
	ctx := ctxT(t)
	for i := range 12 {
		in := testInstance(fmt.Sprint("junk-", i), fmt.Sprint("junk-", i))
		in.TTL = time.Second
		if _, _, err := s.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	web := testInstance("web", "w1")
	web.TTL = time.Second
	if _, _, err := s.Register(ctx, web); err != nil {
		t.Fatal(err)
	}
	// A well-behaved client renews every third of its TTL for a while.
	beat, stop := context.WithTimeout(ctx, 3*time.Second)
	defer stop()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for beat.Err() == nil {
		select {
		case <-tick.C:
			if errs, _, err := s.Heartbeat(ctx, []api.BatchHeartbeat{{Service: "web", ID: "w1"}}); err != nil || errs[0] != nil {
				t.Fatalf("heartbeat: %v %v", err, errs)
			}
		case <-beat.Done():
		}
	}
	stopped := time.Now()
	retry.Eventually(t, 4*time.Second, func() error {
		if in, _ := s.Catalog().Instance("w1"); in.Status != api.StatusCritical {
			return fmt.Errorf("w1 is %s %v after its heartbeats stopped (leases %+v)", in.Status, time.Since(stopped), s.Leases())
		}
		return nil
	})
	if d := time.Since(stopped); d > 2*time.Second+500*time.Millisecond {
		t.Errorf("w1 turned critical %v after its last heartbeat, want within TTL + 1s", d)
	}
	for i := range 12 {
		if in, _ := s.Catalog().Instance(fmt.Sprint("junk-", i)); in.Status != api.StatusCritical {
			t.Fatalf("junk-%d is %s", i, in.Status)
		}
	}
	if st := s.Leases(); st.Paused {
		t.Fatalf("expiry paused: %+v", st)
	}
}
