package raftstore

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRaftConnectionsMeantForAnotherIDAreRefused: a connection that names
// the server it is meant for reaches Raft only on that server; one from a
// server without preambles (raft's own first byte) passes unchanged.
func TestRaftConnectionsMeantForAnotherIDAreRefused(t *testing.T) {
	layer, err := listenRaft("127.0.0.1:0", "", "new-id")
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	layer.refused = func(want, _ string) { refused = append(refused, want) }
	t.Cleanup(func() { layer.Close() })
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := layer.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raft.ServerAddress(layer.Addr().String())
	for _, tc := range []struct {
		name   string
		target raft.ServerAddress
		ok     bool
	}{
		{"meant for this server", withTarget("new-id", addr), true},
		{"no preamble (an older server)", addr, true},
		{"meant for the old id", withTarget("old-id", addr), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := layer.Dial(tc.target, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if _, err := out.Write([]byte{0, 'x', '\n'}); err != nil {
				t.Fatal(err)
			}
			in := <-accepted
			defer in.Close()
			in.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(in).ReadString('\n')
			if tc.ok {
				if err != nil || line != "\x00x\n" {
					t.Fatalf("read %q, %v; want the bytes sent", line, err)
				}
				return
			}
			if err == nil || err == io.EOF && line != "" {
				t.Fatalf("read %q, %v; want the connection refused", line, err)
			}
		})
	}
	if len(refused) != 1 || refused[0] != "old-id" {
		t.Fatalf("refused %v, want one connection meant for old-id", refused)
	}
}
