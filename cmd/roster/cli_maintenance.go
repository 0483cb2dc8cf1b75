package main

import (
	"context"
	"fmt"
)

// runMaintenance is `roster maintenance enable|disable SVC ID [--reason R]`.
func runMaintenance(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("maintenance", "maintenance enable|disable SVC ID [--reason R]",
		"Puts an instance in maintenance (enable) or takes it out (disable). In maintenance it is\n"+
			"critical for discovery (left out of lookups, DNS and Prometheus SD) whatever its\n"+
			"heartbeats say, until disabled; its heartbeats keep renewing its lease.\n"+
			"Exits 3 when the instance is not registered.", true)
	var reason string
	fs.StringVar(&reason, "reason", "", `why, shown with the instance (enable; default "maintenance mode")`)
	pos, code, ok := e.parse(fs, args, 3, 3)
	if !ok {
		return code
	}
	var enable bool
	switch pos[0] {
	case "enable":
		enable = true
	case "disable":
		if reason != "" {
			fmt.Fprintln(e.stderr, "roster maintenance: --reason goes with enable")
			return exitUsage
		}
	default:
		fmt.Fprintf(e.stderr, "roster maintenance: %q: want enable or disable\n", pos[0])
		fs.Usage()
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("maintenance", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	inst, err := c.SetMaintenance(ctx, pos[1], pos[2], enable, reason)
	if err != nil {
		return e.fail("maintenance", err)
	}
	if e.jsonOut {
		return e.printJSON(inst)
	}
	if inst.Maintenance != "" {
		fmt.Fprintf(e.stdout, "%s/%s in maintenance: %s (status %s)\n", inst.Service, inst.ID, inst.Maintenance, inst.Status)
	} else {
		fmt.Fprintf(e.stdout, "%s/%s out of maintenance (status %s)\n", inst.Service, inst.ID, inst.Status)
	}
	return exitOK
}
