package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func runMembers(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("members", "members [--json]", "Lists the servers as gossip sees them, with their Raft roles and, as the leader\n"+
		"judges them, their health (why not, last contact, last index) and how many more\nservers the cluster can lose.", true)
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("members", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	list, err := c.Members(ctx)
	if err != nil {
		return e.fail("members", err)
	}
	// The health view comes from the leader; without one the members are
	// still worth listing.
	health, herr := c.Health(ctx)
	if e.jsonOut {
		return e.printJSON(struct {
			*api.MemberList
			Health *api.ClusterHealth `json:"health,omitempty"`
		}{list, health})
	}
	byID := map[string]api.ServerHealth{}
	if health != nil {
		for _, h := range health.Servers {
			byID[h.ID] = h
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tRAFT ROLE\tHEALTH\tLAST CONTACT\tLAST INDEX\tHTTP\tRAFT\tGOSSIP\tVERSION\tID")
	for _, m := range list.Members {
		hl, contact, index := "-", "-", "-"
		if h, ok := byID[m.ID]; ok {
			hl, contact, index = "healthy", h.LastContact, fmt.Sprint(h.LastIndex)
			if !h.Healthy {
				hl = "unhealthy: " + h.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.State, m.RaftRole, hl, contact, index,
			m.HTTPAddr, m.RaftAddr, m.GossipAddr, m.Version, m.ID)
	}
	tw.Flush()
	switch {
	case health != nil:
		can := "no"
		if health.CanLoseOne {
			can = "yes"
		}
		fmt.Fprintf(e.stdout, "\nfailure tolerance: %d (can lose one more server: %s)\n", health.FailureTolerance, can)
	case herr != nil:
		fmt.Fprintf(e.stdout, "\nhealth: not available (%v)\n", herr)
	}
	return exitOK
}

func runStatus(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("status", "status [--json]",
		"Shows the leader, the Raft configuration and whether the server at --addr is ready\n"+
			"(knows a leader, heard from it recently, caught up). Exits 4 when it is not ready.", true)
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("status", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return e.fail("status", err)
	}
	ready, readyMsg := st.Ready == nil, "ready"
	if !ready {
		readyMsg = st.Ready.Error()
	}
	code := exitOK
	if !ready || !st.Leader.Known {
		code = exitUnavailable
	}
	if e.jsonOut {
		out := struct {
			Server      string `json:"server"`
			Ready       bool   `json:"ready"`
			ReadyReason string `json:"ready_reason,omitempty"`
			Leader      any    `json:"leader"`
			Raft        any    `json:"raft"`
		}{Server: st.Server, Ready: ready, Leader: st.Leader, Raft: st.Raft}
		if !ready {
			out.ReadyReason = readyMsg
		}
		if c := e.printJSON(out); c != exitOK {
			return c
		}
		return code
	}
	leader := "none known"
	if st.Leader.Known {
		leader = fmt.Sprintf("%s (raft %s, http %s)", st.Leader.ID, st.Leader.RaftAddr, st.Leader.HTTPAddr)
	}
	fmt.Fprintf(e.stdout, "Server:        %s (%s, term %d)\n", st.Server, st.Raft.State, st.Raft.Term)
	fmt.Fprintf(e.stdout, "Leader:        %s\n", leader)
	fmt.Fprintf(e.stdout, "Ready:         %s\n", readyMsg)
	fmt.Fprintf(e.stdout, "Index:         commit %d, applied %d, last contact %s\n", st.Raft.CommitIndex, st.Raft.AppliedIndex, st.Raft.LastContact)
	fmt.Fprintln(e.stdout, "Raft configuration:")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tADDRESS\tSUFFRAGE\tLEADER")
	for _, s := range st.Raft.Servers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%v\n", s.ID, s.Address, s.Suffrage, s.Leader)
	}
	tw.Flush()
	return code
}

func runLeases(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("leases", "leases [--json]", "Shows the leader's lease table: leases held, expiries pending, and whether\nmass-expiry protection paused expiries and why.", true)
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("leases", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	ls, err := c.Leases(ctx)
	if err != nil {
		return e.fail("leases", err)
	}
	if e.jsonOut {
		return e.printJSON(ls)
	}
	fmt.Fprintf(e.stdout, "Leader:   %v (armed %v)\n", ls.Leader, ls.Armed)
	fmt.Fprintf(e.stdout, "Leases:   %d held, %d pending expiry\n", ls.Leases, ls.Pending)
	fmt.Fprintf(e.stdout, "Expired:  %d total, %d reaped\n", ls.Expired, ls.Reaped)
	if ls.Paused {
		fmt.Fprintf(e.stdout, "Paused:   since %s: %s\n", ls.PausedSince, ls.PauseReason)
	} else {
		fmt.Fprintln(e.stdout, "Paused:   no")
	}
	return exitOK
}

func runSnapshot(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("snapshot", "snapshot save FILE | snapshot restore FILE",
		"save downloads a consistent point-in-time backup of the catalog to FILE\n"+
			"(written to FILE.part and renamed when complete). restore replaces the\n"+
			"cluster's catalog with the backup in FILE.", false)
	pos, code, ok := e.parse(fs, args, 2, 2)
	if !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("snapshot", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	switch pos[0] {
	case "save":
		p := startProgress(e.stderr, "roster snapshot: saving", 0)
		n, err := snapshotSave(ctx, c, pos[1], p)
		summary := p.finish(n)
		if err != nil {
			return e.fail("snapshot save", err)
		}
		fmt.Fprintf(e.stderr, "roster snapshot: saved %d bytes to %s: %s\n", n, pos[1], summary)
		return exitOK
	case "restore":
		f, err := os.Open(pos[1])
		if err != nil {
			return e.fail("snapshot restore", err)
		}
		defer f.Close()
		var size int64
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		p := startProgress(e.stderr, "roster snapshot: restoring", size)
		err = c.SnapshotRestore(ctx, io.TeeReader(f, p))
		summary := p.finish(p.n.Load())
		if err != nil {
			return e.fail("snapshot restore", err)
		}
		fmt.Fprintf(e.stderr, "roster snapshot: restored %s: %s\n", pos[1], summary)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "roster snapshot: unknown action %q (want save or restore)\n", pos[0])
	return exitUsage
}

// snapshotSave writes the backup next to path and renames it into place, so
// that a failed download never leaves a truncated backup under the name.
func snapshotSave(ctx context.Context, c *client.Client, path string, counted io.Writer) (int64, error) {
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := c.SnapshotSave(ctx, io.MultiWriter(f, counted))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return n, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}

func runLeave(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("leave", "leave [--addr SERVER]",
		"Makes the server at --addr (the first address) leave the cluster gracefully:\n"+
			"it hands over leadership if it leads and is removed from the Raft\n"+
			"configuration. The request is never sent to another server.", false)
	if _, code, ok := e.parse(fs, args, 0, 0); !ok {
		return code
	}
	c, err := e.client()
	if err != nil {
		return e.fail("leave", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := c.Leave(ctx); err != nil {
		return e.fail("leave", err)
	}
	fmt.Fprintf(e.stderr, "roster leave: %s is leaving the cluster\n", c.Addrs()[0])
	return exitOK
}

func runRaft(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("raft", "raft remove-peer ID",
		"remove-peer removes a server that cannot leave by itself (dead, wiped) from the\n"+
			"Raft configuration, by its Raft id (see `roster status`).", false)
	pos, code, ok := e.parse(fs, args, 2, 2)
	if !ok {
		return code
	}
	if pos[0] != "remove-peer" {
		fmt.Fprintf(e.stderr, "roster raft: unknown action %q (want remove-peer)\n", pos[0])
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("raft remove-peer", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := c.RemovePeer(ctx, pos[1]); err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return e.fail("raft remove-peer", fmt.Errorf("no server %q in the Raft configuration: %w", pos[1], err))
		}
		return e.fail("raft remove-peer", err)
	}
	fmt.Fprintf(e.stderr, "roster raft: removed %s\n", pos[1])
	return exitOK
}
