package registry

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/rosterhq/roster/internal/heapq"
)

// SnapshotVersion is the snapshot format this build writes and the newest it
// reads.
//
// Format, version 1: the magic "RSNP" and the version byte, then records,
// each a uvarint length and a payload in the command encoding:
//
//	header:   index, service-list index, service count, tombstone count
//	service:  name, index, instance count; then one record per instance
//	          (the registration fields, then critical_since, create_index,
//	          modify_index), in id order
//	tombstone: id, time
//
// Version 2 adds, after the tombstones, the ACL tokens:
//
//	acl:      bootstrap index, token count
//	token:    accessor, secret hash, description, rules, create index
//	          (in accessor order)
//
// Version 3 adds, at the end of each instance record, its maintenance
// reason (empty when it is not in maintenance). A snapshot is written as
// version 3 only when some instance is in maintenance, and byte for byte as
// version 2 otherwise, so a cluster that never uses maintenance keeps
// snapshots that servers of the previous build read.
//
// Every version ends with the CRC-32C (Castagnoli) of every byte before it, big-endian.
// Services are in name order and tombstones in id order, so the same state
// always gives the same bytes. Services without instances are kept: they
// are the service-index table.
// A version 1 snapshot (no tokens) still loads; it leaves the tokens as
// they were, so restoring a backup taken before ACLs existed neither drops
// the management token nor re-opens the bootstrap.
const SnapshotVersion = 3

var snapshotMagic = []byte("RSNP")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxSnapshotRecord bounds one record (an instance is at most about 70 KiB
// with every limit reached), so a corrupt length never allocates much.
const maxSnapshotRecord = 1 << 20

// Snapshot is a point-in-time copy of the catalog. It shares the catalog's
// immutable service views, so taking one costs O(services + tombstones).
type Snapshot struct {
	index     uint64
	listIndex uint64
	views     []*ServiceView
	tombs     []tomb
	tokens    []Token
	bootIndex uint64
}

// Snapshot captures the state for persistence; cheap to take, safe to
// persist concurrently with later Applies.
func (c *Catalog) Snapshot() *Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &Snapshot{
		index:     c.index.Load(),
		listIndex: c.listIndex,
		views:     make([]*ServiceView, 0, len(c.services)),
		tombs:     make([]tomb, 0, len(c.tombs)),
	}
	for _, v := range c.services {
		s.views = append(s.views, v)
	}
	for id, at := range c.tombs {
		s.tombs = append(s.tombs, tomb{id: id, at: at})
	}
	s.bootIndex = c.acl.bootIndex
	for _, t := range c.acl.tokens {
		s.tokens = append(s.tokens, t)
	}
	slices.SortFunc(s.tokens, func(a, b Token) int { return cmpString(a.Accessor, b.Accessor) })
	slices.SortFunc(s.views, func(a, b *ServiceView) int { return cmpString(a.Name, b.Name) })
	slices.SortFunc(s.tombs, func(a, b tomb) int { return cmpString(a.id, b.id) })
	return s
}

// Index is the log index the snapshot reflects.
func (s *Snapshot) Index() uint64 { return s.index }

// WriteTo persists the snapshot in the versioned snapshot format.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	sw := snapWriter{bw: bufio.NewWriterSize(cw, 64<<10), crc: crc32.New(castagnoli)}
	version := s.version()
	sw.raw(append(slices.Clip(snapshotMagic), version))

	b := binary.AppendUvarint(nil, s.index)
	b = binary.AppendUvarint(b, s.listIndex)
	b = binary.AppendUvarint(b, uint64(len(s.views)))
	b = binary.AppendUvarint(b, uint64(len(s.tombs)))
	sw.record(b)
	for _, v := range s.views {
		b = appendString(b[:0], v.Name)
		b = binary.AppendUvarint(b, v.Index)
		b = binary.AppendUvarint(b, uint64(v.Len()))
		sw.record(b)
		for in := range v.All() {
			b = appendRegistration(b[:0], in)
			b = binary.AppendVarint(b, in.CriticalSince)
			b = binary.AppendUvarint(b, in.CreateIndex)
			b = binary.AppendUvarint(b, in.ModifyIndex)
			if version >= 3 {
				b = appendString(b, in.Maintenance)
			}
			sw.record(b)
		}
	}
	for _, t := range s.tombs {
		b = appendString(b[:0], t.id)
		b = binary.AppendVarint(b, t.at)
		sw.record(b)
	}
	b = binary.AppendUvarint(b[:0], s.bootIndex)
	b = binary.AppendUvarint(b, uint64(len(s.tokens)))
	sw.record(b)
	for i := range s.tokens {
		b = appendToken(b[:0], &s.tokens[i])
		b = binary.AppendUvarint(b, s.tokens[i].CreateIndex)
		sw.record(b)
	}
	if sw.err == nil {
		_, sw.err = sw.bw.Write(binary.BigEndian.AppendUint32(nil, sw.crc.Sum32()))
	}
	if sw.err == nil {
		sw.err = sw.bw.Flush()
	}
	if sw.err != nil {
		return cw.n, fmt.Errorf("write snapshot: %w", sw.err)
	}
	return cw.n, nil
}

// version is the oldest format that holds the snapshot: 3 when some
// instance is in maintenance, else 2.
func (s *Snapshot) version() byte {
	for _, v := range s.views {
		for in := range v.All() {
			if in.Maintenance != "" {
				return 3
			}
		}
	}
	return 2
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type snapWriter struct {
	bw  *bufio.Writer
	crc hash.Hash32
	hdr []byte
	err error
}

func (s *snapWriter) raw(p []byte) {
	if s.err != nil {
		return
	}
	s.crc.Write(p)
	_, s.err = s.bw.Write(p)
}

func (s *snapWriter) record(p []byte) {
	s.hdr = binary.AppendUvarint(s.hdr[:0], uint64(len(p)))
	s.raw(s.hdr)
	s.raw(p)
}

// snapReader reads records and checks the checksum at the end.
type snapReader struct {
	br  *bufio.Reader
	crc hash.Hash32
	hdr []byte
	buf []byte
}

func (s *snapReader) record() (*decoder, error) {
	n, err := binary.ReadUvarint(s.br)
	if err != nil {
		return nil, fmt.Errorf("record length: %w", corrupt(err))
	}
	if n > maxSnapshotRecord {
		return nil, fmt.Errorf("record of %d bytes: %w", n, ErrCorrupt)
	}
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := io.ReadFull(s.br, s.buf); err != nil {
		return nil, fmt.Errorf("record: %w", corrupt(err))
	}
	s.hdr = binary.AppendUvarint(s.hdr[:0], n)
	s.crc.Write(s.hdr)
	s.crc.Write(s.buf)
	return &decoder{b: s.buf}, nil
}

// corrupt turns a short read into ErrCorrupt and keeps other read errors.
func corrupt(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrCorrupt
	}
	return err
}

func done(d *decoder, what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%s: %v: %w", what, d.err, ErrCorrupt)
	}
	return nil
}

// snapState is a decoded snapshot, ready to replace the catalog's state.
type snapState struct {
	index     uint64
	listIndex uint64
	services  map[string]*ServiceView
	byID      map[string]string
	tombs     map[string]int64
	// acl is nil for a version 1 snapshot: the tokens stay as they are.
	acl *aclState
}

// idRef is an instance id and its service, held while a snapshot is read.
type idRef struct{ id, service string }

// readSnapshot decodes and verifies a whole snapshot.
func readSnapshot(r io.Reader) (*snapState, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("snapshot header: %w", corrupt(err))
	}
	if !bytes.Equal(head[:len(snapshotMagic)], snapshotMagic) {
		return nil, fmt.Errorf("not a roster snapshot: %w", ErrCorrupt)
	}
	version := head[len(snapshotMagic)]
	if version < 1 || version > SnapshotVersion {
		return nil, fmt.Errorf("snapshot version %d (this server knows up to %d): %w", version, SnapshotVersion, ErrUnknownVersion)
	}
	sr := &snapReader{br: br, crc: crc32.New(castagnoli)}
	sr.crc.Write(head)

	d, err := sr.record()
	if err != nil {
		return nil, err
	}
	st := &snapState{index: d.uvarint(), listIndex: d.uvarint()}
	nsvc, ntomb := d.uvarint(), d.uvarint()
	if err := done(d, "snapshot header"); err != nil {
		return nil, err
	}
	st.services = make(map[string]*ServiceView, min(nsvc, 1<<16))
	// The id table is built once the count is known: made at its size, it
	// never rehashes (a third of a restore's time at a million instances).
	var ids []idRef
	st.tombs = make(map[string]int64, min(ntomb, 1<<16))
	for range nsvc {
		d, err := sr.record()
		if err != nil {
			return nil, err
		}
		name, index, n := d.str(), d.uvarint(), d.uvarint()
		if err := done(d, "service record"); err != nil {
			return nil, err
		}
		if _, dup := st.services[name]; dup || ValidateServiceName(name) != nil || lower(name) != name {
			return nil, fmt.Errorf("service %q: bad or repeated name: %w", name, ErrCorrupt)
		}
		var insts []Instance
		if n > 0 {
			insts = make([]Instance, 0, min(n, 1<<16))
		}
		dec := instanceDecoder{service: name}
		for range n {
			d, err := sr.record()
			if err != nil {
				return nil, err
			}
			var in Instance
			dec.registration(d, &in)
			in.CriticalSince = d.varint()
			in.CreateIndex = d.uvarint()
			in.ModifyIndex = d.uvarint()
			if version >= 3 {
				in.Maintenance = d.str()
			}
			if err := done(d, "instance record"); err != nil {
				return nil, err
			}
			if in.Service != name {
				return nil, fmt.Errorf("instance %s of service %s filed under %s: %w", in.ID, in.Service, name, ErrCorrupt)
			}
			if err := ValidateStored(&in); err != nil {
				return nil, fmt.Errorf("instance %q of service %s: %v: %w", in.ID, name, err, ErrCorrupt)
			}
			if len(insts) > 0 && insts[len(insts)-1].ID >= in.ID {
				return nil, fmt.Errorf("service %s: instances out of order at %s: %w", name, in.ID, ErrCorrupt)
			}
			ids = append(ids, idRef{id: in.ID, service: name})
			insts = append(insts, in)
		}
		st.services[name] = newServiceView(name, index, insts)
	}
	st.byID = make(map[string]string, len(ids))
	for _, r := range ids {
		before := len(st.byID)
		st.byID[r.id] = r.service
		if len(st.byID) == before {
			return nil, fmt.Errorf("instance %s in two services: %w", r.id, ErrCorrupt)
		}
	}
	for range ntomb {
		d, err := sr.record()
		if err != nil {
			return nil, err
		}
		id, at := d.str(), d.varint()
		if err := done(d, "tombstone record"); err != nil {
			return nil, err
		}
		if err := ValidateID(id); err != nil {
			return nil, fmt.Errorf("tombstone %q: %v: %w", id, err, ErrCorrupt)
		}
		st.tombs[id] = at
	}
	if version >= 2 {
		if err := readACL(sr, st); err != nil {
			return nil, err
		}
	}
	sum := make([]byte, 4)
	if _, err := io.ReadFull(br, sum); err != nil {
		return nil, fmt.Errorf("snapshot checksum: %w", corrupt(err))
	}
	if got, want := binary.BigEndian.Uint32(sum), sr.crc.Sum32(); got != want {
		return nil, fmt.Errorf("snapshot checksum %08x, computed %08x: %w", got, want, ErrCorrupt)
	}
	return st, nil
}

// Restore replaces the whole state with a persisted snapshot taken at
// snapshotIndex. Every service index (and the service-index table) rises to
// at least snapshotIndex so that watchers never go backwards; every watcher
// is woken. The snapshot is read and verified completely before anything is
// replaced: on error the catalog is unchanged. A snapshot of an unknown
// version gives an error wrapping ErrUnknownVersion; a damaged one
// ErrCorrupt.
func (c *Catalog) Restore(r io.Reader, snapshotIndex uint64) error {
	st, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("restore snapshot at index %d: %w", snapshotIndex, err)
	}
	st.index = max(st.index, snapshotIndex)
	st.listIndex = max(st.listIndex, snapshotIndex)
	tallies := make(map[string]*tally, len(st.services))
	trees := make(map[string]*tree, len(st.services))
	for name, v := range st.services {
		if v.Index < snapshotIndex {
			v = v.withIndex(snapshotIndex)
			st.services[name] = v
		}
		if v.Len() > 0 {
			tallies[name] = newTally(v)
			trees[name] = cloneTree(v.tree) // Apply's copy; v keeps its own
		}
	}
	tombs := make([]tomb, 0, len(st.tombs))
	for id, at := range st.tombs {
		tombs = append(tombs, tomb{id: id, at: at})
	}
	tombQ := heapq.New(tombBefore, nil)
	tombQ.Init(tombs)

	c.mu.Lock()
	old := c.services
	c.services = st.services
	c.byID = st.byID
	c.tombs = st.tombs
	c.tombQ = tombQ
	c.listIndex = st.listIndex
	c.tallies = tallies
	c.trees = trees
	if st.acl != nil {
		c.acl = *st.acl
	}
	clear(c.pend)
	c.index.Store(st.index)
	for name, v := range st.services {
		c.setView(name, v)
	}
	for name := range old {
		if _, ok := st.services[name]; !ok {
			c.views.Delete(name)
		}
	}
	c.list.Store(nil)
	c.mu.Unlock()
	c.watch.fireAll()
	return nil
}

// instanceDecoder decodes one service's instance records (the registration
// fields of the command encoding) for a restore. It gives every instance the
// service's own name string and, like tally.share, equal tag lists and meta
// maps one shared copy, compared on the encoded bytes before anything is
// allocated: restoring an instance then allocates its id and address, not
// six strings, a slice and a map that the catalog would drop again.
type instanceDecoder struct {
	service            string
	metas              [sharedPerService]map[string]string
	tagLists           [sharedPerService][]string
	nextMeta, nextTags uint8
	raw                [][]byte // scratch: tags, or meta keys and values
}

// registration is decoder.registration, sharing as it goes. A record of
// another service keeps its own name (the caller refuses it).
func (x *instanceDecoder) registration(d *decoder, inst *Instance) {
	if svc := d.bytes(); string(svc) == x.service {
		inst.Service = x.service
	} else {
		inst.Service = string(svc)
	}
	inst.ID = d.str()
	inst.Address = d.str()
	inst.Port = d.int()
	inst.Weight = d.int()
	inst.Tags = x.tags(d)
	inst.Meta = x.meta(d)
	inst.Status = status(d.bytes())
	inst.Output = d.str()
	inst.TTL = time.Duration(d.varint())
	inst.DeregisterAfter = time.Duration(d.varint())
}

func (x *instanceDecoder) tags(d *decoder) []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	x.raw = x.raw[:0]
	for range n {
		x.raw = append(x.raw, d.bytes())
	}
	for _, tags := range x.tagLists {
		if len(tags) == n && equalStrings(tags, x.raw) {
			return tags
		}
	}
	tags := make([]string, n)
	for i, b := range x.raw {
		tags[i] = string(b)
	}
	x.tagLists[x.nextTags] = tags
	x.nextTags = (x.nextTags + 1) % sharedPerService
	return tags
}

func (x *instanceDecoder) meta(d *decoder) map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	x.raw = x.raw[:0]
	sorted := true
	for i := range 2 * n {
		b := d.bytes()
		if i%2 == 0 && i > 0 && string(x.raw[i-2]) >= string(b) {
			sorted = false
		}
		x.raw = append(x.raw, b)
	}
	for _, m := range x.metas {
		if sorted && len(m) == n && equalMeta(m, x.raw) {
			return m
		}
	}
	m := make(map[string]string, n)
	for i := 0; i < len(x.raw); i += 2 {
		m[string(x.raw[i])] = string(x.raw[i+1])
	}
	if !sorted {
		// Keys out of order or repeated: not what appendRegistration
		// writes. Keep what decoder.registration would make, unshared.
		return m
	}
	x.metas[x.nextMeta] = m
	x.nextMeta = (x.nextMeta + 1) % sharedPerService
	return m
}

func equalStrings(ss []string, raw [][]byte) bool {
	for i, s := range ss {
		if s != string(raw[i]) {
			return false
		}
	}
	return true
}

// equalMeta compares a map with encoded keys and values. The keys are
// distinct (in strictly ascending order) and as many as the map's, so every
// pair present means equal.
func equalMeta(m map[string]string, raw [][]byte) bool {
	for i := 0; i < len(raw); i += 2 {
		if v, ok := m[string(raw[i])]; !ok || v != string(raw[i+1]) {
			return false
		}
	}
	return true
}

// readACL reads version 2's token section.
func readACL(sr *snapReader, st *snapState) error {
	d, err := sr.record()
	if err != nil {
		return err
	}
	acl := newACLState()
	acl.bootIndex = d.uvarint()
	n := d.uvarint()
	if err := done(d, "acl header"); err != nil {
		return err
	}
	prev := ""
	for range n {
		d, err := sr.record()
		if err != nil {
			return err
		}
		var t Token
		d.token(&t)
		t.CreateIndex = d.uvarint()
		if err := done(d, "token record"); err != nil {
			return err
		}
		if t.Accessor == "" || t.Accessor <= prev {
			return fmt.Errorf("tokens out of order at %q: %w", t.Accessor, ErrCorrupt)
		}
		prev = t.Accessor
		acl.tokens[t.Accessor] = t
		acl.bySecret[t.SecretHash] = t.Accessor
	}
	st.acl = &acl
	return nil
}
