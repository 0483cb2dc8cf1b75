package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/rosterhq/roster/api"
)

// runKeyring runs `roster keyring list|install|use|remove`: serf's gossip
// key manager, cluster-wide.
func runKeyring(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("keyring", "keyring list | keyring install|use|remove KEY",
		"Rotates the gossip key without restarts: install the new key (every server\n"+
			"accepts it), use it (every server sends with it), then remove the old one.\n"+
			"Each server keeps its keyring in <data-dir>/serf/local.keyring.", true)
	pos, code, ok := e.parse(fs, args, 1, 2)
	if !ok {
		return code
	}
	op := pos[0]
	if (op == "list") != (len(pos) == 1) || (op != "list" && op != "install" && op != "use" && op != "remove") {
		fmt.Fprintln(e.stderr, "roster keyring: want list, or install, use or remove with a KEY")
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("keyring", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	var kr *api.Keyring
	if op == "list" {
		kr, err = c.GossipKeyring(ctx)
	} else {
		kr, err = c.GossipKeyringChange(ctx, op, pos[1])
	}
	if err != nil {
		return e.fail("keyring "+op, err)
	}
	if e.jsonOut {
		return e.printJSON(kr)
	}
	keys := make([]string, 0, len(kr.Keys))
	for k := range kr.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "%s  installed on %d/%d, primary on %d\n", k, kr.Keys[k], kr.Servers, kr.PrimaryKeys[k])
	}
	return exitOK
}
