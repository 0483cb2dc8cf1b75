package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/rosterhq/roster/api"
)

// runACL runs `roster acl bootstrap` and `roster acl token create|list|delete`.
func runACL(ctx context.Context, e *cliEnv, args []string) int {
	fs := e.flags("acl", "acl bootstrap | acl token create --rule RULE... [--description D] | acl token list | acl token delete ACCESSOR",
		"bootstrap creates the management token (operator:write, service:write:*) once;\n"+
			"a second bootstrap fails and says which index to write into <data-dir>/acl-bootstrap-reset\n"+
			"on the leader to allow one more. token create prints a new token's secret: it is\n"+
			"shown once and stored only as a hash. Rules: service:read:<name>, service:write:<name>\n"+
			"(a name may end in *), operator:read, operator:write.", true)
	var rules stringList
	fs.Var(&rules, "rule", "a rule of the new token (repeatable)")
	description := fs.String("description", "", "what the new token is for")
	pos, code, ok := e.parse(fs, args, 1, 3)
	if !ok {
		return code
	}
	action := strings.Join(pos[:min(len(pos), 2)], " ")
	if pos[0] == "bootstrap" {
		action = "bootstrap"
	}
	wantArgs := map[string]int{"bootstrap": 1, "token create": 2, "token list": 2, "token delete": 3}
	if n, known := wantArgs[action]; !known || n != len(pos) {
		fmt.Fprintf(e.stderr, "roster acl: want bootstrap, token create, token list or token delete ACCESSOR\n")
		return exitUsage
	}
	c, err := e.client()
	if err != nil {
		return e.fail("acl", err)
	}
	defer c.Close()
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	switch action {
	case "bootstrap", "token create":
		var tok *api.ACLToken
		if action == "bootstrap" {
			tok, err = c.ACLBootstrap(ctx)
		} else {
			if len(rules) == 0 {
				fmt.Fprintln(e.stderr, "roster acl token create: give at least one --rule")
				return exitUsage
			}
			tok, err = c.ACLCreateToken(ctx, *description, rules)
		}
		if err != nil {
			return e.fail("acl "+action, err)
		}
		if e.jsonOut {
			return e.printJSON(tok)
		}
		fmt.Fprintf(e.stdout, "accessor: %s\nsecret:   %s\nrules:    %s\n", tok.Accessor, tok.Secret, strings.Join(tok.Rules, " "))
		fmt.Fprintln(e.stderr, "roster acl: the secret is shown only now; keep it safe")
	case "token list":
		toks, err := c.ACLTokens(ctx)
		if err != nil {
			return e.fail("acl token list", err)
		}
		if e.jsonOut {
			return e.printJSON(toks)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESSOR\tDESCRIPTION\tRULES")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Accessor, t.Description, strings.Join(t.Rules, " "))
		}
		tw.Flush()
	case "token delete":
		if err := c.ACLDeleteToken(ctx, pos[2]); err != nil {
			return e.fail("acl token delete", err)
		}
		fmt.Fprintf(e.stderr, "roster acl: deleted %s\n", pos[2])
	}
	return exitOK
}
