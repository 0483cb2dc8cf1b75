package node

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/rosterhq/roster/raftstore"
	"go.uber.org/goleak"
)

// TestFailedStartReleasesWhatItTook: a start that fails after binding some
// ports (here DNS, bound after HTTP, is busy) returns a plain error and
// leaves no port bound and no goroutine running.
func TestFailedStartReleasesWhatItTook(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := probe.Addr().String()
	probe.Close()

	_, err = Start(Config{HTTPAddr: httpAddr, DNSAddr: busy.LocalAddr().String(),
		Store: raftstore.Config{Dev: true, RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0"}})
	if err == nil {
		t.Fatal("start succeeded with the DNS port taken")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %q, want address already in use", err)
	}
	if want := "listen dns " + busy.LocalAddr().String() + ": address already in use"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatalf("the HTTP port was not released: %v", err)
	}
	ln.Close()
}
