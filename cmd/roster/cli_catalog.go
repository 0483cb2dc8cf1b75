package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func runRegister(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("register", "register --service SVC --address ADDR --port N [flags]",
		"Registers an instance. With --ttl the instance must be renewed: --foreground (-f)\n"+
			"keeps heartbeating until SIGINT or SIGTERM and then deregisters it; without it,\n"+
			"renew with `roster heartbeat`. Prints the instance id.", false)
	var spec client.InstanceSpec
	var tags multiFlag
	meta := metaFlag{}
	var fg bool
	var status string
	fs.StringVar(&spec.Service, "service", "", "service name (required)")
	fs.StringVar(&spec.ID, "id", "", "instance id, unique in the catalog (default: SVC-<random>)")
	fs.StringVar(&spec.Address, "address", "", "address the instance serves at, an IP or a host name (required)")
	fs.IntVar(&spec.Port, "port", 0, "port the instance serves at, 1-65535 (required)")
	fs.Var(&tags, "tag", "tag (repeatable)")
	fs.Var(meta, "meta", "metadata key=value (repeatable)")
	fs.IntVar(&spec.Weight, "weight", 0, "balancing weight (default 1)")
	fs.DurationVar(&spec.TTL, "ttl", 0, "lease: renew within this long or turn critical (1s-10m; 0: no lease)")
	fs.DurationVar(&spec.DeregisterAfter, "deregister-after", 0, "remove the instance once critical this long (0: never)")
	fs.StringVar(&status, "status", "", "initial status: passing, warning or critical")
	fs.StringVar(&spec.Output, "output", "", "note shown next to the status")
	fs.BoolVar(&fg, "foreground", false, "keep heartbeating until interrupted, then deregister")
	fs.BoolVar(&fg, "f", false, "shorthand for --foreground")
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	// Missing flags are caught here, before an id is generated and a
	// request sent.
	for _, req := range []struct {
		missing bool
		flag    string
	}{{spec.Service == "", "--service"}, {spec.Address == "", "--address"}, {spec.Port == 0, "--port"}} {
		if req.missing {
			fmt.Fprintf(e.stderr, "roster register: %s is required (-h for help)\n", req.flag)
			return exitUsage
		}
	}
	if spec.Port < 0 || spec.Port > 65535 {
		fmt.Fprintf(e.stderr, "roster register: --port %d: want 1-65535\n", spec.Port)
		return exitUsage
	}
	spec.Tags, spec.Meta, spec.Status = tags, meta, api.Status(status)
	if spec.Status != "" && !spec.Status.Valid() {
		fmt.Fprintf(e.stderr, "roster register: --status %q: want passing, warning or critical\n", status)
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("register", err)
	}
	rctx, cancel := e.withTimeout(ctx)
	reg, err := c.Register(rctx, spec)
	cancel()
	if err != nil {
		_ = c.Close()
		return e.fail("register", err)
	}
	fmt.Fprintln(e.stdout, reg.ID())
	if !fg {
		// Leave the instance registered: Close would deregister it.
		if spec.TTL > 0 {
			fmt.Fprintf(e.stderr, "roster register: renew within %s (roster heartbeat %s %s) or it turns critical; -f renews it for you\n", spec.TTL, reg.Service(), reg.ID())
		}
		return exitOK
	}
	defer c.Close()
	if spec.TTL > 0 {
		fmt.Fprintf(e.stderr, "roster register: keeping %s/%s alive (ttl %s); interrupt to deregister\n", reg.Service(), reg.ID(), spec.TTL)
	} else {
		fmt.Fprintf(e.stderr, "roster register: %s/%s registered; interrupt to deregister\n", reg.Service(), reg.ID())
	}
	select {
	case <-ctx.Done():
		if err := client.DeregisterAll(reg); err != nil {
			return e.fail("register", err)
		}
		fmt.Fprintf(e.stderr, "roster register: deregistered %s/%s\n", reg.Service(), reg.ID())
		return exitOK
	case <-reg.Done():
		return e.fail("register", fmt.Errorf("%s/%s: %w (an operator removed it)", reg.Service(), reg.ID(), reg.Err()))
	}
}

func runDeregister(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("deregister", "deregister SVC ID", "Removes an instance. Its own client stops renewing it (heartbeats answer 410).\nRemoving an unknown instance succeeds.", false)
	pos, code, ok := e.parse(fs, args, 2, 2)
	if !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("deregister", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := c.Deregister(ctx, pos[0], pos[1]); err != nil {
		return e.fail("deregister", err)
	}
	return exitOK
}

func runHeartbeat(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("heartbeat", "heartbeat SVC ID [--status S --output O]", "Renews an instance's lease once, optionally reporting a status.\nExits 3 when the instance is not registered or was deregistered.", false)
	var status, output string
	fs.StringVar(&status, "status", "", "status to report: passing (default), warning or critical")
	fs.StringVar(&output, "output", "", "note shown next to the status")
	pos, code, ok := e.parse(fs, args, 2, 2)
	if !ok {
		return code
	}
	if status != "" && !api.Status(status).Valid() {
		fmt.Fprintf(e.stderr, "roster heartbeat: --status %q: want passing, warning or critical\n", status)
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("heartbeat", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := c.Heartbeat(ctx, pos[0], pos[1], api.Status(status), output); err != nil {
		return e.fail("heartbeat", err)
	}
	return exitOK
}

// queryFlags binds --status and --tag to opts.
func queryFlags(fs *flag.FlagSet, opts *client.QueryOptions) {
	fs.StringVar(&opts.Status, "status", "", "passing, warning, critical or any (default: passing and warning)")
	fs.StringVar(&opts.Tag, "tag", "", "only instances with this tag")
}

func runLookup(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("lookup", "lookup SVC [--status S] [--tag T] [--consistent] [--json]",
		"Lists a service's instances. Exits 3 when none matches.", true)
	var opts client.QueryOptions
	queryFlags(fs, &opts)
	fs.BoolVar(&opts.Consistent, "consistent", false, "linearizable read through the leader")
	pos, code, ok := e.parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("lookup", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	list, err := c.Instances(ctx, pos[0], &opts)
	if err != nil {
		return e.fail("lookup", err)
	}
	if e.jsonOut {
		if code := e.printJSON(list); code != exitOK {
			return code
		}
	} else if len(list.Instances) > 0 {
		printInstances(e, list.Instances)
	}
	if len(list.Instances) == 0 {
		if !e.jsonOut {
			fmt.Fprintf(e.stderr, "roster lookup: no instance of %q matches\n", pos[0])
		}
		return exitNotFound
	}
	return exitOK
}

func printInstances(e *cliEnv, insts []api.Instance) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tPORT\tSTATUS\tWEIGHT\tTTL\tTAGS\tOUTPUT")
	for _, in := range insts {
		ttl := in.TTL
		if ttl == "" {
			ttl = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", in.ID, in.Address, in.Port, in.Status, in.Weight, ttl, strings.Join(in.Tags, ","), in.Output)
	}
	tw.Flush()
}

func runWatch(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("watch", "watch SVC [--status S] [--tag T] [--json]",
		"Prints a service's instances now, then every change as a diff until\n"+
			"interrupted: + added, - removed, ~ changed (status, output, address, tags,\n"+
			"meta, weight, ttl). With --json, one compact JSON instance list per line.\n"+
			"Errors are reported on stderr and the watch carries on from the last index.", true)
	var opts client.QueryOptions
	queryFlags(fs, &opts)
	pos, code, ok := e.parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("watch", err)
	}
	defer c.Close()
	w := c.Watch(ctx, pos[0], &client.WatchOptions{Status: opts.Status, Tag: opts.Tag})
	defer w.Stop()
	var lastErr error
	var shown []api.Instance // the list the output describes so far
	first := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case list, ok := <-w.Updates():
			if !ok {
				return exitOK
			}
			if e.jsonOut {
				b, _ := json.Marshal(list)
				fmt.Fprintf(e.stdout, "%s\n", b)
			} else if first {
				fmt.Fprintf(e.stdout, "%s  index %d  %d instance(s)\n", time.Now().Format(time.TimeOnly), list.Index, len(list.Instances))
				printInstances(e, list.Instances)
				fmt.Fprintln(e.stdout)
			} else if diff := instanceDiff(shown, list.Instances); len(diff) > 0 {
				fmt.Fprintf(e.stdout, "%s  index %d  %d instance(s)\n", time.Now().Format(time.TimeOnly), list.Index, len(list.Instances))
				for _, line := range diff {
					fmt.Fprintln(e.stdout, "  "+line)
				}
			}
			first, shown = false, list.Instances
		case <-tick.C:
			// Say once when the watch starts failing, and when it recovers.
			if err := w.Err(); err != nil && lastErr == nil {
				fmt.Fprintf(e.stderr, "roster watch: %v (retrying; last list kept)\n", err)
			} else if err == nil && lastErr != nil {
				fmt.Fprintln(e.stderr, "roster watch: reconnected")
			}
			lastErr = w.Err()
		case <-ctx.Done():
			return exitOK
		}
	}
}

func runServices(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("services", "services [--json]", "Lists every service with its instance counts by status and its tags.", true)
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("services", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	list, err := c.Services(ctx)
	if err != nil {
		return e.fail("services", err)
	}
	if e.jsonOut {
		return e.printJSON(list)
	}
	sort.Slice(list.Services, func(i, j int) bool { return list.Services[i].Name < list.Services[j].Name })
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tINSTANCES\tPASSING\tWARNING\tCRITICAL\tTAGS")
	for _, s := range list.Services {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Instances, s.Passing, s.Warning, s.Critical, strings.Join(s.Tags, ","))
	}
	tw.Flush()
	return exitOK
}
