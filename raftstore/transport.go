package raftstore

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStreamLayer is raft's stream layer over TCP with an advertised address
// that may differ from the bound one (NAT, containers) and may carry a
// port chosen by the kernel (":0" in tests), which raft.NewTCPTransport
// cannot express.
type tcpStreamLayer struct {
	ln        net.Listener
	advertise *net.TCPAddr
}

func listenRaft(bind, advertiseIP string) (*tcpStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen %s: %w", bind, err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	adv := &net.TCPAddr{IP: bound.IP, Port: bound.Port}
	if advertiseIP != "" {
		adv.IP = net.ParseIP(advertiseIP)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft bind address %s is not advertisable: set an advertise address", bind)
	}
	return &tcpStreamLayer{ln: ln, advertise: adv}, nil
}

// Accept implements net.Listener.
func (t *tcpStreamLayer) Accept() (net.Conn, error) { return t.ln.Accept() }

// Close implements net.Listener.
func (t *tcpStreamLayer) Close() error { return t.ln.Close() }

// Addr implements net.Listener: the advertised address, which raft puts in
// the configuration.
func (t *tcpStreamLayer) Addr() net.Addr { return t.advertise }

// Dial implements raft.StreamLayer.
func (t *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}
