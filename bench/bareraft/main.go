// Command bareraft is the limit Roster's registrations are measured against:
// a 3-server hashicorp/raft cluster built exactly as raftstore builds its
// own (raft-boltdb/v2 with fsync, the log cache, file snapshots, the TCP
// transport on loopback, the same Raft settings; raftstore.BareNode) with a
// state machine that does nothing. The leader applies entries the size of
// an encoded registration from a fixed number of goroutines (64 in flight by
// default) for a while, and prints the rate and the applies' latency.
//
// Each node runs in its own process, as Roster's servers and etcd's members
// do, so that each has its own Go runtime, scheduler and garbage collector
// and none of the three systems compared gets an advantage from sharing
// one. The command starts the processes itself (re-executing its own binary
// with -node), each on a free loopback port that it reports back, hands
// every node the list of peers, waits for the leader's result and stops
// them. Any failed apply fails the run: a rate of errors is no rate.
//
// Usage: bareraft [-duration 5s] [-clients 64] [-nodes 3] [-dir DIR]
//
// It prints one line:
//
//	bare raft: 7046 applies/s p50 8.10 ms p99 20.30 ms (3 processes, 64 in flight, 78-byte entries, 35230 in 5.0 s)
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/raftstore"
	"github.com/rosterhq/roster/registry"
)

// Lines between the parent and a node: a node prints its Raft address, the
// parent answers with every peer's, and the leader prints its result.
const (
	addrPrefix   = "ADDR "
	resultPrefix = "RESULT "
)

// applyTimeout bounds one apply; a slower one counts as an error.
const applyTimeout = 10 * time.Second

func main() {
	log.SetFlags(0)
	duration := flag.Duration("duration", 5*time.Second, "how long the leader applies")
	clients := flag.Int("clients", 64, "applies in flight (goroutines applying one entry at a time)")
	nodes := flag.Int("nodes", 3, "servers in the cluster")
	dir := flag.String("dir", "", "directory for the servers' data (default: a new temporary one, removed afterwards)")
	node := flag.Int("node", -1, "internal: run as server number N of the cluster")
	flag.Parse()
	if *node >= 0 {
		if err := runNode(*node, *dir, *duration, *clients); err != nil {
			log.Fatalf("bareraft node %d: %v", *node, err)
		}
		return
	}
	if err := runParent(*nodes, *dir, *duration+time.Minute); err != nil {
		log.Fatalf("bareraft: %v", err)
	}
}

// entry is an encoded registration like the ones scripts/bench-register.sh
// sends over HTTP (its body, service name and id lengths).
func entry() []byte {
	return registry.EncodeRegister(registry.Instance{
		Service: "bench-42", ID: "i-123456789-r1-123456", Address: "10.1.0.1", Port: 8080,
		Tags: []string{"bench"}, TTL: 10 * time.Minute, Status: api.StatusPassing,
	}, time.Now().UnixNano())
}

// nodeID names server i.
func nodeID(i int) string { return fmt.Sprintf("bare-%d", i) }

// runParent starts one process per node, tells each the others' addresses,
// waits for the leader's result line and stops them all.
func runParent(nodes int, dir string, timeout time.Duration) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "bareraft-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	addrs := make(chan raftstore.BarePeer, nodes)
	results := make(chan string, nodes)
	exited := make(chan error, nodes)
	var procs []*os.Process
	var stdins []io.WriteCloser
	defer func() {
		for _, in := range stdins {
			in.Close() // a node still waiting for its peers stops
		}
		for _, p := range procs {
			p.Signal(syscall.SIGTERM)
		}
		for range procs {
			<-exited
		}
	}()
	for i := range nodes {
		cmd := exec.Command(self, append([]string{"-node", strconv.Itoa(i), "-dir", dir}, passedFlags()...)...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		procs = append(procs, cmd.Process)
		stdins = append(stdins, in)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if a, ok := strings.CutPrefix(sc.Text(), addrPrefix); ok {
					addrs <- raftstore.BarePeer{ID: nodeID(i), Addr: a}
				} else if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
					results <- line
				}
			}
			err := cmd.Wait()
			if err != nil {
				err = fmt.Errorf("node %d: %w", i, err)
			}
			exited <- err
		}()
	}
	fail := func(err error) error {
		procs = slices.DeleteFunc(procs, func(p *os.Process) bool { return p.Signal(syscall.Signal(0)) != nil })
		return fmt.Errorf("a node stopped before the leader reported (%v)", err)
	}
	deadline := time.After(timeout)
	peers := make([]raftstore.BarePeer, nodes)
	for range nodes {
		select {
		case p := <-addrs:
			i, _ := strconv.Atoi(strings.TrimPrefix(p.ID, "bare-"))
			peers[i] = p
		case err := <-exited:
			return fail(err)
		case <-deadline:
			return fmt.Errorf("the nodes did not all listen within %v", timeout)
		}
	}
	var list []string
	for _, p := range peers {
		list = append(list, p.ID+"="+p.Addr)
	}
	for _, in := range stdins {
		if _, err := fmt.Fprintln(in, strings.Join(list, " ")); err != nil {
			return fmt.Errorf("send peers: %w", err)
		}
	}
	select {
	case line := <-results:
		fmt.Println(line)
		return nil
	case err := <-exited:
		return fail(err)
	case s := <-sig:
		return fmt.Errorf("stopped by %v", s)
	case <-deadline:
		return fmt.Errorf("no result within %v: no leader, or the leader's applies hang", timeout)
	}
}

// passedFlags repeats the flags given on the command line to a node.
func passedFlags() []string {
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "node" && f.Name != "dir" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	return args
}

// runNode runs server i until it is told to stop: it listens on a free
// port, reports it, reads the peers from its standard input and starts
// Raft; if it becomes the leader, it applies for duration from clients
// goroutines and prints the result.
func runNode(i int, dir string, duration time.Duration, clients int) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	n, err := raftstore.ListenBareNode(nodeID(i), filepath.Join(dir, nodeID(i)), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Println(addrPrefix + n.Addr())
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read peers: %w", err)
	}
	var peers []raftstore.BarePeer
	for _, f := range strings.Fields(line) {
		id, addr, _ := strings.Cut(f, "=")
		peers = append(peers, raftstore.BarePeer{ID: id, Addr: addr})
	}
	if err := n.Bootstrap(peers); err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !n.IsLeader() {
		select {
		case <-stop:
			return nil
		case <-deadline:
			// Another node leads (or none does: the parent times out).
			<-stop
			return nil
		case <-tick.C:
		}
	}
	if err := n.Barrier(applyTimeout); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	result, err := load(n, duration, clients, len(peers))
	if err != nil {
		return err
	}
	fmt.Println(resultPrefix + result)
	<-stop
	return nil
}

// load applies from clients goroutines for duration and describes the rate
// and latency; any failed apply is an error.
func load(n *raftstore.BareNode, duration time.Duration, clients, nodes int) (string, error) {
	cmd := entry()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(duration)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var err error
			for time.Now().Before(end) {
				t := time.Now()
				if err = n.Apply(cmd, applyTimeout); err != nil {
					break
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		return "", fmt.Errorf("%d of %d appliers failed, first: %w", len(errs), clients, errs[0])
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	return fmt.Sprintf("bare raft: %.0f applies/s p50 %.2f ms p99 %.2f ms (%d processes, %d in flight, %d-byte entries, %d in %.1f s)",
		float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99), nodes, clients, len(cmd), len(lat), elapsed.Seconds()), nil
}
