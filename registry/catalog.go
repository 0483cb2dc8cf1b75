package registry

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/heapq"
)

// Catalog is the state machine. Apply is called by one goroutine (the
// replication layer) in log order; the read methods are safe from any
// goroutine at any time and never block on Apply for long.
//
// Service views live in a sync.Map, so Service and WatchService never take
// the catalog lock; Instance, Tombstoned, Snapshot, ForEachLeased and the
// first Services call after a change take it for reading.
type Catalog struct {
	// mu is held for writing by Apply and Restore, for reading by lookups
	// of the state below.
	mu sync.RWMutex
	// services holds every service ever seen, also those whose last
	// instance went: their empty views are the service-index table.
	services  map[string]*ServiceView
	byID      map[string]string // instance id -> service name
	tombs     map[string]int64  // instance id -> deregistration time
	tombQ     heapq.Heap[tomb]  // tombstones by time, for deterministic expiry
	listIndex uint64            // index of the last change to the service list
	pend      map[string]*pending
	free      []*pending        // pending objects for reuse
	tallies   map[string]*tally // per service: counts and tag references
	// trees holds each service's instances as Apply changes them; the
	// views hold clones, which those changes never reach.
	trees map[string]*tree
	probe chunk // search key for the trees, reused by Apply

	index atomic.Uint64
	views sync.Map // service name -> *viewSlot, read without locks
	list  atomic.Pointer[ServicesView]
	// listMu makes one reader build the service list after a change while
	// the others wait for it.
	listMu sync.Mutex
	watch  watchers
	acl    aclState // tokens (acl.go)
}

// viewSlot holds the current view of one service; replacing the pointer
// costs no allocation, unlike storing into the sync.Map.
type viewSlot struct {
	v atomic.Pointer[ServiceView]
}

// setView publishes a service's view. Called with mu held for writing.
func (c *Catalog) setView(name string, v *ServiceView) {
	if s, ok := c.views.Load(name); ok {
		s.(*viewSlot).v.Store(v)
		return
	}
	s := &viewSlot{}
	s.v.Store(v)
	c.views.Store(name, s)
}

// pending collects one Apply's changes to one service; publish merges them
// into a new view once, however many instances the Apply touched.
type pending struct {
	// ch is each changed instance by id as it will be stored (its own
	// allocation, which the new view's chunk then holds); nil: removed.
	ch          map[string]*Instance
	tagsChanged bool // a tag appeared in or left the service
}

// tally keeps a service's summary up to date in O(changes): instance counts
// by effective status (Health) and how many instances carry each tag. It also remembers the
// service's last few distinct meta maps and tag lists, so that instances
// carrying equal ones share one copy: the instances of a service usually
// carry the same (a version, a zone), and a meta map of one key costs about
// 300 bytes, a third of what an instance costs in all.
type tally struct {
	passing, warning, critical int
	tags                       map[string]int

	metas              [sharedPerService]map[string]string
	tagLists           [sharedPerService][]string
	nextMeta, nextTags uint8
}

// sharedPerService is how many distinct meta maps (and tag lists) a service
// keeps for sharing: enough for a rolling deploy's old and new versions,
// few enough that a service whose instances all differ costs little.
const sharedPerService = 4

// share points in's meta and tags at equal ones already held by the
// service, or keeps in's for the next instances. Shared maps and slices are
// never modified: the catalog treats every instance's as read-only.
func (t *tally) share(in *Instance) {
	if len(in.Meta) > 0 {
		found := false
		for _, m := range t.metas {
			if len(m) == len(in.Meta) && sameMeta(m, in.Meta) {
				in.Meta, found = m, true
				break
			}
		}
		if !found {
			t.metas[t.nextMeta] = in.Meta
			t.nextMeta = (t.nextMeta + 1) % sharedPerService
		}
	}
	if len(in.Tags) > 0 {
		found := false
		for _, tags := range t.tagLists {
			if slices.Equal(tags, in.Tags) {
				in.Tags, found = tags, true
				break
			}
		}
		if !found {
			t.tagLists[t.nextTags] = in.Tags
			t.nextTags = (t.nextTags + 1) % sharedPerService
		}
	}
}

// add counts an instance in (delta 1) or out (delta -1) and reports whether
// the set of tags changed.
func (t *tally) add(in *Instance, delta int) (tagsChanged bool) {
	switch in.Health() {
	case api.StatusPassing:
		t.passing += delta
	case api.StatusWarning:
		t.warning += delta
	case api.StatusCritical:
		t.critical += delta
	}
	for _, tag := range in.Tags {
		n := t.tags[tag] + delta
		switch {
		case n <= 0:
			delete(t.tags, tag)
			tagsChanged = true
		case n == 1 && delta > 0:
			t.tags[tag] = n
			tagsChanged = true
		default:
			t.tags[tag] = n
		}
	}
	return tagsChanged
}

// newTally counts v's instances and makes equal meta maps and tag lists
// among them share one copy (the instances are modified: call it before
// the view is published).
func newTally(v *ServiceView) *tally {
	t := &tally{tags: make(map[string]int)}
	for in := range v.All() {
		t.share(in)
		t.add(in, 1)
	}
	return t
}

// New returns an empty catalog.
func New() *Catalog {
	return &Catalog{
		services: make(map[string]*ServiceView),
		byID:     make(map[string]string),
		tombs:    make(map[string]int64),
		tombQ:    heapq.New(tombBefore, nil),
		pend:     make(map[string]*pending),
		tallies:  make(map[string]*tally),
		trees:    make(map[string]*tree),
		acl:      newACLState(),
	}
}

// Apply applies one encoded command at the given log index and returns its
// result. It is deterministic: the same commands at the same indexes give the
// same state on every server.
//
// A command of an unknown version or type, or a corrupt one, changes nothing
// (not even Index) and its Result.Err wraps ErrUnknownVersion or ErrCorrupt:
// the caller must stop applying rather than skip it. Refused commands
// (validation errors, conflicts) still move Index.
func (c *Catalog) Apply(index uint64, data []byte) *Result {
	res := &Result{Index: index}
	cmd, err := decodeCommand(data, false)
	if err != nil {
		res.Err = fmt.Errorf("apply log entry %d: %w", index, err)
		return res
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd.typ == cmdBatch {
		res.Errs = make([]error, len(cmd.sub))
		res.Stored = make([]*Instance, len(cmd.sub))
		// Each sub-command appends its changes to the batch's list, sized
		// for one change each (most change one instance) once the first
		// change comes: not an allocation per sub-command and the copies
		// of a growing list, nor any for a batch that changes nothing.
		var sub Result // each sub-command's, kept only in Errs and Stored
		for i := range cmd.sub {
			sub = Result{Index: index, Changed: res.Changed}
			c.apply(index, &cmd.sub[i], &sub)
			res.Changed = sub.Changed
			if n := len(res.Changed); n > 0 && cap(res.Changed) < len(cmd.sub) {
				res.Changed = slices.Grow(res.Changed, len(cmd.sub)-n)
			}
			res.Errs[i], res.Stored[i] = sub.Err, sub.stored
		}
		releaseSubs(cmd.sub)
	} else {
		c.apply(index, &cmd, res)
	}
	c.publish(index)
	return res
}

func (c *Catalog) apply(index uint64, cmd *command, res *Result) {
	c.expireTombstones(cmd.now)
	switch cmd.typ {
	case cmdRegister:
		c.register(index, cmd.now, cmd.inst, res)
	case cmdDeregister:
		c.deregister(cmd.service, cmd.id, cmd.now, res)
	case cmdStatus:
		c.setStatus(index, cmd.updates, cmd.now, res)
	case cmdReap:
		c.reap(cmd.ids, res)
	case cmdACLSet, cmdACLDelete, cmdACLBootstrap:
		c.applyACL(index, cmd, res)
	case cmdMaintenance:
		c.setMaintenance(index, cmd, res)
	}
}

func (c *Catalog) register(index uint64, now int64, inst Instance, res *Result) {
	if err := Validate(&inst, DevMinDeregisterAfter); err != nil {
		// The store names the operation ("register svc/id: ..."); the
		// catalog only says what is wrong, so that the answer says it once.
		res.Err = err
		return
	}
	if svc, ok := c.byID[inst.ID]; ok && svc != inst.Service {
		res.Err = fmt.Errorf("%w (service %s)", ErrConflict, svc)
		return
	}
	if v := c.services[inst.Service]; v != nil {
		inst.Service = v.Name // one string shared by the service's instances
	}
	stored := c.stored(inst.Service, inst.ID)
	var old Instance
	exists := stored != nil
	if exists {
		old = *stored
	}
	inst.Maintenance = ""
	inst.CriticalSince = 0
	if inst.Status == api.StatusCritical {
		inst.CriticalSince = now
		if exists && old.Status == api.StatusCritical {
			inst.CriticalSince = old.CriticalSince
		}
	}
	if exists {
		inst.CreateIndex = old.CreateIndex
		inst.Maintenance = old.Maintenance // only a maintenance command changes it
		if sameData(&old, &inst) {
			res.Instance, res.stored = old, stored
			return
		}
	} else {
		inst.CreateIndex = index
		c.byID[inst.ID] = inst.Service
		delete(c.tombs, inst.ID)
	}
	inst.ModifyIndex = index
	if exists {
		res.stored = c.put(&old, inst)
	} else {
		res.stored = c.put(nil, inst)
	}
	res.Instance = *res.stored
	res.Changed = append(res.Changed, Change{Kind: ChangeUpsert, Instance: inst})
}

func (c *Catalog) deregister(service, id string, now int64, res *Result) {
	service = lower(service)
	svc, ok := c.byID[id]
	if !ok {
		return
	}
	if service != "" && svc != service {
		res.Err = fmt.Errorf("%w (service %s)", ErrConflict, svc)
		return
	}
	old, _ := c.get(svc, id)
	c.remove(old)
	c.tombs[id] = now
	c.tombQ.Push(tomb{id: id, at: now})
	res.Changed = append(res.Changed, Change{Kind: ChangeRemove, Instance: old})
}

func (c *Catalog) setStatus(index uint64, updates []StatusUpdate, now int64, res *Result) {
	for i := range updates {
		if s := updates[i].Status; s != "" && !s.Valid() {
			res.Err = fmt.Errorf("status of %s: %w", updates[i].ID,
				invalid("status", "must be passing, warning or critical, got %q", s))
			return
		}
	}
	for i := range updates {
		u := &updates[i]
		svc, ok := c.byID[u.ID]
		if !ok {
			continue // expired or deregistered meanwhile: ignored
		}
		old, _ := c.get(svc, u.ID)
		next := old
		next.Status = u.Status
		if next.Status == "" {
			next.Status = api.StatusPassing
		}
		if !u.KeepOutput {
			next.Output = CleanOutput(u.Output)
		}
		switch {
		case next.Status != api.StatusCritical:
			next.CriticalSince = 0
		case old.Status != api.StatusCritical:
			next.CriticalSince = now
		}
		if sameData(&old, &next) {
			continue
		}
		next.ModifyIndex = index
		c.put(&old, next)
		res.Changed = append(res.Changed, Change{Kind: ChangeUpsert, Instance: next})
	}
}

// reap removes the instances that are still critical: the leader decided on
// state that may have changed since (a heartbeat turned one passing).
func (c *Catalog) reap(ids []string, res *Result) {
	for _, id := range ids {
		svc, ok := c.byID[id]
		if !ok {
			continue
		}
		old, _ := c.get(svc, id)
		if old.Status != api.StatusCritical {
			continue
		}
		c.remove(old)
		res.Changed = append(res.Changed, Change{Kind: ChangeRemove, Instance: old})
	}
}

// get finds an instance as the current Apply sees it.
func (c *Catalog) get(svc, id string) (Instance, bool) {
	if in := c.stored(svc, id); in != nil {
		return *in, true
	}
	return Instance{}, false
}

// stored is the instance as the current Apply sees it, shared with the
// views that hold it (never modify it); nil when there is none.
func (c *Catalog) stored(svc, id string) *Instance {
	if p := c.pend[svc]; p != nil {
		if in, ok := p.ch[id]; ok {
			return in // nil when removed
		}
	}
	return c.services[svc].find(id)
}

func (c *Catalog) pending(svc string) *pending {
	p := c.pend[svc]
	if p == nil {
		if n := len(c.free); n > 0 {
			p, c.free = c.free[n-1], c.free[:n-1]
		} else {
			p = &pending{ch: make(map[string]*Instance)}
		}
		c.pend[svc] = p
	}
	return p
}

func (c *Catalog) tally(svc string) *tally {
	t := c.tallies[svc]
	if t == nil {
		t = &tally{tags: make(map[string]int)}
		c.tallies[svc] = t
	}
	return t
}

// put stores inst, replacing old (nil for a new instance), and returns
// the stored copy.
func (c *Catalog) put(old *Instance, inst Instance) *Instance {
	p := c.pending(inst.Service)
	t := c.tally(inst.Service)
	t.share(&inst)
	if old != nil && t.add(old, -1) {
		p.tagsChanged = true
	}
	if t.add(&inst, 1) {
		p.tagsChanged = true
	}
	p.ch[inst.ID] = &inst
	return &inst
}

func (c *Catalog) remove(old Instance) {
	p := c.pending(old.Service)
	if c.tally(old.Service).add(&old, -1) {
		p.tagsChanged = true
	}
	p.ch[old.ID] = nil
	delete(c.byID, old.ID)
}

// publish makes a new view of every service the Apply changed (each in
// O(changes × log instances): the view shares the unchanged chunks), moves
// the indexes and wakes the watchers of what changed. Views are stored before the index so that a reader that
// loads the index first and then misses a view never answers a stale empty
// list at a new index.
func (c *Catalog) publish(index uint64) {
	var changed []string
	listChanged := false
	for name, p := range c.pend {
		old := c.services[name]
		tr, delta := applyPending(c.trees[name], &c.probe, p)
		n := delta
		if old != nil {
			n += old.n
		}
		t := c.tallies[name]
		sum := api.ServiceSummary{Name: name, Instances: n,
			Passing: t.passing, Warning: t.warning, Critical: t.critical}
		if p.tagsChanged || old == nil {
			sum.Tags = sortedKeys(t.tags)
		} else {
			sum.Tags = old.summary.Tags
		}
		if n == 0 {
			delete(c.tallies, name)
			delete(c.trees, name)
		} else {
			c.trees[name] = tr
		}
		v := &ServiceView{Name: name, Index: index, tree: cloneTree(tr), n: n, summary: sum}
		c.services[name] = v
		c.setView(name, v)
		changed = append(changed, name)
		wasListed := old != nil && old.n > 0
		isListed := n > 0
		if wasListed != isListed || isListed && !sameSummary(&old.summary, &v.summary) {
			listChanged = true
		}
		clear(p.ch)
		p.tagsChanged = false
		c.free = append(c.free, p)
	}
	clear(c.pend)
	if listChanged {
		c.listIndex = index
		c.list.Store(nil)
	}
	c.index.Store(index)
	if len(changed) > 0 {
		c.watch.fire(changed, listChanged)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Index is the last applied log index.
func (c *Catalog) Index() uint64 { return c.index.Load() }

// Service returns the view of one service; never nil. The name is matched
// case-insensitively. An unknown service gives an empty view whose index is
// the service-index table's entry for it or, if it never existed, the
// catalog's index.
func (c *Catalog) Service(name string) *ServiceView {
	name = lower(name)
	idx := c.index.Load() // before the lookup: see publish
	if s, ok := c.views.Load(name); ok {
		return s.(*viewSlot).v.Load()
	}
	return newServiceView(name, idx, nil)
}

// Services returns the view of the service list (services with at least
// one instance); never nil. Its index is that of the last change to the
// list: a service appearing or going, or a change of its counts or tags.
// The view is built on the first call after a change, in O(services).
func (c *Catalog) Services() *ServicesView {
	if v := c.list.Load(); v != nil {
		return v
	}
	c.listMu.Lock()
	defer c.listMu.Unlock()
	if v := c.list.Load(); v != nil {
		return v
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v := &ServicesView{Index: c.listIndex, Services: make([]api.ServiceSummary, 0, len(c.services))}
	for _, sv := range c.services {
		if sv.n > 0 {
			v.Services = append(v.Services, sv.summary)
		}
	}
	slices.SortFunc(v.Services, func(a, b api.ServiceSummary) int { return cmpString(a.Name, b.Name) })
	// Stored under the read lock: an Apply that invalidates the list
	// cannot run between building and storing.
	c.list.Store(v)
	return v
}

// Instance returns one instance by id (ids are unique across the catalog).
func (c *Catalog) Instance(id string) (Instance, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	svc, ok := c.byID[id]
	if !ok {
		return Instance{}, false
	}
	return c.services[svc].Get(id)
}

// Tombstoned reports whether id was deregistered at or after the given
// leader wall-clock time (unix nanoseconds): used to answer 410 to
// heartbeats within the tombstone period. Tombstones are dropped by the
// first command applied more than TombstonePeriod after them.
func (c *Catalog) Tombstoned(id string, since int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	at, ok := c.tombs[id]
	return ok && at >= since
}

// WatchService returns a channel closed at the next change to the service
// (its index moves). Take the channel before reading the view to miss nothing.
func (c *Catalog) WatchService(name string) <-chan struct{} {
	return c.watch.service(lower(name))
}

// WatchServices returns a channel closed at the next change to the service
// list (a service appears or goes, or counts by status or tags change).
func (c *Catalog) WatchServices() <-chan struct{} {
	return c.watch.services()
}

// WatchAny returns a channel closed at the next change to any service: what
// a query that reads across services (all instances on one address, all
// checks in one state) waits on. Take it before reading to miss nothing.
func (c *Catalog) WatchAny() <-chan struct{} {
	return c.watch.anyService()
}

// ForEachLeased calls fn for every instance that holds a lease (TTL > 0)
// and every critical instance with DeregisterAfter > 0; used to re-arm the
// lease table when a server becomes leader. fn runs under the catalog's read
// lock: it must not call Apply or Restore.
func (c *Catalog) ForEachLeased(fn func(Instance)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, v := range c.services {
		for in := range v.All() {
			if Leased(in) {
				fn(*in)
			}
		}
	}
}

// Leased reports whether the lease table tracks the instance: it has a TTL,
// or it is critical and will be removed after deregister_after.
func Leased(in *Instance) bool {
	return in.TTL > 0 || in.Status == api.StatusCritical && in.DeregisterAfter > 0
}

// expireTombstones drops the tombstones more than TombstonePeriod older
// than the command's time. Which ones go depends only on the commands, so
// every server drops the same.
func (c *Catalog) expireTombstones(now int64) {
	for c.tombQ.Len() > 0 && now-c.tombQ.Peek().at > int64(TombstonePeriod) {
		t := c.tombQ.Pop()
		if at, ok := c.tombs[t.id]; ok && at == t.at {
			delete(c.tombs, t.id)
		}
	}
}

type tomb struct {
	id string
	at int64
}

// tombBefore orders the tombstone queue by time (ties by id); entries whose
// id was registered or deregistered again since are skipped when popped.
func tombBefore(a, b tomb) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.id < b.id
}
