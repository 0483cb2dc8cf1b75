package raftstore

import (
	"context"
	"errors"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// benchClients is the number of concurrent writers (design.md, "Performance
// targets": 64 concurrent clients, fsync on).
const benchClients = 64

func setClients(b *testing.B) {
	p := (benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.SetParallelism(p)
}

// BenchmarkRegister3Nodes measures registrations through the store on a
// 3-server loopback cluster with 64 concurrent clients, fsync on. Compare it
// with BenchmarkBareRaftApply (run both with -benchtime=5s).
func BenchmarkRegister3Nodes(b *testing.B) {
	benchRegister(b, false)
}

// BenchmarkRegister3NodesNoCoalesce is the same with one entry per write,
// to show what coalescing buys.
func BenchmarkRegister3NodesNoCoalesce(b *testing.B) {
	benchRegister(b, true)
}

func benchRegister(b *testing.B, noCoalesce bool) {
	benchRegisterWith(b, func(cfg *Config) { cfg.noCoalesce = noCoalesce })
}

func benchRegisterWith(b *testing.B, tune func(*Config)) {
	c := startCluster(b, 3, tune)
	leader := c.waitForLeader()
	ctx := context.Background()
	var seq atomic.Int64
	setClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			in := testInstance(fmt.Sprintf("svc-%d", n%50), fmt.Sprintf("inst-%d", n))
			if _, _, err := leader.Register(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "regs/s")
}

// BenchmarkBareRaftApply is the limit: a 3-server hashicorp/raft cluster
// with the same log store, snapshot store, transport and settings, and an
// FSM that does nothing, applied by 64 concurrent goroutines, each entry the
// size of an encoded registration.
func BenchmarkBareRaftApply(b *testing.B) {
	cmd := registry.EncodeRegister(testInstance("svc-1", "inst-1234567"), time.Now().UnixNano())
	rafts := startBareCluster(b, 3)
	var leader *BareNode
	retry.Eventually(b, 10*time.Second, func() error {
		for _, r := range rafts {
			if r.IsLeader() {
				leader = r
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	if err := leader.Barrier(5 * time.Second); err != nil {
		b.Fatal(err)
	}
	setClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := leader.Apply(cmd, 5*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "regs/s")
}

// startBareCluster starts n bare nodes on free loopback ports, each with
// its own data dir, bootstrapped together.
func startBareCluster(tb testing.TB, n int) []*BareNode {
	var nodes []*BareNode
	var peers []BarePeer
	for i := range n {
		id := fmt.Sprintf("bare-%d", i)
		nd, err := ListenBareNode(id, tb.TempDir(), "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
		peers = append(peers, BarePeer{ID: id, Addr: nd.Addr()})
	}
	for _, nd := range nodes {
		if err := nd.Bootstrap(peers); err != nil {
			tb.Fatal(err)
		}
	}
	return nodes
}

// BenchmarkWriteDepthVsBare measures registrations through the store (the
// default batcher, and its pacing and in-flight variants) against the bare
// Raft loop in alternating half-second rounds (one op = one round of each),
// so that other load on a shared machine hits all alike; ratio-default is
// design.md's "0.8x a bare hashicorp/raft apply loop". Run with
// -benchtime=6x. Writes that meet a leadership change are retried on the
// new leader and not counted (the bare loop's too).
func BenchmarkWriteDepthVsBare(b *testing.B) {
	variants := []struct {
		name string
		tune func(*Config)
	}{
		{"default", func(*Config) {}},
		{"inflight1", func(cfg *Config) { cfg.inFlight = 1 }},
		{"paced2", func(cfg *Config) { cfg.inFlight = 2 }},
		{"unpaced4", func(cfg *Config) { cfg.unpaced = true }},
	}
	clusters := make([]*cluster, len(variants))
	for i, v := range variants {
		clusters[i] = startCluster(b, 3, v.tune)
	}
	rafts := startBareCluster(b, 3)
	bareLeader := func() (leader *BareNode) {
		retry.Eventually(b, 10*time.Second, func() error {
			for _, r := range rafts {
				if r.IsLeader() {
					leader = r
					return nil
				}
			}
			return errors.New("bare cluster has no leader")
		})
		return leader
	}
	var bare atomic.Pointer[BareNode]
	bare.Store(bareLeader())
	cmd := registry.EncodeRegister(testInstance("svc-1", "inst-1234567"), time.Now().UnixNano())
	ctx := context.Background()
	var seq atomic.Int64
	round := func(op func() error) float64 {
		var n atomic.Int64
		stop := time.Now().Add(500 * time.Millisecond)
		var wg sync.WaitGroup
		start := time.Now()
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if op() == nil {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	sums := make([]float64, len(variants))
	var bareSum float64
	b.ResetTimer()
	for range b.N {
		bareSum += round(func() error {
			r := bare.Load()
			err := r.Apply(cmd, 5*time.Second)
			if err != nil {
				bare.CompareAndSwap(r, bareLeader())
			}
			return err
		})
		for i, c := range clusters {
			var leader atomic.Pointer[Store]
			leader.Store(c.waitForLeader())
			sums[i] += round(func() error {
				k := seq.Add(1)
				s := leader.Load()
				_, _, err := s.Register(ctx, testInstance(fmt.Sprintf("svc-%d", k%50), fmt.Sprintf("inst-%d", k)))
				if err != nil {
					leader.CompareAndSwap(s, c.waitForLeader())
				}
				return err
			})
		}
	}
	b.ReportMetric(bareSum/float64(b.N), "bare/s")
	b.ReportMetric(sums[0]/float64(b.N), "regs/s")
	for i, v := range variants {
		b.ReportMetric(sums[i]/bareSum, "ratio-"+v.name)
	}
}
