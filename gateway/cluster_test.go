package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// startCluster starts three servers that form one Raft cluster.
func startCluster(t *testing.T) []*roster {
	t.Helper()
	var rs []*roster
	for _, n := range testkit.StartCluster(t, 3) {
		rs = append(rs, &roster{n: n, c: newClient(t, n)})
	}
	return rs
}

func TestFollowsTheClusterThroughServerLossAndRoutesOnWhenAllAreDown(t *testing.T) {
	rs := startCluster(t)
	a, b := startBackend(t, "users-1"), startBackend(t, "users-2")
	rs[0].register(t, "users", a, 1, "gateway.route=/users")
	g := startGateway(t, gateway.Config{Addrs: []string{rs[0].addr(), rs[1].addr(), rs[2].addr()}})
	retry.Eventually(t, 5*time.Second, func() error { return answeredBy(g.url+"/users/1", "users-1") })

	// The server the gateway watches through goes: its watches move to
	// another, and a registration made there reaches the gateway.
	rs[0].stop()
	retry.Eventually(t, 10*time.Second, func() error { return rs[1].tryRegister("users", b, 1, "gateway.route=/users") })
	retry.Eventually(t, 15*time.Second, func() error { return answeredBy(g.url+"/users/1", "users-2") })
	retry.Eventually(t, 5*time.Second, func() error {
		if h := g.Health(); h.Status != "ok" {
			return fmt.Errorf("healthz %+v with two servers up", h)
		}
		return nil
	})

	// Every server goes: traffic continues on the last routes, both
	// instances, and /healthz says stale.
	rs[1].stop()
	rs[2].stop()
	retry.Eventually(t, 15*time.Second, func() error {
		if h := health(t, g); h.Status != "stale" {
			return fmt.Errorf("healthz %+v", h)
		}
		return nil
	})
	if got := spread(t, g.url+"/users/1", 20); got["users-1"] != 10 || got["users-2"] != 10 {
		t.Errorf("with every server down: %v, want both instances in turn", got)
	}
}
