package raftstore

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStreamLayer is raft's stream layer over TCP with an advertised address
// that may differ from the bound one (NAT, containers) and may carry a
// port chosen by the kernel (":0" in tests), which raft.NewTCPTransport
// cannot express. It tracks its connections and closes them all on Close:
// raft's transport leaves accepted connections to the remote end, which
// would keep their handler goroutines alive after shutdown.
type tcpStreamLayer struct {
	ln        net.Listener
	advertise *net.TCPAddr

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

type trackedConn struct {
	net.Conn
	layer *tcpStreamLayer
	once  sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.layer.mu.Lock()
		delete(c.layer.conns, c)
		c.layer.mu.Unlock()
	})
	return c.Conn.Close()
}

func (t *tcpStreamLayer) track(c net.Conn) (net.Conn, error) {
	tc := &trackedConn{Conn: c, layer: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	t.conns[tc] = struct{}{}
	return tc, nil
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
	return &tcpStreamLayer{ln: ln, advertise: adv, conns: map[*trackedConn]struct{}{}}, nil
}

// Accept implements net.Listener.
func (t *tcpStreamLayer) Accept() (net.Conn, error) {
	c, err := t.ln.Accept()
	if err != nil {
		return nil, err
	}
	return t.track(c)
}

// Close implements net.Listener: it also closes every open connection.
func (t *tcpStreamLayer) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = map[*trackedConn]struct{}{}
	t.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return t.ln.Close()
}

// Addr implements net.Listener: the advertised address, which raft puts in
// the configuration.
func (t *tcpStreamLayer) Addr() net.Addr { return t.advertise }

// Dial implements raft.StreamLayer.
func (t *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	return t.track(c)
}
