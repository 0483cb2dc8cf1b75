package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/internal/listen"
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
	// localID is this server's Raft id: a connection whose preamble names
	// another id is refused (see targetPreamble).
	localID string
	// refused, when set, is told of each refused connection.
	refused func(want, from string)
	// tlsServer and tlsClient, when set, make every connection mutual TLS
	// (see Config.PeerTLS); the preamble then travels inside TLS.
	tlsServer, tlsClient *tls.Config
	// tlsRefused, when set, is told of each failed TLS handshake.
	tlsRefused func(from string, err error)

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

func listenRaft(bind, advertiseIP, localID string) (*tcpStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, listen.Error("raft", bind, err)
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
	return &tcpStreamLayer{ln: ln, advertise: adv, localID: localID, conns: map[*trackedConn]struct{}{}}, nil
}

// Accept implements net.Listener.
func (t *tcpStreamLayer) Accept() (net.Conn, error) {
	c, err := t.ln.Accept()
	if err != nil {
		return nil, err
	}
	if t.tlsServer != nil {
		c = tls.Server(c, t.tlsServer)
	}
	return t.track(&checkedConn{Conn: c, layer: t})
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
// The address may carry the id of the server meant ("host:port#id", see
// idTransport): it is sent first, so that a process that now holds that
// address under another id (a wiped server) refuses the connection instead
// of answering in the old server's place.
func (t *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	addr, target := splitTarget(address)
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if t.tlsClient != nil {
		tc := tls.Client(c, t.tlsClient)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("raft tls handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if target != "" {
		c.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := c.Write(targetPreamble(target)); err != nil {
			c.Close()
			return nil, err
		}
		c.SetWriteDeadline(time.Time{})
	}
	return t.track(c)
}

// preambleMagic starts a connection that names its target server. Raft's
// network transport starts every message with an RPC type byte (0–4), so
// a connection from a server without preambles is told apart and accepted.
const preambleMagic = 0xA5

func targetPreamble(id string) []byte {
	return append([]byte{preambleMagic, byte(len(id))}, id...)
}

// splitTarget splits "host:port#id" into the address and the id.
func splitTarget(a raft.ServerAddress) (addr, id string) {
	s := string(a)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '#' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// withTarget adds the id of the server meant to its address.
func withTarget(id raft.ServerID, target raft.ServerAddress) raft.ServerAddress {
	if id == "" {
		return target
	}
	return target + "#" + raft.ServerAddress(id)
}

// errWrongTarget refuses a connection meant for another server id.
var errWrongTarget = errors.New("raft connection meant for another server id")

// checkedConn reads an accepted connection's preamble before anything else
// and refuses one meant for another server.
type checkedConn struct {
	net.Conn
	layer   *tcpStreamLayer
	checked bool
	pending []byte
}

// Read implements net.Conn.
func (c *checkedConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		if err := c.check(); err != nil {
			c.Conn.Close()
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handshakeTimeout bounds an accepted connection's TLS handshake, so a peer
// that connects and says nothing does not hold a goroutine.
const handshakeTimeout = 10 * time.Second

func (c *checkedConn) check() error {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			if c.layer.tlsRefused != nil {
				c.layer.tlsRefused(c.Conn.RemoteAddr().String(), err)
			}
			return fmt.Errorf("raft tls handshake from %s: %w", c.Conn.RemoteAddr(), err)
		}
	}
	var b [1]byte
	if _, err := io.ReadFull(c.Conn, b[:]); err != nil {
		return err
	}
	if b[0] != preambleMagic {
		c.pending = []byte{b[0]}
		return nil
	}
	if _, err := io.ReadFull(c.Conn, b[:]); err != nil {
		return err
	}
	id := make([]byte, b[0])
	if _, err := io.ReadFull(c.Conn, id); err != nil {
		return err
	}
	if string(id) != c.layer.localID {
		if c.layer.refused != nil {
			c.layer.refused(string(id), c.Conn.RemoteAddr().String())
		}
		return fmt.Errorf("%w: %s (this server is %s)", errWrongTarget, id, c.layer.localID)
	}
	return nil
}
