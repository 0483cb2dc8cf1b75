package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
)

func closeNode(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Close(ctx)
}

// startDev starts a single in-memory server and waits until it is ready.
func startDev(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.Start(node.Config{
		Node: "dev", Dev: true,
		HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeNode(n) })
	retry.Eventually(t, 10*time.Second, func() error { return n.Store().Ready() })
	return n
}

// startCluster starts size servers that form one Raft cluster and waits
// until every one of them is ready.
func startCluster(t *testing.T, size int) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := range size {
		cfg := node.Config{
			Node: fmt.Sprintf("s%d", i), DataDir: t.TempDir(), BootstrapExpect: size,
			HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		}
		if i > 0 {
			cfg.Join = []string{nodes[0].GossipAddr()}
		}
		n, err := node.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeNode(n) })
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		retry.Eventually(t, 20*time.Second, func() error { return n.Store().Ready() })
	}
	return nodes
}

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
