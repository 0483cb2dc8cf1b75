package compat

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	consul "github.com/hashicorp/consul/api"

	"github.com/rosterhq/roster/node"
)

// consulClient is the official Consul Go client pointed at n.
func consulClient(t *testing.T, n *node.Node) *consul.Client {
	t.Helper()
	c, err := consul.NewClient(&consul.Config{Address: n.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// needTool returns the path of an external program, skipping the test
// when it is absent, except under CI=true, where its absence fails.
func needTool(t *testing.T, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%s): %v", name, why, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
