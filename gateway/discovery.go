package gateway

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

// route is a Route in the routing table with its pool. A table holds
// immutable routes; a rebuild makes new ones around the same pools.
type route struct {
	Route
	name     string // host+prefix: the metric label and /healthz name
	static   bool   // from Config.Routes, not from tags
	pool     *pool
	counters routeCounters
}

// discovery keeps the routing table current: one watch per service that a
// configured route names or whose instances carry gateway tags, and a
// blocking query on the service list to find the latter.
type discovery struct {
	g      *Gateway
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// tagsReady is closed once the service list has been read and every
	// tagged service then known has delivered its first instance list
	// (closed at once without tag routes).
	tagsReady chan struct{}

	mu       sync.Mutex // guards what follows; a rebuild holds it throughout
	watches  map[string]*serviceWatch
	backends map[string]*backend
	services map[string]*serviceState
	pools    map[string]*pool // by route key and service
	warned   map[string]bool  // tag problems already logged
}

// serviceWatch follows one service's instances (every status: a route
// whose instances are all critical answers 503, not 404).
type serviceWatch struct {
	service string
	static  bool // a configured route names it
	tagged  bool // its instances carry gateway tags
	w       *client.Watcher
	stop    context.CancelFunc
	list    *api.InstanceList // latest, under discovery.mu
	built   chan struct{}     // closed once the first list is in the table
}

func newDiscovery(g *Gateway) *discovery {
	ctx, cancel := context.WithCancel(context.Background())
	return &discovery{
		g: g, ctx: ctx, cancel: cancel,
		tagsReady: make(chan struct{}),
		watches:   map[string]*serviceWatch{},
		backends:  map[string]*backend{},
		services:  map[string]*serviceState{},
		pools:     map[string]*pool{},
		warned:    map[string]bool{},
	}
}

func (d *discovery) start() {
	d.mu.Lock()
	for _, r := range d.g.cfg.Routes {
		d.watchLocked(r.Service).static = true
	}
	d.rebuildLocked()
	d.mu.Unlock()
	if d.g.cfg.NoTagRoutes {
		close(d.tagsReady)
		return
	}
	d.wg.Add(1)
	go d.followServices()
}

// stop ends every watch and waits for the goroutines.
func (d *discovery) stop() {
	d.cancel()
	d.mu.Lock()
	ws := make([]*serviceWatch, 0, len(d.watches))
	for _, sw := range d.watches {
		ws = append(ws, sw)
	}
	d.mu.Unlock()
	for _, sw := range ws {
		sw.w.Stop()
	}
	d.wg.Wait()
	d.mu.Lock()
	for _, b := range d.backends {
		b.closeIdle()
	}
	d.mu.Unlock()
}

// watchLocked returns the service's watch, starting it if needed.
func (d *discovery) watchLocked(service string) *serviceWatch {
	if sw, ok := d.watches[service]; ok {
		return sw
	}
	ctx, cancel := context.WithCancel(d.ctx)
	sw := &serviceWatch{
		service: service,
		stop:    cancel,
		built:   make(chan struct{}),
		w:       d.g.client.Watch(ctx, service, &client.WatchOptions{Status: "any", MaxBackoff: 2 * time.Second}),
	}
	d.watches[service] = sw
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		first := true
		for list := range sw.w.Updates() {
			d.mu.Lock()
			if d.watches[service] == sw {
				sw.list = list
				d.rebuildLocked()
			}
			d.mu.Unlock()
			if first {
				close(sw.built)
				first = false
			}
		}
	}()
	return sw
}

// followServices watches the service list for services whose instances
// carry gateway tags, and starts or stops their watches.
func (d *discovery) followServices() {
	defer d.wg.Done()
	var index uint64
	first := true
	failures, backwards := 0, 0
	for {
		start := time.Now()
		list, err := d.g.client.WaitServices(d.ctx, index, time.Minute)
		if d.ctx.Err() != nil {
			return
		}
		delay := time.Duration(0)
		switch {
		case err != nil:
			failures++
			delay = min(250*time.Millisecond<<min(failures-1, 3), 2*time.Second)
		case list.Index < index && backwards < 3:
			// A lagging server we failed over to: ask again rather than
			// step back in time (three times in a row: the cluster was
			// replaced, take its word).
			backwards++
			delay = 250 * time.Millisecond
		default:
			failures, backwards = 0, 0
			if first || list.Index != index {
				d.applyServices(list, first)
				first = false
			} else if time.Since(start) < 50*time.Millisecond {
				delay = 250 * time.Millisecond // an answer at once with no change must not spin
			}
			index = list.Index
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-d.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func hasGatewayTag(tags []string) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, tagPrefix) {
			return true
		}
	}
	return false
}

func (d *discovery) applyServices(list *api.ServiceList, first bool) {
	tagged := map[string]bool{}
	for _, s := range list.Services {
		if hasGatewayTag(s.Tags) {
			tagged[strings.ToLower(s.Name)] = true
		}
	}
	var fresh []*serviceWatch
	d.mu.Lock()
	changed := false
	for name := range tagged {
		sw, ok := d.watches[name]
		if !ok {
			sw = d.watchLocked(name)
		}
		if !sw.tagged {
			// Newly tagged: a watch already running (a configured route's)
			// has its list in hand and needs a rebuild to read its tags.
			sw.tagged = true
			fresh = append(fresh, sw)
			changed = changed || ok
		}
	}
	for name, sw := range d.watches {
		if tagged[name] || !sw.tagged {
			continue
		}
		sw.tagged = false
		if !sw.static {
			sw.stop()
			delete(d.watches, name)
			changed = true
		}
	}
	if changed {
		d.rebuildLocked()
	}
	d.mu.Unlock()
	if !first {
		return
	}
	// The first table with tag routes is complete once their services'
	// first lists are in (each rebuilds as it arrives).
	ctx, cancel := context.WithTimeout(d.ctx, d.g.cfg.ResolveTimeout)
	defer cancel()
	for _, sw := range fresh {
		select {
		case <-sw.built:
		case <-ctx.Done():
		}
	}
	close(d.tagsReady)
}

// rebuildLocked recomputes backends, pools and the routing table from the
// latest lists. Backends that left are drained; the table is swapped
// whole.
func (d *discovery) rebuildLocked() {
	g := d.g
	// Backends: every non-critical instance of every watched service.
	want := map[string]*api.Instance{}
	byService := map[string][]*backend{}
	for name, sw := range d.watches {
		if sw.list == nil {
			continue
		}
		svc := d.services[name]
		if svc == nil {
			svc = &serviceState{name: name}
			d.services[name] = svc
		}
		for i := range sw.list.Instances {
			inst := &sw.list.Instances[i]
			if inst.Status == api.StatusCritical {
				continue
			}
			k := backendKey(inst)
			want[k] = inst
			b := d.backends[k]
			if b == nil {
				b = newBackend(g, inst, svc)
				d.backends[k] = b
			}
			b.weight.Store(int64(max(inst.Weight, 1)))
			byService[name] = append(byService[name], b)
		}
	}
	for k, b := range d.backends {
		if want[k] == nil {
			delete(d.backends, k)
			b.retire(g.log)
			g.metrics.forgetBackend(b)
		}
	}
	for name, svc := range d.services {
		if _, ok := d.watches[name]; !ok {
			delete(d.services, name)
			continue
		}
		live := byService[name]
		sort.Slice(live, func(i, j int) bool { return live[i].key < live[j].key })
		svc.setLive(live)
	}

	// Routes: the configured ones, then those from tags where no
	// configured route holds the same host and prefix.
	type wanted struct {
		r       Route
		static  bool
		members []*backend
		ready   bool
	}
	routes := map[string]*wanted{}
	for _, r := range g.cfg.Routes {
		sw := d.watches[r.Service]
		routes[r.key()] = &wanted{r: r, static: true, members: byService[r.Service], ready: sw != nil && sw.list != nil}
	}
	names := make([]string, 0, len(d.watches))
	for name, sw := range d.watches {
		if sw.tagged && sw.list != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		insts := slices.Clone(d.watches[name].list.Instances)
		sort.Slice(insts, func(i, j int) bool { return insts[i].ID < insts[j].ID })
		for i := range insts {
			inst := &insts[i]
			rs, errs := tagRoutes(name, inst.Tags)
			for _, err := range errs {
				d.warnOnce("tag:"+inst.ID+err.Error(), "gateway ignores a malformed tag", "service", name, "instance", inst.ID, "err", err)
			}
			for _, r := range rs {
				w := routes[r.key()]
				switch {
				case w == nil:
					w = &wanted{r: r, ready: true}
					routes[r.key()] = w
				case w.static:
					d.warnOnce("static:"+r.key()+name, "gateway route from tags shadowed by a configured route", "route", r.key(), "service", name)
					continue
				case w.r.Service != name:
					d.warnOnce("dup:"+r.key()+name, "gateway route claimed by two services; the first by name wins",
						"route", r.key(), "service", w.r.Service, "ignored", name)
					continue
				}
				if inst.Status != api.StatusCritical {
					if b := d.backends[backendKey(inst)]; b != nil {
						w.members = append(w.members, b)
					}
				}
			}
		}
	}

	keep := map[string]bool{}
	all := make([]*route, 0, len(routes))
	for k, w := range routes {
		pk := k + "=" + w.r.Service
		keep[pk] = true
		p := d.pools[pk]
		if p == nil {
			p = newPool(k, w.r.Service, g.cfg.Balance)
			d.pools[pk] = p
			g.log.Info("gateway route added", "route", k, "service", w.r.Service, "strip", w.r.Strip, "static", w.static)
		}
		for _, m := range p.setMembers(w.members, g.metrics) {
			g.metrics.forget(p, m)
		}
		if w.ready {
			p.markReady()
		}
		all = append(all, &route{Route: w.r, name: k, static: w.static, pool: p, counters: g.metrics.newRouteCounters(k, w.r.Service)})
	}
	for pk, p := range d.pools {
		if !keep[pk] {
			delete(d.pools, pk)
			g.metrics.forgetRoute(p)
			g.log.Info("gateway route removed", "route", p.name, "service", p.service)
		}
	}
	g.table.Store(newTable(all))
}

func (d *discovery) warnOnce(key, msg string, args ...any) {
	if d.warned[key] {
		return
	}
	d.warned[key] = true
	d.g.log.Warn(msg, args...)
}
