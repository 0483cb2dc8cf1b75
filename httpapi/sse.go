package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/registry"
)

// sseEvent is the event name of every instance-list event.
const sseEvent = "instances"

// serveSSE streams a service's instance list as Server-Sent Events: the
// current list at once (unless Last-Event-ID already names its index), then
// the list after every change, always the latest state (a slow consumer
// skips intermediate states instead of queueing them), with keep-alive
// comments while idle. Each event is
//
//	event: instances
//	id: <index>
//	data: <the same JSON as GET /v1/services/{service}/instances>
//
// The stream ends cleanly when the client goes, the handler closes, or a
// write blocks for longer than WriteTimeout.
//
// A change wakes every stream of the service at once, so the work per woken
// stream is kept to the write itself: the channel and the view are taken
// without locks, the event's data is the view's cached encoding written
// straight into the connection's buffer (no per-stream copy or encoding,
// unless a tag filter needs one), the buffer is flushed once per event, and
// the write deadline is moved by the keep-alive ticker, not per event.
func (h *Handler) serveSSE(w http.ResponseWriter, r *http.Request, name string, q listQuery) {
	release, err := h.acquireWatch()
	if err != nil {
		h.writeError(w, err)
		return
	}
	defer release()
	s := sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout + h.cfg.SSEKeepAlive}
	s.armDeadline()
	defer s.clearDeadline()

	cat := h.store.Catalog()
	ch := cat.WatchService(name)
	view := cat.Service(name)

	hdr := w.Header()
	hdr["Content-Type"] = eventStreamHdr
	hdr["Cache-Control"] = noCacheHdr
	hdr["X-Accel-Buffering"] = noBufferingHdr
	h.setReadHeaders(hdr, view.Index)

	// A client resuming at the current index already holds this state: it
	// gets the headers now and the next change as its first event.
	last, resumed := lastEventID(r)
	pending := !resumed || last != view.Index
	if !pending && s.flush() != nil {
		return
	}
	sent := view.Index

	// One channel says the stream is over, the client gone or the handler
	// closing: a parked stream waits on three channels, not four, and only
	// one of them (the service's) is shared with the other streams.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(h.baseCtx, cancel)
	defer stop()
	done := ctx.Done()
	keepAlive := time.NewTicker(h.cfg.SSEKeepAlive)
	defer keepAlive.Stop()
	for {
		if pending {
			if s.event(view, q) != nil {
				return
			}
			sent, pending = view.Index, false
		}
		select {
		case <-ch:
			ch = cat.WatchService(name)
			view = cat.Service(name)
			pending = view.Index != sent
		case <-keepAlive.C:
			s.armDeadline()
			if s.write(keepAliveComment) != nil || s.flush() != nil {
				return
			}
		case <-done:
			return
		}
	}
}

var (
	keepAliveComment = []byte(": keep-alive\n\n")
	eventHead        = []byte("event: " + sseEvent + "\nid: ")
	dataPrefix       = []byte("data: ")
	eventEnd         = []byte("\n\n")
	lineBreak        = []byte("\ndata: ")
)

// sseWriter writes one stream's events. Its write deadline is set when the
// stream starts and at every keep-alive tick to WriteTimeout+SSEKeepAlive
// ahead, so any write gets at least WriteTimeout (a tick comes at least
// every SSEKeepAlive) without a deadline update, and a clock read, per
// event.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	head    [64]byte // scratch for an event's first lines
}

// event writes one event carrying view's list under q's filters and
// flushes it. Each line of the JSON becomes a data: line (encodings are one
// line, but the SSE framing must not depend on it). The list is written
// part by part, as the view keeps it: a large service's list is never
// copied whole.
func (s *sseWriter) event(view *registry.ServiceView, q listQuery) error {
	list := listBody(view, q)
	// The head and the first "data: " go in one write: every write to the
	// response costs a call through net/http's layers.
	buf := append(s.head[:0], eventHead...)
	buf = strconv.AppendUint(buf, view.Index, 10)
	buf = append(buf, '\n')
	buf = append(buf, dataPrefix...)
	if err := s.write(buf); err != nil {
		return err
	}
	if oneLine(list.Parts) {
		if _, err := list.WriteTo(s.w); err != nil {
			return err
		}
		if err := s.write(eventEnd); err != nil {
			return err
		}
		return s.flush()
	}
	for i, data := range list.Parts {
		if i == len(list.Parts)-1 {
			data = bytes.TrimRight(data, "\n")
		}
		for {
			line, rest, more := bytes.Cut(data, []byte{'\n'})
			if err := s.write(line); err != nil {
				return err
			}
			if !more {
				break
			}
			if err := s.write(lineBreak); err != nil {
				return err
			}
			data = rest
		}
	}
	if err := s.write(eventEnd); err != nil {
		return err
	}
	return s.flush()
}

// oneLine reports whether parts hold no line break (what the encodings
// always are), so they can go out as they are.
func oneLine(parts [][]byte) bool {
	for _, p := range parts {
		if bytes.IndexByte(p, '\n') >= 0 {
			return false
		}
	}
	return true
}

// write buffers p; the connection sees it at the next flush, or earlier
// when the buffer fills.
func (s *sseWriter) write(p []byte) error {
	_, err := s.w.Write(p)
	return err
}

// flush sends what is buffered.
func (s *sseWriter) flush() error { return s.rc.Flush() }

// armDeadline moves the write deadline to timeout from now. A connection
// without deadlines (a test recorder) streams without one, as before.
func (s *sseWriter) armDeadline() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) }

// clearDeadline lifts the write deadline when the stream ends.
func (s *sseWriter) clearDeadline() { _ = s.rc.SetWriteDeadline(time.Time{}) }

// lastEventID reads the Last-Event-ID header a reconnecting client sends.
func lastEventID(r *http.Request) (uint64, bool) {
	s := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
