package client_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

const registerRoute = "PUT /v1/services/{service}/instances/{id}"

func register(t *testing.T, c *client.Client, id string, ttl time.Duration) *client.Registration {
	t.Helper()
	reg, err := c.Register(context.Background(), client.InstanceSpec{Service: "web", ID: id, Address: "10.0.0.1", Port: 8080, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestAllRegistrationsShareOneHeartbeatRequestPerInterval(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	for i := range 5 {
		register(t, c, fmt.Sprintf("web-%d", i), 1500*time.Millisecond)
	}
	// Each lease is 1.5s (the server's minimum TTL is 1s), renewed every
	// ~500ms: over 3s, five instances renewed one by one would take ~30
	// requests; batched it is ~6.
	before := s.Requests("PUT /v1/heartbeats")
	retry.Never(t, 3*time.Second, func() error {
		for i := range 5 {
			if err := statusOf(s, fmt.Sprintf("web-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	batches := s.Requests("PUT /v1/heartbeats") - before
	if batches < 4 || batches > 9 {
		t.Fatalf("%d batch heartbeats in 3s, want one per ~500ms interval", batches)
	}
	if n := s.Requests("PUT /v1/services/{service}/instances/{id}/heartbeat"); n != 0 {
		t.Fatalf("%d single heartbeats, want none", n)
	}
}

func TestRegistrationRegistersAgainWhenTheServerForgetsIt(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg := register(t, c, "web-1", time.Second)
	s.Forget("web-1")
	retry.Eventually(t, 3*time.Second, func() error { return statusOf(s, "web-1") })
	select {
	case <-reg.Done():
		t.Fatal("registration stopped after a re-registration")
	default:
	}
}

func TestRegistrationRecoversAfterItsLeaseExpired(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg, err := c.Register(context.Background(), client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80, TTL: time.Second, DeregisterAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// Heartbeats fail long enough for the lease to expire and the instance
	// to be removed.
	s.SetUnavailable(true)
	retry.Eventually(t, 6*time.Second, func() error {
		if _, ok := s.Get("web-1"); ok {
			return errors.New("still registered")
		}
		return nil
	})
	s.SetUnavailable(false)
	retry.Eventually(t, 3*time.Second, func() error { return statusOf(s, "web-1") })
}

func TestNoLeaderNeverCausesARegistration(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	register(t, c, "web-1", time.Second)
	s.SetUnavailable(true)
	before := s.Requests("PUT /v1/heartbeats")
	retry.Eventually(t, 3*time.Second, func() error {
		if s.Requests("PUT /v1/heartbeats") < before+3 {
			return errors.New("heartbeats not retried during the outage")
		}
		return nil
	})
	if n := s.Requests(registerRoute); n != 1 {
		t.Fatalf("%d registrations during a 503 outage, want only the first", n)
	}
	s.SetUnavailable(false)
	retry.Eventually(t, 3*time.Second, func() error { return statusOf(s, "web-1") })
}

func TestOperatorDeregistrationStopsTheRegistration(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg := register(t, c, "web-1", time.Second)
	s.Deregister("web-1")
	select {
	case <-reg.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("registration still running after the operator removed it")
	}
	if !errors.Is(reg.Err(), client.ErrGone) {
		t.Fatalf("Err = %v, want ErrGone", reg.Err())
	}
	retry.Never(t, 500*time.Millisecond, func() error {
		if _, ok := s.Get("web-1"); ok {
			return errors.New("registered again after the operator removed it")
		}
		return nil
	})
}

func TestSetStatusIsSentAtOnceAndKept(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg := register(t, c, "web-1", 10*time.Second)
	if err := reg.SetStatus(context.Background(), api.StatusWarning, "disk 91%"); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("web-1")
	if inst.Status != api.StatusWarning || inst.Output != "disk 91%" {
		t.Fatalf("after SetStatus the server has %s %q", inst.Status, inst.Output)
	}
	// A lease renewed every ~200ms keeps reporting warning, not passing.
	reg2 := register(t, c, "web-2", 1500*time.Millisecond)
	defer reg2.Close()
	before := s.Requests("PUT /v1/heartbeats")
	retry.Eventually(t, 3*time.Second, func() error {
		if s.Requests("PUT /v1/heartbeats") < before+3 {
			return errors.New("waiting for heartbeats")
		}
		return nil
	})
	if inst, _ := s.Get("web-1"); inst.Status != api.StatusWarning {
		t.Fatalf("heartbeats reset the status to %s", inst.Status)
	}
}

func TestSetStatusOfAForgottenInstanceRegistersIt(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg := register(t, c, "web-1", 10*time.Second)
	s.Forget("web-1")
	if err := reg.SetStatus(context.Background(), api.StatusCritical, "db down"); err != nil {
		t.Fatal(err)
	}
	if inst, ok := s.Get("web-1"); !ok || inst.Status != api.StatusCritical {
		t.Fatalf("after SetStatus: %+v %v", inst, ok)
	}
}

func TestCloseRemovesInstancesAndStopsHeartbeats(t *testing.T) {
	s := startFake(t)
	c, err := client.New(client.Config{Addrs: []string{s.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	register(t, c, "web-1", time.Second)
	reg2 := register(t, c, "web-2", 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"web-1", "web-2"} {
		if _, ok := s.Get(id); ok {
			t.Fatalf("%s still registered after Close", id)
		}
	}
	select {
	case <-reg2.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	before := s.Requests("PUT /v1/heartbeats")
	retry.Never(t, 400*time.Millisecond, func() error {
		if n := s.Requests("PUT /v1/heartbeats"); n != before {
			return fmt.Errorf("%d heartbeats after Close", n-before)
		}
		return nil
	})
	if _, err := c.Register(context.Background(), client.InstanceSpec{Service: "web", Port: 1}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Register after Close: %v", err)
	}
}

func TestDeregisterRemovesOnlyThatInstance(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	a := register(t, c, "web-1", time.Second)
	register(t, c, "web-2", time.Second)
	if err := a.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("web-1"); ok {
		t.Fatal("web-1 still registered")
	}
	retry.Never(t, 700*time.Millisecond, func() error {
		if _, ok := s.Get("web-1"); ok {
			return errors.New("web-1 came back")
		}
		return statusOf(s, "web-2")
	})
	if err := a.Deregister(context.Background()); err != nil {
		t.Fatalf("second Deregister: %v", err)
	}
}

func TestRegisterMakesUpAnID(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	reg, err := c.Register(context.Background(), client.InstanceSpec{Service: "web", Address: "10.0.0.1", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(reg.ID()); !ok || len(reg.ID()) <= len("web-") {
		t.Fatalf("id %q not registered", reg.ID())
	}
}
