package httpapi

import (
	"bytes"
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
func (h *Handler) serveSSE(w http.ResponseWriter, r *http.Request, name string, q listQuery) {
	release, err := h.acquireWatch()
	if err != nil {
		h.writeError(w, err)
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

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
	if !pending && !h.sseWrite(w, rc, nil) {
		return
	}
	sent := view.Index

	keepAlive := time.NewTicker(h.cfg.SSEKeepAlive)
	defer keepAlive.Stop()
	var buf []byte
	for {
		if pending {
			buf = appendEvent(buf[:0], view, q)
			if !h.sseWrite(w, rc, buf) {
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
			if !h.sseWrite(w, rc, keepAliveComment) {
				return
			}
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		}
	}
}

var keepAliveComment = []byte(": keep-alive\n\n")

// sseWrite writes p and flushes it within WriteTimeout.
func (h *Handler) sseWrite(w http.ResponseWriter, rc *http.ResponseController, p []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if len(p) > 0 {
		if _, err := w.Write(p); err != nil {
			return false
		}
	}
	return rc.Flush() == nil
}

// lastEventID reads the Last-Event-ID header a reconnecting client sends.
func lastEventID(r *http.Request) (uint64, bool) {
	s := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// appendEvent appends one event carrying view's list under q's filters.
// Each line of the JSON becomes a data: line (encodings are one line, but
// the SSE framing must not depend on it).
func appendEvent(buf []byte, view *registry.ServiceView, q listQuery) []byte {
	var data []byte
	if q.tag == "" {
		data = view.JSON(q.filter)
	} else {
		data = encodeList(view, q)
	}
	data = bytes.TrimRight(data, "\n")
	buf = append(buf, "event: "+sseEvent+"\nid: "...)
	buf = strconv.AppendUint(buf, view.Index, 10)
	buf = append(buf, '\n')
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		buf = append(buf, "data: "...)
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(buf, '\n')
}
