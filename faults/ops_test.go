//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// TestMinorityPartitionRefusesWritesAndConsistentReads cuts the leader off
// from the other two servers. The isolated server must refuse writes and
// ?consistent reads with 503 and Retry-After, while plain reads keep
// answering and say, through X-Roster-Last-Contact, how stale they are; the
// majority elects a leader and carries on; after healing, all converge.
func TestMinorityPartitionRefusesWritesAndConsistentReads(t *testing.T) {
	c := startCluster(t, 3)
	old := c.waitForLeader(30 * time.Second)
	register(t, c, old, "web", "before", "10.0.0.1")

	mustDocker(t, "network", "disconnect", c.clusterNet, old.container)
	partitioned := true
	t.Cleanup(func() {
		if partitioned {
			_, _ = docker(t.Context(), "network", "connect", "--ip", old.clusterIP, c.clusterNet, old.container)
		}
	})
	var majority []*node
	for _, n := range c.live() {
		if n != old {
			majority = append(majority, n)
		}
	}

	// The majority elects a new leader and takes writes.
	var newLeader *node
	retry.Eventually(t, 15*time.Second, func() error {
		var err error
		newLeader, err = c.leaderOf(t.Context(), majority, 2)
		if err == nil && newLeader == old {
			return fmt.Errorf("the majority still names the cut-off %s as leader", old.name)
		}
		return err
	})
	register(t, c, majority[0], "web", "during", "10.0.0.2")

	// The minority refuses writes and consistent reads.
	retry.Eventually(t, 15*time.Second, func() error {
		r, err := c.do(t.Context(), 5*time.Second, http.MethodPut, old.url("/v1/services/web/instances/minority"),
			api.RegisterRequest{Address: "10.0.0.3", Port: 80})
		return want503(r, err)
	})
	for range 3 {
		r, err := c.do(t.Context(), 5*time.Second, http.MethodPut, old.url("/v1/services/web/instances/minority"),
			api.RegisterRequest{Address: "10.0.0.3", Port: 80})
		if err := want503(r, err); err != nil {
			t.Fatalf("write on the minority: %v", err)
		}
		r, err = c.do(t.Context(), 5*time.Second, http.MethodGet, old.url("/v1/services/web/instances?consistent"), nil)
		if err := want503(r, err); err != nil {
			t.Fatalf("consistent read on the minority: %v", err)
		}
	}

	// Plain reads answer from local state and say how stale it is.
	first := lastContact(t, c, old)
	retry.Eventually(t, 10*time.Second, func() error {
		r, err := c.do(t.Context(), 3*time.Second, http.MethodGet, old.url("/v1/services/web/instances"), nil)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("plain read on the minority: %d %s", r.status, r.apiError())
		}
		if got := r.header.Get(api.HeaderKnownLeader); got != "false" {
			return fmt.Errorf("%s = %q on the minority, want false", api.HeaderKnownLeader, got)
		}
		if lc := lastContactOf(t, r); lc <= first+1000 {
			return fmt.Errorf("%s = %dms, want more than %dms: it must grow while cut off", api.HeaderLastContact, lc, first+1000)
		}
		return nil
	})

	// Heal: the old leader rejoins as a follower and catches up.
	mustDocker(t, "network", "connect", "--ip", old.clusterIP, c.clusterNet, old.container)
	partitioned = false
	views := c.waitConverged(60*time.Second, "web")
	if _, ok := views["web"]["during"]; !ok {
		t.Errorf("write made on the majority during the partition is missing after healing: %v", views["web"])
	}
	if _, ok := views["web"]["minority"]; ok {
		t.Errorf("write refused by the minority appeared after healing: %v", views["web"])
	}
	t.Logf("partition: new leader %s, old leader %s rejoined", newLeader.name, old.name)
}

func want503(r reply, err error) error {
	if err != nil {
		return err
	}
	if r.status != http.StatusServiceUnavailable {
		return fmt.Errorf("got %d %s, want 503", r.status, r.apiError())
	}
	if r.header.Get("Retry-After") == "" {
		return fmt.Errorf("503 without Retry-After")
	}
	return nil
}

func lastContact(t *testing.T, c *cluster, n *node) int64 {
	t.Helper()
	r, err := c.do(t.Context(), 3*time.Second, http.MethodGet, n.url("/v1/services/web/instances"), nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("plain read on %s: %v %d", n.name, err, r.status)
	}
	return lastContactOf(t, r)
}

func lastContactOf(t *testing.T, r reply) int64 {
	t.Helper()
	v, err := strconv.ParseInt(r.header.Get(api.HeaderLastContact), 10, 64)
	if err != nil {
		t.Fatalf("%s %q: %v", api.HeaderLastContact, r.header.Get(api.HeaderLastContact), err)
	}
	return v
}

// register registers one instance without a TTL and fails the test if the
// cluster does not acknowledge it.
func register(t *testing.T, c *cluster, n *node, service, id, addr string) {
	t.Helper()
	retry.Eventually(t, 10*time.Second, func() error {
		r, err := c.do(t.Context(), 5*time.Second, http.MethodPut, n.url("/v1/services/"+service+"/instances/"+id),
			api.RegisterRequest{Address: addr, Port: 80})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("register %s/%s on %s: %d %s", service, id, n.name, r.status, r.apiError())
		}
		return nil
	})
}

// TestBackupRestoresIntoFreshServer takes a backup from a live 3-server
// cluster and restores it into a new single server: the catalogs must be
// the same. A corrupted backup is refused and changes nothing.
func TestBackupRestoresIntoFreshServer(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader(30 * time.Second)
	services := []string{"web", "api", "db", "cache", "queue"}
	for i := range 60 {
		s := services[i%len(services)]
		body := map[string]any{
			"address": fmt.Sprintf("10.1.%d.%d", i/250, i%250), "port": 8000 + i,
			"tags": []string{"v1", "zone-" + strconv.Itoa(i%3)},
			"meta": map[string]string{"build": strconv.Itoa(i)},
		}
		if i%4 == 0 {
			body["ttl"], body["deregister_after"] = "10m", "10m"
		}
		r, err := c.do(t.Context(), 5*time.Second, http.MethodPut, leader.url(fmt.Sprintf("/v1/services/%s/instances/%s-%d", s, s, i)), body)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("register %d: %v %d %s", i, err, r.status, r.apiError())
		}
	}
	for i := 0; i < 60; i += 7 { // deregistered ones must stay gone
		s := services[i%len(services)]
		r, err := c.do(t.Context(), 5*time.Second, http.MethodDelete, leader.url(fmt.Sprintf("/v1/services/%s/instances/%s-%d", s, s, i)), nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("deregister %d: %v %d %s", i, err, r.status, r.apiError())
		}
	}
	c.waitConverged(30*time.Second, services...)
	var follower *node
	for _, n := range c.live() {
		if n != leader {
			follower = n
			break
		}
	}
	backup, err := c.do(t.Context(), 30*time.Second, http.MethodGet, follower.url("/v1/snapshot"), nil)
	if err != nil || backup.status != http.StatusOK {
		t.Fatalf("backup from %s: %v %d %s", follower.name, err, backup.status, backup.apiError())
	}
	want := catalogOf(t, c, leader, services)

	solo := c.start(nodeSpec{name: "solo", octet: 21})
	retry.Eventually(t, 60*time.Second, func() error { return c.ready(t.Context(), solo) })

	corrupt := append([]byte(nil), backup.body...)
	corrupt[len(corrupt)/2] ^= 0xff
	r, err := c.do(t.Context(), 30*time.Second, http.MethodPut, solo.url("/v1/snapshot"), corrupt)
	if err != nil || r.status < 400 || r.status >= 500 {
		t.Fatalf("restore of a corrupted backup: %v %d %s, want a 4xx", err, r.status, r.apiError())
	}
	if got := catalogOf(t, c, solo, services); len(got) != 0 {
		t.Fatalf("a refused restore changed the catalog: %v", got)
	}

	r, err = c.do(t.Context(), 60*time.Second, http.MethodPut, solo.url("/v1/snapshot"), backup.body)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("restore: %v %d %s", err, r.status, r.apiError())
	}
	got := catalogOf(t, c, solo, services)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored catalog differs:\n got %v\nwant %v", got, want)
	}
	t.Logf("backup of %d bytes restored: %d instances in %d services", len(backup.body), countInstances(want), len(want))
}

// catalogOf reads every instance of the services with ?consistent and
// returns them without their indexes (a restore raises every index).
func catalogOf(t *testing.T, c *cluster, n *node, services []string) map[string][]api.Instance {
	t.Helper()
	out := map[string][]api.Instance{}
	for _, s := range services {
		var list api.InstanceList
		r, err := c.do(t.Context(), 5*time.Second, http.MethodGet, n.url("/v1/services/"+s+"/instances?status=any&consistent"), nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("read %s on %s: %v %d %s", s, n.name, err, r.status, r.apiError())
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		for i := range list.Instances {
			list.Instances[i].CreateIndex, list.Instances[i].ModifyIndex = 0, 0
		}
		sort.Slice(list.Instances, func(i, j int) bool { return list.Instances[i].ID < list.Instances[j].ID })
		if len(list.Instances) > 0 {
			out[s] = list.Instances
		}
	}
	return out
}

func countInstances(m map[string][]api.Instance) int {
	n := 0
	for _, l := range m {
		n += len(l)
	}
	return n
}

// TestRollingRestartLosesNothing restarts the servers one at a time while
// clients run, exactly as docs/operations.md ("Rolling restart and upgrade")
// tells operators to: followers first and the leader last; each one stopped
// with SIGTERM (which makes a leader hand over leadership first), started
// again on the same data dir, and the next one only once it answers /readyz
// with 200 and the leader lists every server as a voter.
func TestRollingRestartLosesNothing(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader(30 * time.Second)
	w := startWorkload(c, clients)
	mon := startLeaderMonitor(c)
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			w.stop()
			mon.stop()
		}
	}
	t.Cleanup(stopAll)
	w.waitWrites(t, w.start, 20, 30*time.Second)

	order := []*node{}
	for _, n := range c.live() {
		if n != leader {
			order = append(order, n)
		}
	}
	order = append(order, leader)
	for _, n := range order {
		t.Logf("rolling restart: %s", n.name)
		mustDocker(t, "stop", "--time", "30", n.container) // SIGTERM, then SIGKILL after 30s
		mustDocker(t, "start", n.container)
		retry.Eventually(t, 60*time.Second, func() error { return c.ready(t.Context(), n) })
		c.waitHealthy(60 * time.Second)
	}
	w.waitWrites(t, time.Now(), 20, 30*time.Second)
	stopAll()

	verdict, lost := w.finish(t)
	w.report(t, "rolling restart", mon, verdict, lost)
}

// TestQuorumLossRecoversFromSurvivorBackup follows docs/operations.md
// ("Recovering from losing quorum"): two of three servers are lost for
// good; the survivor has no leader, yet its backup holds everything it
// applied, and restoring it into a new server brings back every
// acknowledged registration.
func TestQuorumLossRecoversFromSurvivorBackup(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitForLeader(30 * time.Second)
	for i := range 20 {
		register(t, c, leader, "web", fmt.Sprintf("web-%d", i), fmt.Sprintf("10.2.0.%d", i+1))
	}
	want := c.waitConverged(30*time.Second, "web")["web"]

	var survivor *node
	for _, n := range c.live() {
		if n != leader && survivor == nil {
			survivor = n
			continue
		}
		mustDocker(t, "rm", "-f", "-v", n.container)
		c.mu.Lock()
		n.removed = true
		c.mu.Unlock()
	}
	retry.Eventually(t, 15*time.Second, func() error {
		r, err := c.do(t.Context(), 5*time.Second, http.MethodPut, survivor.url("/v1/services/web/instances/lost"),
			api.RegisterRequest{Address: "10.2.1.1", Port: 80})
		return want503(r, err)
	})

	backup, err := c.do(t.Context(), 30*time.Second, http.MethodGet, survivor.url("/v1/snapshot"), nil)
	if err != nil || backup.status != http.StatusOK {
		t.Fatalf("backup from the leaderless survivor %s: %v %d %s", survivor.name, err, backup.status, backup.apiError())
	}
	mustDocker(t, "stop", "--time", "30", survivor.container)

	fresh := c.start(nodeSpec{name: "fresh", octet: 31})
	retry.Eventually(t, 60*time.Second, func() error { return c.ready(t.Context(), fresh) })
	r, err := c.do(t.Context(), 60*time.Second, http.MethodPut, fresh.url("/v1/snapshot"), backup.body)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("restore: %v %d %s", err, r.status, r.apiError())
	}
	got, err := c.instancesOn(t.Context(), fresh, "web", true)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffMaps(want, got); d != "" {
		t.Fatalf("recovered catalog differs from the one before quorum loss:%s", d)
	}
}
