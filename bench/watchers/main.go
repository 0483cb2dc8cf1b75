// Command watchers measures how fast a change reaches many watchers of one
// service on a running Roster server: it opens N Server-Sent Events streams
// (or N blocking queries looping on ?index), waits until every watcher holds
// the current state, then changes an instance through the HTTP API K times
// and reports, per change and over all changes, the time from the write's
// acknowledgement to each watcher receiving the new index (p50, p90, p99,
// max). It runs as its own process, so the server pays only the server's
// side of every watch.
//
// Each watcher is one TCP connection and one goroutine speaking HTTP/1.1
// directly (no http.Transport, whose two goroutines and 8 KiB of buffers per
// connection would cost the shared CPU more than the server's side does).
//
//	go run ./bench/watchers --addr 127.0.0.1:8500 --mode sse --watchers 10000 --changes 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	addr     string
	mode     string
	service  string
	watchers int
	changes  int
	warmup   int
	seed     int
	parallel int
	gap      time.Duration
	timeout  time.Duration
	pid      int
	procs    int
}

func main() {
	var c config
	fs := flag.NewFlagSet("watchers", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8500", "HTTP address of the Roster server")
	fs.StringVar(&c.mode, "mode", "sse", "how to watch: sse (text/event-stream) or blocking (?index=N&wait=5m)")
	fs.StringVar(&c.service, "service", "bench-watch", "service to watch and change (registered by the tool)")
	fs.IntVar(&c.watchers, "watchers", 10000, "number of concurrent watchers, one connection each")
	fs.IntVar(&c.changes, "changes", 20, "measured changes")
	fs.IntVar(&c.warmup, "warmup", 2, "changes made before measuring")
	fs.IntVar(&c.seed, "instances", 10, "instances the watched service holds")
	fs.IntVar(&c.parallel, "dial-parallel", 64, "connections opened concurrently while connecting")
	fs.DurationVar(&c.gap, "gap", 300*time.Millisecond, "pause after every watcher has a change, before the next (lets blocking watchers ask again)")
	fs.IntVar(&c.pid, "server-pid", 0, "pid of the server (same machine): also report its resident memory per watcher and CPU per change")
	fs.IntVar(&c.procs, "procs", 1, "GOMAXPROCS of the tool: one keeps its reader threads from spinning on the cores the server needs (0: Go's default)")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "how long to wait for connections and for one change to reach every watcher")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if c.mode != "sse" && c.mode != "blocking" {
		fmt.Fprintf(os.Stderr, "watchers: --mode %q: want sse or blocking\n", c.mode)
		os.Exit(2)
	}
	if c.watchers < 1 || c.changes < 1 || c.seed < 1 || c.parallel < 1 {
		fmt.Fprintln(os.Stderr, "watchers: --watchers, --changes, --instances and --dial-parallel must be at least 1")
		os.Exit(2)
	}
	if c.procs > 0 {
		runtime.GOMAXPROCS(c.procs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "watchers: %v\n", err)
		os.Exit(1)
	}
}

// run connects the watchers, makes the changes and prints the figures.
func run(ctx context.Context, c config, out io.Writer) error {
	soft, hard, err := raiseNoFile()
	if err != nil {
		return err
	}
	if need := uint64(c.watchers) + 64; soft < need {
		return fmt.Errorf("open file limit %d (hard %d) is below the %d that %d watchers need: raise it with ulimit -n", soft, hard, need, c.watchers)
	}
	w := newWriter(c.addr, c.service)
	if err := w.seed(ctx, c.seed); err != nil {
		return err
	}
	fmt.Fprintf(out, "mode=%s watchers=%d changes=%d service=%s instances=%d nofile=%d procs=%d\n",
		c.mode, c.watchers, c.changes, c.service, c.seed, soft, runtime.GOMAXPROCS(0))

	var rssBefore uint64
	if c.pid > 0 {
		if rssBefore, err = procRSS(c.pid); err != nil {
			return fmt.Errorf("--server-pid: %w", err)
		}
	}
	f := newFleet(c)
	defer f.close()
	start := time.Now()
	if err := f.connect(ctx, w.index()); err != nil {
		return err
	}
	fmt.Fprintf(out, "connected %d watchers in %s\n", c.watchers, time.Since(start).Round(time.Millisecond))
	if c.pid > 0 {
		rssAfter, err := procRSS(c.pid)
		if err != nil {
			return fmt.Errorf("--server-pid: %w", err)
		}
		fmt.Fprintf(out, "server VmRSS %.1f MiB -> %.1f MiB: %.1f KiB per watcher\n",
			float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20),
			(float64(rssAfter)-float64(rssBefore))/1024/float64(c.watchers))
	}

	var all, fromSend, p99s []time.Duration
	var cpuTool, cpuServer time.Duration
	for k := -c.warmup; k < c.changes; k++ {
		tool0, server0 := selfCPU(), serverCPU(c.pid)
		r, err := f.change(ctx, w)
		if err != nil {
			return fmt.Errorf("change %d: %w", k+c.warmup+1, err)
		}
		if k >= 0 {
			cpuTool += selfCPU() - tool0
			cpuServer += serverCPU(c.pid) - server0
			all = append(all, r.lat...)
			fromSend = append(fromSend, r.fromSend...)
			line := summarize(r.lat) // sorts r.lat
			p99s = append(p99s, percentile(r.lat, 99))
			fmt.Fprintf(out, "change %2d index %d: %s early=%d write=%s\n", k+1, w.index(), line, r.early, ms(r.write))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.gap):
		}
	}
	fmt.Fprintf(out, "all %d deliveries, from the write's acknowledgement: %s\n", len(all), summarize(all))
	fmt.Fprintf(out, "all %d deliveries, from sending the write:         %s\n", len(fromSend), summarize(fromSend))
	// A burst of someone else's load on a shared machine spoils the changes
	// it overlaps; the median change shows the fan-out itself.
	slices.Sort(p99s)
	fmt.Fprintf(out, "p99 of each change: median=%s min=%s max=%s\n",
		ms(p99s[(len(p99s)-1)/2]), ms(p99s[0]), ms(p99s[len(p99s)-1]))
	fmt.Fprintf(out, "CPU per change (until every watcher has it): tool %s", ms(cpuTool/time.Duration(c.changes)))
	if c.pid > 0 {
		fmt.Fprintf(out, ", server %s", ms(cpuServer/time.Duration(c.changes)))
	}
	fmt.Fprintln(out)
	if n := f.failed.Load(); n > 0 {
		return fmt.Errorf("%d watchers failed", n)
	}
	return nil
}

// serverCPU is procCPU of the server, or 0 when its pid is unknown or
// unreadable (the figure is then left out).
func serverCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	d, _ := procCPU(pid)
	return d
}
