package httpapi

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connections are capped below the process's file limit (issue #15), so
// that a flood of slow or parked clients meets a 429 with Retry-After
// instead of exhausting the descriptors Raft, gossip, bbolt and DNS need
// (and making even /livez unreachable).
const (
	// The connection cap leaves of the file limit, for everything else
	// (Raft and its connection pool, gossip, bbolt files, DNS sockets,
	// forwarding to the leader, logs), a quarter of the limit: at least
	// minConnHeadroom and at most maxConnHeadroom descriptors.
	minConnHeadroom = 128
	maxConnHeadroom = 1024
)

// ConnCap derives the HTTP connection cap from the file limit (16 at the
// least, for a limit too small to share).
func ConnCap(fileLimit uint64) int {
	headroom := min(max(fileLimit/4, minConnHeadroom), maxConnHeadroom)
	if fileLimit <= headroom+16 {
		return 16
	}
	return int(min(fileLimit-headroom, 1<<30))
}

// WatcherCap is the most watchers that fit under a connection cap: each
// blocking query or event stream holds a connection, and a quarter of the
// connections stays for everything else, so a flood of watchers meets the
// watcher limit's 429 before the connection cap.
func WatcherCap(connCap int) int { return max(connCap*3/4, 1) }

// tooManyConns is the whole answer to a connection over the cap: written
// straight on the socket, without reading the request.
var tooManyConns = func() []byte {
	body := `{"error":"too many connections to this server; retry after the Retry-After delay","code":"too_many"}`
	return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// LimitListener caps the connections open at once from ln at max. A
// connection over the cap is answered 429 with Retry-After and closed at
// once, so it costs a descriptor for microseconds; it never waits in the
// accept queue. rejected counts them (for a metric; may be nil).
func LimitListener(ln net.Listener, max int, log *slog.Logger, rejected func()) net.Listener {
	return &limitListener{Listener: ln, max: int64(max), log: log, rejected: rejected}
}

type limitListener struct {
	net.Listener
	max      int64
	open     atomic.Int64
	log      *slog.Logger
	rejected func()
	warned   atomic.Int64 // unix seconds of the last warning
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refuse(c)
	}
}

func (l *limitListener) refuse(c net.Conn) {
	if l.rejected != nil {
		l.rejected()
	}
	if now := time.Now().Unix(); l.warned.Swap(now) != now && l.log != nil {
		l.log.Warn("connection refused with 429: at the connection cap", "max_conns", l.max, "remote", c.RemoteAddr().String())
	}
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(tooManyConns)
	_ = c.Close()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
