package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// TestMaintenanceThroughAFollower: a maintenance change sent to a follower
// is forwarded to the leader, and the follower answers the instance as
// stored and serves it out of discovery at once (read-your-writes), while
// the registration's own heartbeats keep it alive.
func TestMaintenanceThroughAFollower(t *testing.T) {
	nodes := testkit.StartCluster(t, 3)
	l := testkit.Leader(t, nodes)
	var follower *node.Node
	for _, n := range nodes {
		if n != l {
			follower = n
			break
		}
	}
	c := newClient(t, follower.HTTPAddr())
	ctx := context.Background()
	reg, err := c.Register(ctx, client.InstanceSpec{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 8080, TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })

	inst, err := c.SetMaintenance(ctx, "web", "web-1", true, "draining")
	if err != nil {
		t.Fatal(err)
	}
	if inst.Maintenance != "draining" || inst.Status != api.StatusCritical {
		t.Fatalf("forwarded maintenance answered %+v", inst)
	}
	if list, err := c.Instances(ctx, "web", nil); err != nil || len(list.Instances) != 0 {
		t.Fatalf("the follower still lists web-1 right after the write: %+v %v", list, err)
	}
	// For two TTLs its heartbeats keep it registered, and in maintenance.
	retry.Never(t, 6*time.Second, func() error {
		got, err := c.Instance(ctx, "web", "web-1")
		if err != nil {
			return err
		}
		if got.Maintenance != "draining" {
			return fmt.Errorf("web-1 left maintenance: %+v", got)
		}
		return nil
	})
	if _, err := c.SetMaintenance(ctx, "web", "web-1", false, ""); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Instances(ctx, "web", nil); err != nil || len(list.Instances) != 1 || list.Instances[0].Status != api.StatusPassing {
		t.Fatalf("after disable the follower lists %+v %v", list, err)
	}
}
