package consulapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterhq/roster/acl"

	"github.com/hashicorp/go-bexpr"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/registry"
)

// Consul's response headers.
const (
	headerIndex       = "X-Consul-Index"
	headerKnownLeader = "X-Consul-Knownleader"
	headerLastContact = "X-Consul-Lastcontact"
	headerConsistency = "X-Consul-Effective-Consistency"
	headerContentHash = "X-Consul-Contenthash"
)

// query is a read's parsed query string: Consul's common parameters.
type query struct {
	consistent bool
	stale      bool
	// blocking is set by ?index=N with N > 0.
	blocking bool
	index    uint64
	wait     time.Duration
	filter   *bexpr.Evaluator
	tags     []string
	pretty   bool
}

// parseQuery reads ?dc, ?stale, ?consistent, ?index, ?wait, ?filter, ?tag
// and ?pretty. Other Consul parameters (?near, ?node-meta, ?cached, ?ns) are
// accepted and ignored.
func (h *Handler) parseQuery(r *http.Request) (query, error) {
	var q query
	if r.URL.RawQuery == "" {
		return q, nil
	}
	vals := r.URL.Query()
	dc := vals.Get("dc")
	if d := vals.Get("datacenter"); d != "" {
		dc = d
	}
	if dc != "" && dc != h.cfg.Datacenter {
		return q, httpapi.InvalidField("dc", "No path to datacenter %q: Roster serves one datacenter, %q", dc, h.cfg.Datacenter)
	}
	_, q.stale = vals["stale"]
	_, q.consistent = vals["consistent"]
	if q.stale && q.consistent {
		return q, httpapi.InvalidField("consistent", "Cannot specify ?stale with ?consistent, conflicting semantics.")
	}
	_, q.pretty = vals["pretty"]
	if s := vals.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, httpapi.InvalidField("wait", "Invalid wait time %q: a duration such as 30s or 5m", s)
		}
		q.wait = d
	}
	if s := vals.Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, httpapi.InvalidField("index", "Invalid index %q", s)
		}
		q.index = n
		q.blocking = n > 0
	}
	if q.blocking {
		q.wait = h.native.BlockingWait(q.wait)
	}
	if s := vals.Get("filter"); s != "" {
		ev, err := bexpr.CreateEvaluator(s)
		if err != nil {
			return q, httpapi.InvalidField("filter", "Failed to create boolean expression evaluator: %v", err)
		}
		q.filter = ev
	}
	q.tags = vals["tag"]
	return q, nil
}

// match reports whether v passes the query's filter.
func (q *query) match(v any) (bool, error) {
	if q.filter == nil {
		return true, nil
	}
	ok, err := q.filter.Evaluate(v)
	if err != nil {
		return false, httpapi.InvalidField("filter", "Failed to apply filter: %v", err)
	}
	return ok, nil
}

// read answers a read the way Consul does: a ?consistent read goes to the
// leader (forwarded from a follower; linearised on the leader), a blocking
// query waits on watch until index() passes ?index (or ?index is ahead of
// this server, which answers at once, as the native API does), and the
// answer that build returns goes out with Consul's headers. build returns
// the answer and the index it reflects, read together.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, q query,
	watch func() <-chan struct{}, index func() uint64, build func() (uint64, any, error)) {
	if q.consistent {
		if !h.store.IsLeader() {
			h.native.ForwardRead(w, r, q.wait)
			return
		}
		if err := h.store.ConsistentRead(r.Context()); err != nil {
			h.native.WriteError(w, err)
			return
		}
	}
	if q.blocking {
		cat := h.store.Catalog()
		done, err := h.native.BlockUntil(w, r, q.wait, watch, func() bool {
			return index() > q.index || q.index > cat.Index()
		})
		if err != nil {
			h.native.WriteError(w, err)
			return
		}
		defer done()
	}
	idx, v, err := build()
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), idx, q)
	h.writeJSON(w, v, q.pretty)
}

// setReadHeaders sets X-Consul-Index (never 0: a client would spin on
// ?index=0), X-Consul-KnownLeader, X-Consul-LastContact and
// X-Consul-Effective-Consistency: "consistent" for ?consistent, "leader"
// for any other read on the leader, "stale" on a follower (Roster answers
// reads from local state; Consul would forward a default read).
func (h *Handler) setReadHeaders(hdr http.Header, index uint64, q query) {
	if index == 0 {
		index = 1
	}
	hdr[headerIndex] = []string{strconv.FormatUint(index, 10)}
	known, ms := h.store.ReadStatus()
	hdr[headerKnownLeader] = []string{strconv.FormatBool(known)}
	hdr[headerLastContact] = []string{strconv.FormatInt(max(ms, 0), 10)}
	switch {
	case q.consistent:
		hdr[headerConsistency] = []string{"consistent"}
	case h.store.IsLeader():
		hdr[headerConsistency] = []string{"leader"}
	default:
		hdr[headerConsistency] = []string{"stale"}
	}
}

// writeJSON answers v encoded as Consul does: compact, or indented by four
// spaces with a final newline for ?pretty.
func (h *Handler) writeJSON(w http.ResponseWriter, v any, pretty bool) {
	enc, ok := v.(registry.Encoded)
	if !ok {
		var b []byte
		var err error
		if pretty {
			b, err = json.MarshalIndent(v, "", "    ")
			b = append(b, '\n')
		} else {
			b, err = json.Marshal(v)
		}
		if err != nil {
			h.native.WriteError(w, err)
			return
		}
		enc = registry.Encoded{Parts: [][]byte{b}, Len: len(b)}
	}
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Content-Length"] = []string{strconv.Itoa(enc.Len)}
	w.WriteHeader(http.StatusOK)
	_, _ = enc.WriteTo(w)
}

// leaderDecode is the prelude of a write whose body the leader can take
// as it is: on a follower it forwards the request (and reports false);
// on the leader it decodes the body into v, answering a bad one itself.
func (h *Handler) leaderDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	if h.native.ForwardWrite(w, r) {
		return false
	}
	if err := h.native.DecodeBody(w, r, v, true); err != nil {
		h.native.WriteError(w, err)
		return false
	}
	return true
}

// register writes inst and answers with the write's index and done (nil:
// an empty 200).
func (h *Handler) register(w http.ResponseWriter, r *http.Request, inst registry.Instance, done any) {
	_, index, err := h.store.Register(r.Context(), inst)
	if err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.writeDone(w, index, done)
}

// deregister removes every target (each its own write: an error on one
// leaves the others done) and answers with the highest index and done (nil:
// an empty 200); no target is a success at index 0, as a native DELETE of
// an unknown id is.
func (h *Handler) deregister(w http.ResponseWriter, r *http.Request, targets []registry.Instance, done any) {
	var index uint64
	var errs []error
	for _, in := range targets {
		idx, err := h.store.Deregister(r.Context(), in.Service, in.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		index = max(index, idx)
	}
	if err := errors.Join(errs...); err != nil {
		h.native.WriteError(w, err)
		return
	}
	h.writeDone(w, index, done)
}

// writeDone answers a write: 200 with Consul's body for it (nil: none) and
// X-Roster-Index, so that a follower that forwarded the write answers only
// once it has applied that index (read-your-writes).
func (h *Handler) writeDone(w http.ResponseWriter, index uint64, body any) {
	if index > 0 {
		w.Header()[api.HeaderIndex] = []string{strconv.FormatUint(index, 10)}
	}
	if body == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	h.writeJSON(w, body, false)
}

// snapshot is every listed service's view, read once, and the index that
// reflects them all: the highest of the service list's index and each
// view's. It only grows: a change to any service moves its view's index,
// and a service that goes moves the list's.
type snapshot struct {
	index uint64
	views []*registry.ServiceView
}

func (h *Handler) snapshot() snapshot {
	cat := h.store.Catalog()
	list := cat.Services()
	s := snapshot{index: list.Index, views: make([]*registry.ServiceView, 0, len(list.Services))}
	for i := range list.Services {
		v := cat.Service(list.Services[i].Name)
		s.index = max(s.index, v.Index)
		s.views = append(s.views, v)
	}
	return s
}

// readable keeps the views of the services id may read (every one when
// ACLs are off); the index stays the global one, so blocking queries behave
// alike whatever the token.
func (s snapshot) readable(id *acl.Identity) snapshot {
	if id == nil {
		return s
	}
	views := make([]*registry.ServiceView, 0, len(s.views))
	for _, v := range s.views {
		if id.ServiceRead(v.Name) {
			views = append(views, v)
		}
	}
	s.views = views
	return s
}

// globalIndex is snapshot().index without keeping the views.
func (h *Handler) globalIndex() uint64 {
	cat := h.store.Catalog()
	list := cat.Services()
	idx := list.Index
	for i := range list.Services {
		idx = max(idx, cat.Service(list.Services[i].Name).Index)
	}
	return idx
}

// readAll answers a read across services (nodes, checks in a state, a
// node's services): it wakes on any service's change, and build gets one
// snapshot.
func (h *Handler) readAll(w http.ResponseWriter, r *http.Request, q query, build func(snapshot) (any, error)) {
	cat := h.store.Catalog()
	id := acl.FromContext(r.Context())
	h.read(w, r, q, cat.WatchAny, h.globalIndex, func() (uint64, any, error) {
		s := h.snapshot().readable(id)
		v, err := build(s)
		return s.index, v, err
	})
}

// readService answers a read of one service: it wakes only on that
// service's changes. With an encoder and no ?filter, ?tag or ?pretty, the
// answer is the one the view keeps for that encoder (encoded once per view,
// and after a change only for the instances that changed), as the native
// lookups are.
func (h *Handler) readService(w http.ResponseWriter, r *http.Request, q query, name string, enc *listEncoder,
	build func(*registry.ServiceView) (any, error)) {
	cat := h.store.Catalog()
	cacheable := enc != nil && q.filter == nil && len(q.tags) == 0 && !q.pretty
	h.read(w, r, q,
		func() <-chan struct{} { return cat.WatchService(name) },
		func() uint64 { return cat.Service(name).Index },
		func() (uint64, any, error) {
			v := cat.Service(name)
			if cacheable {
				return v.Index, v.Encode(enc, enc.filter), nil
			}
			out, err := build(v)
			return v.Index, out, err
		})
}

// listEncoder encodes a one-service answer that is a JSON array of one
// element per instance passing filter: byte for byte what encoding/json
// makes of the []elem slice the uncached path builds (registry.Encoder).
type listEncoder struct {
	filter registry.Filter
	elem   func(*registry.Instance) any
}

// AppendHead implements registry.Encoder.
func (e *listEncoder) AppendHead(b []byte, _ *registry.ServiceView, _ registry.Filter) []byte {
	return append(b, '[')
}

// AppendInstance implements registry.Encoder.
func (e *listEncoder) AppendInstance(b []byte, in *registry.Instance) []byte {
	out, err := json.Marshal(e.elem(in))
	if err != nil {
		// Strings, numbers, slices and maps of strings: cannot fail.
		panic("consulapi: encoding " + err.Error())
	}
	return append(b, out...)
}

// AppendTail implements registry.Encoder.
func (e *listEncoder) AppendTail(b []byte, _ *registry.ServiceView, _ registry.Filter) []byte {
	return append(b, ']')
}
