package registry

import (
	"io"
	"iter"
	"slices"
	"sync"

	"github.com/rosterhq/roster/api"
)

// Filter selects instances by status for a listing.
type Filter uint8

// The status filters of a listing.
const (
	FilterHealthy  Filter = iota // passing and warning (the HTTP default)
	FilterPassing                // passing only (the DNS default)
	FilterWarning                // warning only
	FilterCritical               // critical only
	FilterAny                    // every instance
	numFilters
)

// Match reports whether an instance with status s passes the filter (pass
// Instance.Health, so an instance in maintenance counts as critical). An
// unknown filter matches everything, like FilterAny.
func (f Filter) Match(s api.Status) bool {
	switch f {
	case FilterHealthy:
		return s == api.StatusPassing || s == api.StatusWarning
	case FilterPassing:
		return s == api.StatusPassing
	case FilterWarning:
		return s == api.StatusWarning
	case FilterCritical:
		return s == api.StatusCritical
	default:
		return true
	}
}

// ServiceView is an immutable picture of one service at one index. Readers
// share it without locks; the catalog replaces it on every change, and the
// new view shares with the old every part of the service that did not
// change.
type ServiceView struct {
	Name  string
	Index uint64

	tree    *tree // nil when the service has no instances
	n       int
	summary api.ServiceSummary // counts and tags, for the service list
	enc     encCache[encKey, Encoded]
}

// Encoder encodes a view's instances into one kind of answer (a front end's
// JSON list, say). The catalog keeps the bytes it returns: per view for the
// whole answer, and per run of instances across views, so that after a
// change only the run holding the changed instance is encoded again.
//
// An Encoder must be comparable (a pointer, typically): it is the key of
// what is kept. It must return the same bytes for the same instance.
type Encoder interface {
	// AppendHead appends what precedes the instances in v's answer under
	// filter f.
	AppendHead(b []byte, v *ServiceView, f Filter) []byte
	// AppendInstance appends one instance's encoding; the catalog puts a
	// comma between two instances (the answers are JSON arrays).
	AppendInstance(b []byte, in *Instance) []byte
	// AppendTail appends what follows the instances.
	AppendTail(b []byte, v *ServiceView, f Filter) []byte
}

// Encoded is an answer built by an Encoder: its bytes are the Parts, in
// order, Len in all. The parts are shared by every reader and by later
// views: never modify them. A service of up to a few dozen instances
// answers in one part.
type Encoded struct {
	Parts [][]byte
	Len   int
}

// Bytes returns the answer in one slice: the only part, or a copy of them
// all joined.
func (e Encoded) Bytes() []byte {
	if len(e.Parts) == 1 {
		return e.Parts[0]
	}
	b := make([]byte, 0, e.Len)
	for _, p := range e.Parts {
		b = append(b, p...)
	}
	return b
}

// WriteTo writes the answer to w in few writes: parts are gathered into
// writes of up to 128 KiB (a part that large goes as it is), so that a
// large answer costs a socket a few system calls, not one per part.
func (e Encoded) WriteTo(w io.Writer) (int64, error) {
	if len(e.Parts) == 1 {
		n, err := w.Write(e.Parts[0])
		return int64(n), err
	}
	bp := gatherBufs.Get().(*[]byte)
	defer gatherBufs.Put(bp)
	buf := (*bp)[:0]
	var total int64
	send := func(p []byte) error {
		n, err := w.Write(p)
		total += int64(n)
		return err
	}
	for _, p := range e.Parts {
		if len(buf)+len(p) > cap(buf) && len(buf) > 0 {
			if err := send(buf); err != nil {
				return total, err
			}
			buf = buf[:0]
		}
		if len(p) >= cap(buf) {
			if err := send(p); err != nil {
				return total, err
			}
			continue
		}
		buf = append(buf, p...)
	}
	if len(buf) > 0 {
		return total, send(buf)
	}
	return total, nil
}

// gatherBufs are WriteTo's buffers.
var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}

func newServiceView(name string, index uint64, insts []Instance) *ServiceView {
	return &ServiceView{Name: name, Index: index, tree: buildTree(insts), n: len(insts),
		summary: summarize(name, insts)}
}

// withIndex is a view of the same instances at another index.
func (v *ServiceView) withIndex(index uint64) *ServiceView {
	return &ServiceView{Name: v.Name, Index: index, tree: v.tree, n: v.n, summary: v.summary}
}

// Len is the number of instances.
func (v *ServiceView) Len() int { return v.n }

// All yields the instances sorted by id. They are the view's own: never
// modify them, nor keep the pointers beyond the view.
func (v *ServiceView) All() iter.Seq[*Instance] {
	return func(yield func(*Instance) bool) {
		if v.tree == nil {
			return
		}
		v.tree.Ascend(func(c *chunk) bool {
			for _, in := range c.insts {
				if !yield(in) {
					return false
				}
			}
			return true
		})
	}
}

// From yields, sorted by id, the instances whose id is id or sorts after
// it; reaching the first costs O(log n), so a reader can walk a large
// service a stretch at a time. As with All, never modify the instances nor
// keep the pointers beyond the view.
func (v *ServiceView) From(id string) iter.Seq[*Instance] {
	return func(yield func(*Instance) bool) {
		if v == nil || v.tree == nil {
			return
		}
		first := chunkFor(v.tree, &chunk{}, id)
		v.tree.AscendGreaterOrEqual(first, func(c *chunk) bool {
			i := 0
			if c == first {
				i, _ = c.find(id)
			}
			for ; i < len(c.insts); i++ {
				if !yield(c.insts[i]) {
					return false
				}
			}
			return true
		})
	}
}

// Instances returns a copy of the instances sorted by id, in O(n): for
// callers that need a slice; lookups use All, Get or Select.
func (v *ServiceView) Instances() []Instance {
	out := make([]Instance, 0, v.n)
	for in := range v.All() {
		out = append(out, *in)
	}
	return out
}

// Get returns the instance with the given id, in O(log n).
func (v *ServiceView) Get(id string) (Instance, bool) {
	if in := v.find(id); in != nil {
		return *in, true
	}
	return Instance{}, false
}

// find is the view's own instance with the given id (nil when none).
func (v *ServiceView) find(id string) *Instance {
	if v == nil || v.tree == nil {
		return nil
	}
	c := chunkFor(v.tree, &chunk{}, id)
	if i, ok := c.find(id); ok {
		return c.insts[i]
	}
	return nil
}

// Encode returns the answer e encodes for the instances passing filter f
// (an unknown filter: every instance), built on the first call for this
// view and shared after that. Building it encodes only the runs of
// instances that changed since an earlier view was encoded by e.
func (v *ServiceView) Encode(e Encoder, f Filter) Encoded {
	if f >= numFilters {
		f = FilterAny
	}
	return v.enc.get(encKey{e, f}, func() Encoded { return v.encode(e, f) })
}

func (v *ServiceView) encode(e Encoder, f Filter) Encoded {
	head := e.AppendHead(nil, v, f)
	if v.tree == nil || v.tree.Len() == 1 {
		// One part: head, instances, tail. The view keeps it; the chunk
		// need not keep its part too.
		b := head
		if v.tree != nil {
			c, _ := v.tree.Min()
			if list := c.encoded(e, f, false); len(list) > 0 {
				b = append(b, list[1:]...)
			}
		}
		b = e.AppendTail(b, v, f)
		return Encoded{Parts: [][]byte{b}, Len: len(b)}
	}
	parts := make([][]byte, 0, v.tree.Len()+2)
	parts = append(parts, head)
	n := len(head)
	v.tree.Ascend(func(c *chunk) bool {
		b := c.encoded(e, f, true)
		if len(b) == 0 {
			return true
		}
		if len(parts) == 1 {
			b = b[1:] // the list's first instance: no comma before it
		}
		parts = append(parts, b)
		n += len(b)
		return true
	})
	tail := e.AppendTail(nil, v, f)
	return Encoded{Parts: append(parts, tail), Len: n + len(tail)}
}

// Select returns a copy of the instances matching the filter and, when tag
// is not empty, carrying that tag (case-sensitive exact match), sorted by
// id.
func (v *ServiceView) Select(f Filter, tag string) []Instance {
	var out []Instance
	for in := range v.All() {
		if f.Match(in.Health()) && (tag == "" || in.hasTag(tag)) {
			out = append(out, *in)
		}
	}
	return out
}

// Counts returns the service's instance counts by status and its tags, as
// the service list shows them.
func (v *ServiceView) Counts() api.ServiceSummary {
	s := v.summary
	s.Tags = slices.Clone(s.Tags)
	return s
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// summarize counts instances by effective status (Health) and collects the sorted set of tags.
func summarize(name string, insts []Instance) api.ServiceSummary {
	s := api.ServiceSummary{Name: name, Instances: len(insts)}
	var tags []string
	for i := range insts {
		switch insts[i].Health() {
		case api.StatusPassing:
			s.Passing++
		case api.StatusWarning:
			s.Warning++
		case api.StatusCritical:
			s.Critical++
		}
		tags = append(tags, insts[i].Tags...)
	}
	slices.Sort(tags)
	s.Tags = slices.Compact(tags)
	if s.Tags == nil {
		s.Tags = []string{}
	}
	return s
}

func sameSummary(a, b *api.ServiceSummary) bool {
	return a.Name == b.Name && a.Instances == b.Instances && a.Passing == b.Passing &&
		a.Warning == b.Warning && a.Critical == b.Critical && slices.Equal(a.Tags, b.Tags)
}

// ServicesView is an immutable picture of the service list.
type ServicesView struct {
	Index    uint64
	Services []api.ServiceSummary // sorted by name

	enc encCache[ListEncoder, []byte]
}

// ListEncoder encodes the service list into one kind of answer. It must be
// comparable (a pointer, typically): it is the key of what is kept.
type ListEncoder interface {
	// AppendList appends the encoding of v to b.
	AppendList(b []byte, v *ServicesView) []byte
}

// Encode returns e's encoding of the view, built on the first call for this
// view and shared after that: never modify it.
func (v *ServicesView) Encode(e ListEncoder) []byte {
	return v.enc.get(e, func() []byte { return e.AppendList(nil, v) })
}
