package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/api"
)

// clusterLeader answers GET /v1/cluster/leader.
func (h *Handler) clusterLeader(w http.ResponseWriter, r *http.Request) {
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, h.store.Leader())
}

// clusterMembers answers GET /v1/cluster/members, plain or blocking. Its
// X-Roster-Index is the member list's version (see readMembers): a blocking
// query returns as soon as the list differs from the version it names.
func (h *Handler) clusterMembers(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseListQuery(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	body, version := h.readMembers()
	if q.blocking && version == q.index {
		release, err := h.acquireWatch()
		if err != nil {
			h.writeError(w, err)
			return
		}
		defer release()
		h.members.addWaiter(1)
		defer h.members.addWaiter(-1)
		type members struct {
			body    []byte
			version uint64
		}
		m := waitFor(h, r, q.wait, h.members.watch, func() (members, bool) {
			b, v := h.readMembers()
			return members{b, v}, v != q.index
		})
		body, version = m.body, m.version
		defer h.writeDeadline(w, h.cfg.WriteTimeout)()
	}
	h.setReadHeaders(w.Header(), version)
	h.writeBody(w, http.StatusOK, append(body, '\n'))
}

// clusterRaft answers GET /v1/cluster/raft.
func (h *Handler) clusterRaft(w http.ResponseWriter, r *http.Request) {
	info := h.store.Raft()
	if info.Servers == nil {
		info.Servers = []api.RaftServer{}
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, info)
}

// clusterLeases answers GET /v1/cluster/leases (this server's lease table:
// on a follower it reports leader false and zero counts).
func (h *Handler) clusterLeases(w http.ResponseWriter, r *http.Request) {
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, h.store.Leases())
}

// clusterHealth answers GET /v1/cluster/health: every server as the
// leader's autopilot judges it. A follower forwards the request.
func (h *Handler) clusterHealth(w http.ResponseWriter, r *http.Request) {
	if !h.store.IsLeader() {
		h.forward(w, r, forwardRead, 0, h.cfg.ForwardTimeout)
		return
	}
	health, err := h.store.Health(r.Context())
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, health)
}

// leave answers PUT /v1/cluster/leave: this server leaves gracefully.
func (h *Handler) leave(w http.ResponseWriter, r *http.Request) {
	if err := h.store.Leave(r.Context()); err != nil {
		h.writeError(w, fmt.Errorf("leave: %w", err))
		return
	}
	h.log.Info("left the cluster on request", "remote", r.RemoteAddr)
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, struct {
		Left bool `json:"left"`
	}{true})
}

// removePeer answers DELETE /v1/cluster/raft/peers/{id} (forwarded to the
// leader).
func (h *Handler) removePeer(w http.ResponseWriter, r *http.Request) {
	if h.forwardWrite(w, r) {
		return
	}
	id := mux.Vars(r)["id"]
	if err := h.store.RemovePeer(r.Context(), id); err != nil {
		h.writeError(w, err) // the store's error already names the peer
		return
	}
	h.log.Info("removed raft peer on request", "peer", id, "remote", r.RemoteAddr)
	index := h.store.Catalog().Index()
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, struct {
		Removed string `json:"removed"`
		Index   uint64 `json:"index"`
	}{id, index})
}

// snapshotSave answers GET /v1/snapshot with a backup as a download. A
// failure before the first byte is an error answer; after it, the
// connection is aborted so that the client never keeps a truncated backup
// that looks whole.
func (h *Handler) snapshotSave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RestoreTimeout)
	defer cancel()
	defer h.writeDeadline(w, h.cfg.RestoreTimeout)()
	index := h.store.Catalog().Index()
	hdr := w.Header()
	hdr["Content-Type"] = octetStreamHdr
	hdr["Content-Disposition"] = []string{`attachment; filename="roster-` + strconv.FormatUint(index, 10) + `.snap"`}
	h.setReadHeaders(hdr, index)
	cw := &countingWriter{w: w}
	if err := h.store.Backup(ctx, cw); err != nil {
		if cw.n == 0 {
			delete(hdr, "Content-Disposition")
			h.writeError(w, fmt.Errorf("backup: %w", err))
			return
		}
		h.log.Error("backup failed mid-stream; aborting the download", "written", cw.n, "err", err)
		panic(http.ErrAbortHandler)
	}
	h.log.Info("backup downloaded", "bytes", cw.n, "index", index, "remote", r.RemoteAddr)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// snapshotRestore answers PUT /v1/snapshot: the body replaces the catalog
// (at the leader; a follower forwards it). One restore at a time per
// server: the next answers 409 with Retry-After.
func (h *Handler) snapshotRestore(w http.ResponseWriter, r *http.Request) {
	release, err := h.restoreGate(w, r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	defer release()
	if !h.store.IsLeader() {
		h.forward(w, r, forwardWrite, h.cfg.MaxRestoreBytes, h.cfg.RestoreTimeout)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RestoreTimeout)
	defer cancel()
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxRestoreBytes)
	if err := h.store.Restore(ctx, body); err != nil {
		h.writeError(w, fmt.Errorf("restore: %w", err))
		return
	}
	index := h.store.Catalog().Index()
	h.log.Info("catalog restored from backup", "index", index, "remote", r.RemoteAddr)
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, api.WriteResult{Index: index})
}

// livez answers GET /livez: the process serves HTTP.
func (h *Handler) livez(w http.ResponseWriter, r *http.Request) {
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, struct {
		Live bool `json:"live"`
	}{true})
}

// readyz answers GET /readyz from Store.Ready.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := h.store.Ready(); err != nil {
		h.writeError(w, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: err.Error()})
		return
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, struct {
		Ready bool `json:"ready"`
	}{true})
}
