package client_test

import (
	"context"
	"errors"
	"github.com/rosterhq/roster/internal/retry"
	"testing"
	"time"

	"github.com/rosterhq/roster/client"
)

func TestCallsFailOverToAServerThatAnswers(t *testing.T) {
	s := startFake(t)
	c := newClient(t, deadAddr(t), s.Addr())
	ctx := context.Background()
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80}); err != nil {
		t.Fatal(err)
	}
	if got := c.Addrs()[0]; got != s.Addr() {
		t.Fatalf("client sticks to %s, want the live server %s", got, s.Addr())
	}
	list, err := c.Instances(ctx, "web", nil)
	if err != nil || len(list.Instances) != 1 {
		t.Fatalf("Instances = %+v, %v", list, err)
	}
}

func TestEveryServerDownIsErrUnreachable(t *testing.T) {
	c := newClient(t, deadAddr(t), deadAddr(t))
	_, err := c.Services(context.Background())
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestNoLeaderIsRetriedUntilALeaderIsBack(t *testing.T) {
	s := startFake(t)
	s.SetUnavailable(true)
	c, err := client.New(client.Config{Addrs: []string{s.Addr()}, Retry: client.RetryPolicy{MaxAttempts: 20, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Register(context.Background(), client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 80})
		done <- err
	}()
	retry.Eventually(t, 5*time.Second, func() error {
		if s.Requests("PUT /v1/services/{service}/instances/{id}") < 2 {
			return errors.New("not retried yet")
		}
		return nil
	})
	s.SetUnavailable(false)
	if err := <-done; err != nil {
		t.Fatalf("register after the leader came back: %v", err)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s := startFake(t)
	s.SetUnavailable(true) // answers Retry-After: 1
	c := newClient(t, s.Addr())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := c.Services(ctx)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("err = %v", err)
	}
	// 1.5s allows the first try and one retry after the server's 1s hint,
	// where the client's own backoff (100ms cap) would have tried 10 times.
	// At least the first try and the retry after the 1s hint; not more.
	if n := s.Requests("GET /v1/services"); n != 2 {
		t.Fatalf("%d tries in %v, want 2: the first and one retry after Retry-After: 1", n, time.Since(start))
	}
}

func TestLeaveIsNeitherRetriedNorFailedOver(t *testing.T) {
	a, b := startFake(t), startFake(t)
	a.SetUnavailable(true)
	c := newClient(t, a.Addr(), b.Addr())
	err := c.Leave(context.Background())
	if !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("err = %v, want ErrNoLeader", err)
	}
	if n := a.Requests("PUT /v1/cluster/leave"); n != 1 {
		t.Fatalf("leave sent %d times to the first server", n)
	}
	if n := b.Requests("PUT /v1/cluster/leave"); n != 0 {
		t.Fatalf("leave went to another server %d times", n)
	}
}

func TestConfigDefaultsToRosterAddr(t *testing.T) {
	t.Setenv(client.EnvAddr, "10.0.0.1:8500, http://10.0.0.2:8500")
	c, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := c.Addrs()
	if len(got) != 2 || got[0] != "10.0.0.1:8500" || got[1] != "10.0.0.2:8500" {
		t.Fatalf("Addrs = %v", got)
	}
	t.Setenv(client.EnvAddr, "")
	if got := client.AddrsFromEnv(); len(got) != 1 || got[0] != client.DefaultAddr {
		t.Fatalf("AddrsFromEnv = %v", got)
	}
}
