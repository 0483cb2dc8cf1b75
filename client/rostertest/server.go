// Package rostertest runs an in-memory fake of a Roster server's native HTTP
// API for tests of code built on the client: registration, TTL leases and
// heartbeats (single and batched), tombstones, lookups with blocking
// queries, the service list and the cluster endpoints, plus switches to
// inject faults (no leader, forgotten instances). It is not replicated and
// keeps nothing on disk.
package rostertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/api"
)

// tombstoneFor is how long a deregistered id answers 410 to heartbeats.
const tombstoneFor = 10 * time.Minute

// Server is a fake Roster server listening on 127.0.0.1.
type Server struct {
	mux  *http.ServeMux
	addr string

	srvMu sync.Mutex
	srv   *httptest.Server
	down  chan struct{} // closed when the current listener stops

	unavailable atomic.Bool
	requests    sync.Map // "METHOD /pattern" -> *atomic.Int64

	mu         sync.Mutex
	index      uint64
	insts      map[string]*entry // by id
	svcIndex   map[string]uint64
	tombstones map[string]time.Time
	changed    chan struct{} // closed and replaced on every change

	stop chan struct{}
	done chan struct{}
}

type entry struct {
	inst    api.Instance
	ttl     time.Duration
	dereg   time.Duration
	renewed time.Time
	critAt  time.Time
}

// NewServer starts a fake server. Close it when done (t.Cleanup).
func NewServer() *Server {
	s := &Server{
		insts:      make(map[string]*entry),
		svcIndex:   make(map[string]uint64),
		tombstones: make(map[string]time.Time),
		changed:    make(chan struct{}),
		index:      1,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	mux := http.NewServeMux()
	s.handle(mux, "PUT /v1/services/{service}/instances/{id}", s.register)
	s.handle(mux, "DELETE /v1/services/{service}/instances/{id}", s.deregister)
	s.handle(mux, "GET /v1/services/{service}/instances/{id}", s.instance)
	s.handle(mux, "PUT /v1/services/{service}/instances/{id}/heartbeat", s.heartbeat)
	s.handle(mux, "PUT /v1/heartbeats", s.heartbeats)
	s.handle(mux, "GET /v1/services/{service}/instances", s.list)
	s.handle(mux, "GET /v1/services", s.services)
	s.handle(mux, "GET /v1/cluster/leader", s.leader)
	s.handle(mux, "GET /v1/cluster/members", s.members)
	s.handle(mux, "GET /v1/cluster/raft", s.raft)
	s.handle(mux, "GET /v1/cluster/leases", s.leases)
	s.handle(mux, "GET /v1/snapshot", s.snapshotSave)
	s.handle(mux, "PUT /v1/snapshot", s.snapshotRestore)
	s.handle(mux, "PUT /v1/cluster/leave", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Index(), api.WriteResult{Index: s.Index()})
	})
	s.handle(mux, "DELETE /v1/cluster/raft/peers/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Index(), api.WriteResult{Index: s.Index()})
	})
	s.handle(mux, "GET /readyz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux = mux
	s.start(nil)
	s.addr = s.srv.Listener.Addr().String()
	go s.expireLoop()
	return s
}

func (s *Server) start(l net.Listener) {
	srv := httptest.NewUnstartedServer(s.mux)
	if l != nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	s.srvMu.Lock()
	s.srv, s.down = srv, make(chan struct{})
	s.srvMu.Unlock()
	srv.Start()
}

// Addr is the server's "host:port"; it stays the same across Stop and Start.
func (s *Server) Addr() string { return s.addr }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Stop closes the listener and every connection, as a crashed server
// does; the catalog is kept. Calls fail with connection refused until Start.
func (s *Server) Stop() {
	s.srvMu.Lock()
	srv, down := s.srv, s.down
	s.srv = nil
	s.srvMu.Unlock()
	if srv == nil {
		return
	}
	close(down)
	srv.CloseClientConnections()
	srv.Close()
}

// Start listens again on the same address after Stop.
func (s *Server) Start() error {
	s.srvMu.Lock()
	running := s.srv != nil
	s.srvMu.Unlock()
	if running {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("rostertest: listen again on %s: %w", s.addr, err)
	}
	s.start(l)
	return nil
}

// Close stops the server and its expiry loop.
func (s *Server) Close() {
	close(s.stop)
	<-s.done
	s.Stop()
}

func (s *Server) downCh() <-chan struct{} {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.down == nil {
		return s.stop
	}
	return s.down
}

// SetUnavailable makes every API call answer 503 no_leader with
// Retry-After: 1 (an election in progress) until called with false.
func (s *Server) SetUnavailable(v bool) { s.unavailable.Store(v) }

// Requests returns how many requests matched the route pattern, e.g.
// "PUT /v1/heartbeats".
func (s *Server) Requests(pattern string) int64 {
	if v, ok := s.requests.Load(pattern); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Index returns the current catalog index.
func (s *Server) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// Get returns an instance by id.
func (s *Server) Get(id string) (api.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.insts[id]
	if !ok {
		return api.Instance{}, false
	}
	return e.inst, true
}

// Forget removes an instance without a tombstone, as an expiry followed by
// deregister_after (or a restore) does: its next heartbeat answers 404.
func (s *Server) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.insts[id]; ok {
		delete(s.insts, id)
		s.bump(e.inst.Service)
	}
}

// Deregister removes an instance as an operator does, tombstoning its id:
// its next heartbeat answers 410.
func (s *Server) Deregister(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deregisterLocked(id)
}

func (s *Server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	counter := &atomic.Int64{}
	s.requests.Store(pattern, counter)
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		counter.Add(1)
		if s.unavailable.Load() && !strings.HasPrefix(pattern, "GET /readyz") {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, api.CodeNoLeader, "no leader", "")
			return
		}
		h(w, r)
	})
}

// bump records a change of service at a new index. Callers hold s.mu.
func (s *Server) bump(service string) {
	s.index++
	s.svcIndex[service] = s.index
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	service, id := strings.ToLower(r.PathValue("service")), r.PathValue("id")
	var req api.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad JSON: "+err.Error(), "")
		return
	}
	if !validName(service) {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "service names are 1-63 letters, digits and hyphens", "service")
		return
	}
	if req.Address == "" {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "invalid address: must not be empty", "address")
		return
	}
	if req.Port < 0 || req.Port > 65535 {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "port out of range", "port")
		return
	}
	var ttl, dereg time.Duration
	var err error
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl < 100*time.Millisecond || ttl > 10*time.Minute {
			writeError(w, http.StatusBadRequest, api.CodeInvalid, "ttl must be a duration up to 10m", "ttl")
			return
		}
	}
	if req.DeregisterAfter != "" {
		if dereg, err = time.ParseDuration(req.DeregisterAfter); err != nil || dereg <= 0 {
			writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad deregister_after", "deregister_after")
			return
		}
	}
	status := req.Status
	if status == "" {
		status = api.StatusPassing
	}
	if !status.Valid() {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad status", "status")
		return
	}
	weight := 1
	if req.Weight != nil {
		weight = *req.Weight
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.insts[id]; ok && e.inst.Service != service {
		writeError(w, http.StatusConflict, api.CodeConflict, "id held by service "+e.inst.Service, "id")
		return
	}
	delete(s.tombstones, id)
	inst := api.Instance{
		Service: service, ID: id, Address: req.Address, Port: req.Port,
		Tags: nonNil(req.Tags), Meta: req.Meta, Weight: weight, Status: status, Output: req.Output,
		TTL: req.TTL, DeregisterAfter: req.DeregisterAfter,
	}
	if inst.Meta == nil {
		inst.Meta = map[string]string{}
	}
	old, ok := s.insts[id]
	if ok && sameInstance(old.inst, inst) {
		old.renewed = time.Now()
		writeJSON(w, s.index, api.RegisterResponse{Instance: old.inst, Index: old.inst.ModifyIndex})
		return
	}
	s.bump(service)
	inst.ModifyIndex = s.index
	inst.CreateIndex = s.index
	if ok {
		inst.CreateIndex = old.inst.CreateIndex
	}
	s.insts[id] = &entry{inst: inst, ttl: ttl, dereg: dereg, renewed: time.Now()}
	writeJSON(w, s.index, api.RegisterResponse{Instance: inst, Index: s.index})
}

func sameInstance(a, b api.Instance) bool {
	a.CreateIndex, a.ModifyIndex = 0, 0
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return string(aj) == string(bj)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func validName(n string) bool {
	if len(n) == 0 || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) deregisterLocked(id string) {
	s.tombstones[id] = time.Now()
	if e, ok := s.insts[id]; ok {
		delete(s.insts, id)
		s.bump(e.inst.Service)
	}
}

func (s *Server) deregister(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deregisterLocked(r.PathValue("id"))
	writeJSON(w, s.index, api.WriteResult{Index: s.index})
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.insts[r.PathValue("id")]
	if !ok || e.inst.Service != strings.ToLower(r.PathValue("service")) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "instance not registered", "")
		return
	}
	writeJSON(w, s.index, e.inst)
}

// renew applies one heartbeat; callers hold s.mu. It returns 0, 404 or 410.
func (s *Server) renew(hb api.BatchHeartbeat) int {
	e, ok := s.insts[hb.ID]
	if !ok || e.inst.Service != strings.ToLower(hb.Service) {
		if t, ok := s.tombstones[hb.ID]; ok && time.Since(t) < tombstoneFor {
			return http.StatusGone
		}
		return http.StatusNotFound
	}
	e.renewed = time.Now()
	status := hb.Status
	if status == "" {
		status = api.StatusPassing
	}
	if status != e.inst.Status || hb.Output != e.inst.Output {
		if status != api.StatusCritical {
			e.critAt = time.Time{}
		}
		e.inst.Status, e.inst.Output = status, hb.Output
		s.bump(e.inst.Service)
		e.inst.ModifyIndex = s.index
	}
	return 0
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req api.HeartbeatRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad JSON", "")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.renew(api.BatchHeartbeat{Service: r.PathValue("service"), ID: r.PathValue("id"), Status: req.Status, Output: req.Output}) {
	case http.StatusGone:
		writeError(w, http.StatusGone, api.CodeGone, "instance was deregistered", "")
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, api.CodeNotFound, "instance not registered", "")
	default:
		writeJSON(w, s.index, api.WriteResult{Index: s.index})
	}
}

func (s *Server) heartbeats(w http.ResponseWriter, r *http.Request) {
	var req api.HeartbeatsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad JSON", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := api.HeartbeatsResponse{Missing: []api.InstanceRef{}}
	for _, hb := range req.Instances {
		switch s.renew(hb) {
		case http.StatusGone:
			out.Gone = append(out.Gone, api.InstanceRef{Service: hb.Service, ID: hb.ID})
		case http.StatusNotFound:
			out.Missing = append(out.Missing, api.InstanceRef{Service: hb.Service, ID: hb.ID})
		default:
			out.Renewed++
		}
	}
	writeJSON(w, s.index, out)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	service := strings.ToLower(r.PathValue("service"))
	q := r.URL.Query()
	status, tag := q.Get("status"), q.Get("tag")
	if q.Has("index") {
		idx, err := strconv.ParseUint(q.Get("index"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad index", "index")
			return
		}
		wait := 5 * time.Minute
		if q.Get("wait") != "" {
			if wait, err = time.ParseDuration(q.Get("wait")); err != nil {
				writeError(w, http.StatusBadRequest, api.CodeInvalid, "bad wait", "wait")
				return
			}
		}
		down := s.downCh()
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			s.mu.Lock()
			cur, ch := s.serviceIndex(service), s.changed
			s.mu.Unlock()
			if cur > idx || idx > s.Index() {
				break
			}
			select {
			case <-ch:
				continue
			case <-timer.C:
			case <-r.Context().Done():
				return
			case <-s.stop:
			case <-down:
			}
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := api.InstanceList{Service: service, Index: s.serviceIndex(service), Instances: []api.Instance{}}
	for _, e := range s.insts {
		if e.inst.Service != service || !statusMatches(e.inst.Status, status) || tag != "" && !hasTag(e.inst.Tags, tag) {
			continue
		}
		list.Instances = append(list.Instances, e.inst)
	}
	sort.Slice(list.Instances, func(i, j int) bool { return list.Instances[i].ID < list.Instances[j].ID })
	writeJSON(w, list.Index, list)
}

// serviceIndex is the index of the service's last change. A service never
// seen answers the current index, which is then kept for it, so that its
// watchers wait for that service alone. Callers hold s.mu.
func (s *Server) serviceIndex(service string) uint64 {
	if i, ok := s.svcIndex[service]; ok {
		return i
	}
	s.svcIndex[service] = s.index
	return s.index
}

func statusMatches(st api.Status, filter string) bool {
	switch filter {
	case "", "healthy":
		return st == api.StatusPassing || st == api.StatusWarning
	case "any":
		return true
	}
	return string(st) == filter
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*api.ServiceSummary{}
	tags := map[string]map[string]bool{}
	for _, e := range s.insts {
		sum, ok := by[e.inst.Service]
		if !ok {
			sum = &api.ServiceSummary{Name: e.inst.Service, Tags: []string{}}
			by[e.inst.Service] = sum
			tags[e.inst.Service] = map[string]bool{}
		}
		sum.Instances++
		switch e.inst.Status {
		case api.StatusPassing:
			sum.Passing++
		case api.StatusWarning:
			sum.Warning++
		case api.StatusCritical:
			sum.Critical++
		}
		for _, t := range e.inst.Tags {
			if !tags[e.inst.Service][t] {
				tags[e.inst.Service][t] = true
				sum.Tags = append(sum.Tags, t)
			}
		}
	}
	out := api.ServiceList{Index: s.index, Services: []api.ServiceSummary{}}
	for _, sum := range by {
		sort.Strings(sum.Tags)
		out.Services = append(out.Services, *sum)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Name < out.Services[j].Name })
	writeJSON(w, s.index, out)
}

func (s *Server) self() api.Member {
	return api.Member{Name: "fake", ID: "fake-1", HTTPAddr: s.Addr(), RaftAddr: s.Addr(), GossipAddr: s.Addr(), State: "alive", RaftRole: "leader", Version: "test"}
}

func (s *Server) leader(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Index(), api.Leader{ID: "fake-1", RaftAddr: s.Addr(), HTTPAddr: s.Addr(), Known: true, LastContact: "0s"})
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Index(), api.MemberList{Members: []api.Member{s.self()}})
}

func (s *Server) raft(w http.ResponseWriter, r *http.Request) {
	idx := s.Index()
	writeJSON(w, idx, api.RaftInfo{
		Servers: []api.RaftServer{{ID: "fake-1", Address: s.Addr(), Suffrage: "voter", Leader: true}},
		Index:   idx, State: "leader", Term: 1, CommitIndex: idx, AppliedIndex: idx, LastContact: "0s",
	})
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := 0
	for _, e := range s.insts {
		if e.ttl > 0 {
			n++
		}
	}
	idx := s.index
	s.mu.Unlock()
	writeJSON(w, idx, api.LeaseState{Leader: true, Armed: true, Leases: n})
}

// snapshot is the fake's backup format: the instances as JSON.
type snapshot struct {
	Index     uint64         `json:"index"`
	Instances []api.Instance `json:"instances"`
}

func (s *Server) snapshotSave(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	snap := snapshot{Index: s.index, Instances: []api.Instance{}}
	for _, e := range s.insts {
		snap.Instances = append(snap.Instances, e.inst)
	}
	s.mu.Unlock()
	sort.Slice(snap.Instances, func(i, j int) bool { return snap.Instances[i].ID < snap.Instances[j].ID })
	body, _ := json.Marshal(snap)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (s *Server) snapshotRestore(w http.ResponseWriter, r *http.Request) {
	var snap snapshot
	if err := json.NewDecoder(r.Body).Decode(&snap); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "not a backup: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.insts
	s.insts = make(map[string]*entry)
	for _, in := range snap.Instances {
		ttl, _ := time.ParseDuration(in.TTL)
		dereg, _ := time.ParseDuration(in.DeregisterAfter)
		s.insts[in.ID] = &entry{inst: in, ttl: ttl, dereg: dereg, renewed: time.Now()}
	}
	for _, e := range old {
		s.bump(e.inst.Service)
	}
	for _, in := range snap.Instances {
		s.bump(in.Service)
	}
	writeJSON(w, s.index, api.WriteResult{Index: s.index})
}

// expireLoop turns instances whose lease ran out critical and removes
// those critical for longer than their deregister_after.
func (s *Server) expireLoop() {
	defer close(s.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for id, e := range s.insts {
				if e.ttl == 0 {
					continue
				}
				if e.inst.Status != api.StatusCritical && now.Sub(e.renewed) > e.ttl {
					e.inst.Status, e.inst.Output = api.StatusCritical, "TTL expired"
					e.critAt = now
					s.bump(e.inst.Service)
					e.inst.ModifyIndex = s.index
				}
				if e.inst.Status == api.StatusCritical && e.dereg > 0 && !e.critAt.IsZero() && now.Sub(e.critAt) > e.dereg {
					delete(s.insts, id)
					s.bump(e.inst.Service)
				}
			}
			s.mu.Unlock()
		}
	}
}

func writeJSON(w http.ResponseWriter, index uint64, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.HeaderIndex, strconv.FormatUint(index, 10))
	w.Header().Set(api.HeaderKnownLeader, "true")
	w.Header().Set(api.HeaderLastContact, "0")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Message: msg, Code: code, Field: field})
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("rostertest.Server(%s)", s.Addr()) }
