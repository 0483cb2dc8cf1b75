package client_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/client/rostertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func startFake(t *testing.T) *rostertest.Server {
	t.Helper()
	s := rostertest.NewServer()
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, addrs ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Addrs: addrs,
		Retry: client.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deadAddr returns an address on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func statusOf(s *rostertest.Server, id string) error {
	inst, ok := s.Get(id)
	if !ok {
		return fmt.Errorf("%s not registered", id)
	}
	if inst.Status != "passing" {
		return fmt.Errorf("%s is %s", id, inst.Status)
	}
	return nil
}
