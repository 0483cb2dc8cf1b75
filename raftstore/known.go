package raftstore

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// knownServersFile is the table of servers this one has seen, kept in the
// data dir so that a restarted server can rejoin and forward before gossip
// has told it anything.
const knownServersFile = "servers.json"

// knownServer is one server as last seen alive in gossip.
type knownServer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Gossip string `json:"gossip"`
	Raft   string `json:"raft"`
	HTTP   string `json:"http,omitempty"`
	DNS    string `json:"dns,omitempty"`
}

// knownServers is the persisted table of servers by Raft id: the gossip
// addresses a restarted server rejoins through (with --join and serf's own
// snapshot), and the HTTP addresses it forwards to while gossip has not
// yet caught up (design.md, "Rejoin"; "Forwarding never depends on gossip
// alone"). It is rewritten only when an entry changes.
type knownServers struct {
	path string // "" in dev: kept in memory only
	log  *slog.Logger

	mu   sync.Mutex
	byID map[string]knownServer
}

func loadKnownServers(dataDir string, log *slog.Logger) (*knownServers, error) {
	k := &knownServers{log: log, byID: map[string]knownServer{}}
	if dataDir == "" {
		return k, nil
	}
	k.path = filepath.Join(dataDir, knownServersFile)
	b, err := os.ReadFile(k.path)
	if os.IsNotExist(err) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.path, err)
	}
	var list []knownServer
	if err := json.Unmarshal(b, &list); err != nil {
		// A damaged table costs only the fast rejoin: --join and serf's
		// snapshot still work, and the next change rewrites it.
		log.Warn("ignoring an unreadable table of known servers", "file", k.path, "err", err)
		return k, nil
	}
	for _, s := range list {
		if s.ID != "" {
			k.byID[s.ID] = s
		}
	}
	return k, nil
}

// observe records the alive members and persists the table if it changed.
// An id whose name or Raft address a new id now holds (a wiped server came
// back) stays until the leader has replaced it in the configuration
// (forget): until then it is how the leader tells the old id from a
// stranger.
func (k *knownServers) observe(members []member) {
	k.mu.Lock()
	defer k.mu.Unlock()
	changed := false
	for _, m := range members {
		if m.State != stateAlive {
			continue
		}
		s := knownServer{ID: m.Meta.ID, Name: m.Name, Gossip: m.Addr, Raft: m.Meta.Raft, HTTP: m.Meta.HTTP, DNS: m.Meta.DNS}
		if k.byID[s.ID] == s {
			continue
		}
		k.byID[s.ID] = s
		changed = true
	}
	if changed {
		k.saveLocked()
	}
}

// forget drops servers that are no longer in the Raft configuration and
// not alive (removed for good).
func (k *knownServers) forget(keep func(id string) bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	changed := false
	for id := range k.byID {
		if !keep(id) {
			delete(k.byID, id)
			changed = true
		}
	}
	if changed {
		k.saveLocked()
	}
}

func (k *knownServers) saveLocked() {
	if k.path == "" {
		return
	}
	list := make([]knownServer, 0, len(k.byID))
	for _, s := range k.byID {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, err := json.MarshalIndent(list, "", "  ")
	if err == nil {
		err = writeFileAtomic(k.path, append(b, '\n'))
	}
	if err != nil {
		k.log.Warn("could not save the table of known servers; a restart rejoins through --join only", "file", k.path, "err", err)
	}
}

// get returns the server with a Raft id.
func (k *knownServers) get(id string) (knownServer, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.byID[id]
	return s, ok
}

// all returns every known server.
func (k *knownServers) all() []knownServer {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]knownServer, 0, len(k.byID))
	for _, s := range k.byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
