package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/api"
)

// Header values shared by every answer. net/http never modifies header
// value slices, so one slice can be assigned to many responses; assigning by
// canonical key skips the per-request canonicalisation of Header.Set.
var (
	jsonCTHdr        = []string{"application/json"}
	eventStreamHdr   = []string{"text/event-stream"}
	noCacheHdr       = []string{"no-cache"}
	noBufferingHdr   = []string{"no"}
	retryAfterHdr    = []string{"1"}
	trueHdr          = []string{"true"}
	falseHdr         = []string{"false"}
	zeroHdr          = []string{"0"}
	neverHdr         = []string{"-1"}
	octetStreamHdr   = []string{"application/octet-stream"}
	forwardedHdrOnce = []string{"1"}
)

// writeJSON encodes v and answers it with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(api.Error{Message: "encode answer: " + err.Error(), Code: codeInternal})
	}
	b = append(b, '\n')
	hdr := w.Header()
	hdr["Content-Type"] = jsonCTHdr
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeBody answers pre-encoded JSON.
func (h *Handler) writeBody(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonCTHdr
	hdr["Content-Length"] = h.hdrs.length(len(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setReadHeaders sets X-Roster-Index, X-Roster-Known-Leader and
// X-Roster-Last-Contact. The store is asked once, through Leader().
func (h *Handler) setReadHeaders(hdr http.Header, index uint64) {
	hdr[api.HeaderIndex] = h.hdrs.index(index)
	h.setLeaderHeaders(hdr)
}

func (h *Handler) setLeaderHeaders(hdr http.Header) {
	known, ms := h.store.ReadStatus()
	if known {
		hdr[api.HeaderKnownLeader] = trueHdr
	} else {
		hdr[api.HeaderKnownLeader] = falseHdr
	}
	switch {
	case ms < 0:
		hdr[api.HeaderLastContact] = neverHdr
	case ms == 0:
		hdr[api.HeaderLastContact] = zeroHdr
	default:
		hdr[api.HeaderLastContact] = h.hdrs.contact(uint64(ms))
	}
}

// headerCache keeps formatted X-Roster-Index and Content-Length values so
// that the read path formats a number only when an index or size is new. It
// is direct-mapped and lock-free: a miss formats and replaces the slot.
type headerCache struct {
	indexes  [256]atomic.Pointer[numHdr]
	lengths  [256]atomic.Pointer[numHdr]
	contacts [256]atomic.Pointer[numHdr]
}

type numHdr struct {
	n   uint64
	hdr []string
}

func (c *headerCache) index(n uint64) []string { return lookupNum(&c.indexes, n) }

func (c *headerCache) length(n int) []string { return lookupNum(&c.lengths, uint64(n)) }

func (c *headerCache) contact(ms uint64) []string { return lookupNum(&c.contacts, ms) }

func lookupNum(slots *[256]atomic.Pointer[numHdr], n uint64) []string {
	slot := &slots[n&255]
	if e := slot.Load(); e != nil && e.n == n {
		return e.hdr
	}
	e := &numHdr{n: n, hdr: []string{strconv.FormatUint(n, 10)}}
	slot.Store(e)
	return e.hdr
}

// StatusWriter records the status of an answer (for request counters and
// the audit log), for every front end. Unwrap lets http.ResponseController
// reach the connection (flush, deadlines).
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter { return &StatusWriter{ResponseWriter: w} }

// Status is the status answered: 200 when the handler wrote without
// WriteHeader or wrote nothing.
func (s *StatusWriter) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// WriteHeader implements http.ResponseWriter.
func (s *StatusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument wraps a route's handler to count its answers by status class
// and time them. A watch (blocking query or event stream) lasts as long as
// nothing changes, which says nothing about the server: it is not timed.
func (h *Handler) instrument(id routeID, fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		fn(sw, r)
		status := sw.Status()
		h.metrics.count(id, status)
		if !isWatch(r) {
			h.metrics.durations[id].Observe(time.Since(start).Seconds())
		}
	})
}

// isWatch reports whether r is a blocking query or an event stream.
func isWatch(r *http.Request) bool {
	return strings.Contains(r.URL.RawQuery, "index=") || wantsEventStream(r)
}

// writeDeadline bounds the writes that follow on this connection and returns
// the function that lifts the bound again. Lifting matters: the server sets
// no WriteTimeout, so a deadline left behind would hit the next request on
// the kept-alive connection.
func (h *Handler) writeDeadline(w http.ResponseWriter, d time.Duration) (clear func()) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return func() {}
	}
	return func() { _ = rc.SetWriteDeadline(time.Time{}) }
}
