package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// heartbeat answers PUT /v1/services/{service}/instances/{id}/heartbeat:
// 200 {"index"} when renewed, 404 when not registered (the client registers
// again), 410 when deregistered recently (the client stops). A follower
// gathers single heartbeats into batches for the leader.
func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	leader := h.store.IsLeader()
	if !leader && h.cfg.HeartbeatCoalesce < 0 {
		h.forward(w, r, forwardWrite, h.cfg.MaxBodyBytes, h.cfg.ForwardTimeout)
		return
	}
	if !leader && r.Header.Get(api.HeaderForwarded) != "" {
		h.writeError(w, errForwardedTwice)
		return
	}
	if h.rateLimited(w, r, h.writeLim, 1, "write requests") || h.rateLimited(w, r, h.hbLim, 1, "heartbeats") {
		return
	}
	name, err := serviceVar(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	var req api.HeartbeatRequest
	if err := h.decodeBody(w, r, &req, false); err != nil {
		h.writeError(w, err)
		return
	}
	if req.Status != "" && !req.Status.Valid() {
		h.writeError(w, invalidf("status", "status must be passing, warning or critical, not %q", req.Status))
		return
	}
	hb := api.BatchHeartbeat{Service: name, ID: mux.Vars(r)["id"], Status: req.Status, Output: req.Output}
	var res hbResult
	if leader {
		errs, index, err := h.heartbeatLocal(r.Context(), []api.BatchHeartbeat{hb})
		res = hbResult{index: index, err: err}
		if err == nil {
			res.err = errs[0]
		}
	} else {
		res = h.coal.submit(r.Context(), hb)
	}
	if res.err != nil {
		h.writeError(w, fmt.Errorf("heartbeat %s/%s: %w", hb.Service, hb.ID, res.err))
		return
	}
	h.setReadHeaders(w.Header(), res.index)
	writeJSON(w, http.StatusOK, api.WriteResult{Index: res.index})
}

// heartbeats answers PUT /v1/heartbeats: many renewals in one request.
func (h *Handler) heartbeats(w http.ResponseWriter, r *http.Request) {
	if h.forwardWrite(w, r) || h.rateLimited(w, r, h.writeLim, 1, "write requests") {
		return
	}
	var req api.HeartbeatsRequest
	if err := h.decodeBody(w, r, &req, true); err != nil {
		h.writeError(w, err)
		return
	}
	if h.rateLimited(w, r, h.hbLim, len(req.Instances), "heartbeats") {
		return
	}
	for i := range req.Instances {
		if err := normalizeBatchHeartbeat(&req.Instances[i], fmt.Sprintf("instances[%d].", i)); err != nil {
			h.writeError(w, err)
			return
		}
	}
	errs, index, err := h.heartbeatLocal(r.Context(), req.Instances)
	if err != nil {
		h.writeError(w, err)
		return
	}
	resp := api.HeartbeatsResponse{Missing: []api.InstanceRef{}}
	for i, e := range errs {
		ref := api.InstanceRef{Service: req.Instances[i].Service, ID: req.Instances[i].ID}
		switch {
		case e == nil:
			resp.Renewed++
		case errors.Is(e, registry.ErrNotFound):
			resp.Missing = append(resp.Missing, ref)
		case errors.Is(e, registry.ErrGone):
			resp.Gone = append(resp.Gone, ref)
		case errors.Is(e, acl.ErrDenied):
			resp.Denied = append(resp.Denied, ref)
		default:
			h.writeError(w, fmt.Errorf("heartbeat %s/%s: %w", ref.Service, ref.ID, e))
			return
		}
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, resp)
}

// normalizeBatchHeartbeat validates one renewal of a batch and lowercases
// its service; prefix names its place in the body for errors.
func normalizeBatchHeartbeat(hb *api.BatchHeartbeat, prefix string) error {
	name, err := serviceName(hb.Service, prefix+"service")
	if err != nil {
		return err
	}
	hb.Service = name
	if hb.ID == "" {
		return invalidf(prefix+"id", "id is required")
	}
	if hb.Status != "" && !hb.Status.Valid() {
		return invalidf(prefix+"status", "status must be passing, warning or critical, not %q", hb.Status)
	}
	return nil
}

// heartbeatLocal renews leases through the store on the leader. An id that
// the catalog holds under another service is not that service's instance:
// it answers ErrNotFound without reaching the lease table (which knows ids
// only).
func (h *Handler) heartbeatLocal(ctx context.Context, hbs []api.BatchHeartbeat) (errs []error, index uint64, err error) {
	cat := h.store.Catalog()
	errs = make([]error, len(hbs))
	mismatch := false
	for i := range hbs {
		if inst, ok := cat.Instance(hbs[i].ID); ok && inst.Service != hbs[i].Service {
			errs[i] = registry.ErrNotFound
			mismatch = true
		}
	}
	// pass is what goes to the store; pos maps its entries back to hbs when
	// mismatches were left out.
	pass, pos := hbs, []int(nil)
	if mismatch {
		pass = make([]api.BatchHeartbeat, 0, len(hbs))
		pos = make([]int, 0, len(hbs))
		for i := range hbs {
			if errs[i] == nil {
				pass = append(pass, hbs[i])
				pos = append(pos, i)
			}
		}
	}
	if len(pass) == 0 {
		return errs, cat.Index(), nil
	}
	perrs, index, err := h.store.Heartbeat(ctx, pass)
	if err != nil {
		return nil, 0, err
	}
	if len(perrs) != len(pass) {
		return nil, 0, fmt.Errorf("store answered %d results for %d heartbeats", len(perrs), len(pass))
	}
	for j, e := range perrs {
		i := j
		if pos != nil {
			i = pos[j]
		}
		errs[i] = e
	}
	return errs, index, nil
}
