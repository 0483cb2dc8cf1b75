package registry

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
	"github.com/rosterhq/roster/api"
)

// The instances of a service live in a persistent B-tree of chunks: short
// sorted runs of instances, each immutable once built. A change copies the
// chunks it touches and the tree's path to them (google/btree's
// copy-on-write Clone), so its cost does not grow with the service: a view
// shares every other chunk with the view before it. Chunks also carry the
// encodings front ends build of them (Encoder), so the first read after a
// change encodes one chunk and reuses the rest.
//
// Measured against go-immutable-radix on 100,000 instances (one key per
// instance): the radix tree holds about 590 bytes per instance beyond the
// instances themselves and allocates 49 times per change; chunks cost
// about 200 bytes per instance all told (docs/benchmarks.md). A chunk holds
// pointers to its instances, each its own allocation shared by every chunk
// that holds it: a change copies a chunk's pointers (256 bytes at
// maxChunk) and allocates the instance it changed, rather than copying 32
// instances of 192 bytes, which was a quarter of all a server allocated
// while taking registrations.

// Chunk sizes: a chunk that grows past maxChunk splits into chunks of about
// fillChunk; one that shrinks below minChunk joins its predecessor.
const (
	maxChunk  = 32
	fillChunk = 24
	minChunk  = 8
	// treeDegree is the B-tree's degree: nodes of up to 15 chunks.
	treeDegree = 8
)

// chunk is a run of a service's instances sorted by id; never modified
// once in a tree, except for the encodings readers add to enc.
type chunk struct {
	lo                         string      // insts[0].ID, the chunk's key
	insts                      []*Instance // 1 to maxChunk (more only briefly)
	passing, warning, critical int32       // counts by Health, for filters
	enc                        encCache[encKey, []byte]
}

func newChunk(insts []*Instance) *chunk {
	c := &chunk{lo: insts[0].ID, insts: insts}
	for _, in := range insts {
		switch in.Health() {
		case api.StatusPassing:
			c.passing++
		case api.StatusWarning:
			c.warning++
		case api.StatusCritical:
			c.critical++
		}
	}
	return c
}

// matching is how many of the chunk's instances pass f.
func (c *chunk) matching(f Filter) int {
	switch f {
	case FilterHealthy:
		return int(c.passing + c.warning)
	case FilterPassing:
		return int(c.passing)
	case FilterWarning:
		return int(c.warning)
	case FilterCritical:
		return int(c.critical)
	}
	return len(c.insts)
}

// find is the position of id in the chunk, or where it would go.
func (c *chunk) find(id string) (int, bool) {
	return slices.BinarySearchFunc(c.insts, id, byID)
}

func byID(in *Instance, id string) int { return cmpString(in.ID, id) }

// encoded is the encoding by e of the chunk's instances passing f, each
// preceded by a comma (so that a list is its chunks' bytes end to end, the
// first one's comma dropped); nil when none pass. A filter passing every
// instance shares FilterAny's bytes, so a healthy service holds one copy.
// With cache false it is built without being kept (a service of one chunk,
// whose view keeps the whole answer anyway).
func (c *chunk) encoded(e Encoder, f Filter, cache bool) []byte {
	switch c.matching(f) {
	case 0:
		return nil
	case len(c.insts):
		f = FilterAny
	}
	build := func() []byte {
		var b []byte
		for _, in := range c.insts {
			if f.Match(in.Health()) {
				b = e.AppendInstance(append(b, ','), in)
			}
		}
		return b
	}
	if !cache {
		return build()
	}
	return c.enc.get(encKey{e, f}, build)
}

func chunkLess(a, b *chunk) bool { return a.lo < b.lo }

// tree is a service's chunks; nil for a service without instances.
type tree = btree.BTreeG[*chunk]

// freeList is shared by every tree: nodes are never recycled (views keep
// them), so one empty list serves all and a tree costs no list of its own.
var freeList = btree.NewFreeListG[*chunk](0)

// cloneTree is a copy of t that later changes to t do not reach (nil for
// nil): O(1), the nodes are copied when t next changes them.
func cloneTree(t *tree) *tree {
	if t == nil {
		return nil
	}
	return t.Clone()
}

func newTree() *tree { return btree.NewWithFreeListG(treeDegree, chunkLess, freeList) }

// buildTree makes a tree of sorted instances, copying each into its own
// allocation, in chunks of fillChunk.
func buildTree(insts []Instance) *tree {
	if len(insts) == 0 {
		return nil
	}
	t := newTree()
	for _, part := range split(insts) {
		ptrs := make([]*Instance, len(part))
		for i := range part {
			in := part[i]
			ptrs[i] = &in
		}
		t.ReplaceOrInsert(newChunk(ptrs))
	}
	return t
}

// split cuts insts into runs of about fillChunk (all of it when it fits
// in maxChunk).
func split[T any](insts []T) [][]T {
	if len(insts) <= maxChunk {
		return [][]T{insts}
	}
	n := (len(insts) + fillChunk - 1) / fillChunk
	parts := make([][]T, 0, n)
	for i := range n {
		parts = append(parts, insts[i*len(insts)/n:(i+1)*len(insts)/n])
	}
	return parts
}

// chunkFor is the chunk that holds id or would: the last one starting at
// or before id, else the first. nil for an empty tree.
func chunkFor(t *tree, probe *chunk, id string) *chunk {
	if t == nil {
		return nil
	}
	probe.lo = id
	var found *chunk
	t.DescendLessOrEqual(probe, func(c *chunk) bool { found = c; return false })
	if found == nil {
		found, _ = t.Min()
	}
	return found
}

// neighbour is the chunk after c (before it when !after), nil when c is
// the last (first). c need not be in the tree.
func neighbour(t *tree, c *chunk, after bool) *chunk {
	var found *chunk
	visit := func(x *chunk) bool {
		if x == c {
			return true
		}
		found = x
		return false
	}
	if after {
		t.AscendGreaterOrEqual(c, visit)
	} else {
		t.DescendLessOrEqual(c, visit)
	}
	return found
}

// applyPending applies one Apply's changes to a service's tree (the
// writer's own; views hold clones) and returns it, nil when it is left
// empty, and how many instances it gained (negative: lost). The ids are
// visited in order, and each chunk they fall into is rebuilt once:
// O(changes × (chunk + log chunks)).
func applyPending(t *tree, probe *chunk, p *pending) (*tree, int) {
	ids := make([]string, 0, len(p.ch))
	for id := range p.ch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if t == nil {
		t = newTree()
	}
	delta := 0
	for i := 0; i < len(ids); {
		old := chunkFor(t, probe, ids[i])
		var base []*Instance
		j := len(ids)
		if old != nil {
			base = old.insts
			if next := neighbour(t, old, true); next != nil {
				j = i + countBefore(ids[i:], next.lo)
			}
		}
		merged := mergeChunk(base, ids[i:j], p)
		delta += len(merged) - len(base)
		i = j
		if old != nil {
			t.Delete(old)
		}
		if len(merged) == 0 {
			continue
		}
		if len(merged) < minChunk && t.Len() > 0 {
			// Join the predecessor (already final: ids go in order), or
			// the successor when there is none.
			probe.lo = merged[0].ID
			if prev := neighbour(t, probe, false); prev != nil {
				t.Delete(prev)
				merged = append(slices.Clip(prev.insts), merged...)
			} else if next, _ := t.Min(); next != nil {
				t.Delete(next)
				merged = append(merged, next.insts...)
			}
		}
		parts := split(merged)
		for _, part := range parts {
			if len(parts) > 1 {
				// Each chunk its own array: one replaced later must not
				// keep its neighbours' pointers alive.
				part = slices.Clone(part)
			}
			t.ReplaceOrInsert(newChunk(slices.Clip(part)))
		}
	}
	if t.Len() == 0 {
		return nil, delta
	}
	return t, delta
}

// countBefore is how many of the sorted ids come before hi.
func countBefore(ids []string, hi string) int {
	n, _ := slices.BinarySearch(ids, hi)
	return n
}

// mergeChunk applies the pending changes of ids (sorted, all within the
// chunk's range) to a chunk's instances, into a new slice: the instances
// unchanged are shared, each changed one is the pending change's own.
func mergeChunk(base []*Instance, ids []string, p *pending) []*Instance {
	out := make([]*Instance, 0, len(base)+len(ids))
	i := 0
	for _, id := range ids {
		k, found := slices.BinarySearchFunc(base[i:], id, byID)
		out = append(out, base[i:i+k]...)
		i += k
		if found {
			i++
		}
		if in := p.ch[id]; in != nil {
			out = append(out, in)
		}
	}
	return append(out, base[i:]...)
}

// encCache holds values built lazily by readers, keyed by what built them:
// lookups take no lock, one reader builds a missing value while the others
// of that key wait for it.
type encCache[K comparable, V any] struct {
	mu      sync.Mutex
	entries atomic.Pointer[[]encEntry[K, V]]
}

type encKey struct {
	e Encoder
	f Filter
}

type encEntry[K comparable, V any] struct {
	key K
	val V
}

func (c *encCache[K, V]) lookup(key K) (V, bool) {
	if p := c.entries.Load(); p != nil {
		for i := range *p {
			if (*p)[i].key == key {
				return (*p)[i].val, true
			}
		}
	}
	var zero V
	return zero, false
}

func (c *encCache[K, V]) get(key K, build func() V) V {
	if v, ok := c.lookup(key); ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.lookup(key); ok {
		return v
	}
	v := build()
	var next []encEntry[K, V]
	if p := c.entries.Load(); p != nil {
		next = slices.Clone(*p)
	}
	next = append(next, encEntry[K, V]{key, v})
	c.entries.Store(&next)
	return v
}
