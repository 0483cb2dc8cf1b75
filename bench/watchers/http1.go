package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

// This file is the watchers' HTTP/1.1 client: just enough to read a
// response head, skip a Content-Length body, and follow a chunked event
// stream, reading each connection with one read system call per arrival.

// errHeadTooLarge: a response head did not fit in the read buffer.
var errHeadTooLarge = errors.New("response head larger than the read buffer")

// head is what the watchers need from a response head.
type head struct {
	status  int
	length  int64 // Content-Length, or -1
	chunked bool
	index   uint64 // X-Roster-Index, or 0
	close   bool   // Connection: close
}

// parseHead parses a response head ending in "\r\n\r\n" and returns the
// number of bytes it took; 0 when b does not hold a whole head yet.
func parseHead(b []byte) (h head, n int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return head{}, 0, nil
	}
	h.length = -1
	lines := bytes.Split(b[:end], []byte("\r\n"))
	status := lines[0]
	if !bytes.HasPrefix(status, []byte("HTTP/1.")) || len(status) < 12 {
		return head{}, 0, fmt.Errorf("bad status line %q", status)
	}
	if h.status, err = strconv.Atoi(string(status[9:12])); err != nil {
		return head{}, 0, fmt.Errorf("bad status line %q", status)
	}
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return head{}, 0, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.length, err = strconv.ParseInt(string(value), 10, 64); err != nil || h.length < 0 {
				return head{}, 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("X-Roster-Index")):
			if h.index, err = strconv.ParseUint(string(value), 10, 64); err != nil {
				return head{}, 0, fmt.Errorf("bad X-Roster-Index %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			h.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	return h, end + 4, nil
}

// eventParser follows an event stream's body (chunked or not) fed in
// arbitrary pieces and reports the index in every "id:" line.
type eventParser struct {
	chunked bool
	state   int   // one of the chunk states below
	size    int64 // hex size being read, or data bytes left in the chunk
	line    []byte
	long    bool // the current line is longer than we keep: not an id line
	onID    func(uint64)
}

const (
	chunkSize = iota // reading the hex size line
	chunkData        // inside a chunk's data
	chunkEnd         // the CRLF after a chunk's data
	chunkDone        // the last (empty) chunk was read
)

// idLineMax bounds the line prefix kept: "id: " and a 20-digit index.
const idLineMax = 32

// feed consumes one piece of the body. It fails on a malformed stream or
// when the stream ended (the last chunk).
func (p *eventParser) feed(b []byte) error {
	if !p.chunked {
		return p.lines(b)
	}
	for len(b) > 0 {
		switch p.state {
		case chunkSize:
			i := bytes.IndexByte(b, '\n')
			seg := b
			if i >= 0 {
				seg = b[:i]
			}
			for _, c := range seg {
				switch {
				case c >= '0' && c <= '9':
					p.size = p.size<<4 | int64(c-'0')
				case c >= 'a' && c <= 'f':
					p.size = p.size<<4 | int64(c-'a'+10)
				case c >= 'A' && c <= 'F':
					p.size = p.size<<4 | int64(c-'A'+10)
				case c == '\r' || c == ';':
				default:
					return fmt.Errorf("bad chunk size byte %q", c)
				}
			}
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			if p.size == 0 {
				p.state = chunkDone
				return errors.New("event stream ended")
			}
			p.state = chunkData
		case chunkData:
			n := min(int64(len(b)), p.size)
			if err := p.lines(b[:n]); err != nil {
				return err
			}
			b, p.size = b[n:], p.size-n
			if p.size == 0 {
				p.state = chunkEnd
			}
		case chunkEnd:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			p.state = chunkSize
		case chunkDone:
			return errors.New("data after the last chunk")
		}
	}
	return nil
}

// lines scans event-stream bytes for "id: N" lines.
func (p *eventParser) lines(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if !p.long {
			if len(p.line)+len(seg) > idLineMax {
				p.long = true
			} else {
				p.line = append(p.line, seg...)
			}
		}
		if i < 0 {
			return nil
		}
		if !p.long {
			if rest, ok := bytes.CutPrefix(p.line, []byte("id: ")); ok {
				n, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
				if err != nil {
					return fmt.Errorf("event id %q: %w", rest, err)
				}
				p.onID(n)
			}
		}
		p.line, p.long = p.line[:0], false
		b = b[i+1:]
	}
	return nil
}

// readLoop reads a connection through its raw descriptor and hands each
// arrival to handle until handle or the connection fails. The whole loop
// runs inside one RawConn.Read: it reads once per arrival and then waits
// for the poller, whereas a net.Conn read tries (and fails) once more
// before waiting, and a RawConn.Read per arrival would drop the readiness
// noted between two calls. A read that fills buf is followed by another
// without waiting, because the poller signals only new arrivals.
func readLoop(rc syscall.RawConn, buf []byte, handle func([]byte) error) error {
	var herr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.Read(int(fd), buf)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				herr = err
				return true
			case n == 0:
				herr = errors.New("connection closed by the server")
				return true
			}
			if herr = handle(buf[:n]); herr != nil {
				return true
			}
			if n < len(buf) {
				return false
			}
		}
	})
	if err != nil {
		return err
	}
	return herr
}

// headReader collects a response head that may arrive in pieces.
type headReader struct {
	b []byte
}

// add takes one piece; once the head is whole it returns it (done) with
// the body bytes that came after it in this piece.
func (r *headReader) add(p []byte) (h head, body []byte, done bool, err error) {
	if len(r.b) == 0 {
		// Usually the head arrives whole: parse it in place.
		if h, n, err := parseHead(p); err != nil || n > 0 {
			return h, p[n:], err == nil, err
		}
	}
	start := len(r.b)
	r.b = append(r.b, p...)
	h, n, err := parseHead(r.b)
	if err != nil || n == 0 {
		if len(r.b) > 64<<10 {
			return head{}, nil, false, errHeadTooLarge
		}
		return head{}, nil, false, err
	}
	body = p[n-start:]
	r.b = r.b[:0]
	return h, body, true, nil
}
