package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/acl"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/lease"
	"github.com/rosterhq/roster/registry"
)

// heartbeat answers PUT /v1/services/{service}/instances/{id}/heartbeat:
// 200 {"index"} when renewed, 404 when not registered (the client registers
// again), 410 when deregistered recently (the client stops). A follower
// gathers single heartbeats into batches for the leader.
func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	leader := h.store.IsLeader()
	if !leader && (h.cfg.HeartbeatCoalesce < 0 || h.cfg.ACL.Resolver != nil) {
		// The coalescer's batches carry no token: with ACLs, a heartbeat
		// is forwarded as any write is, with its caller's own.
		h.forwardWrite(w, r)
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
	hb := api.BatchHeartbeat{Service: name, ID: mux.Vars(r)["id"], Status: req.Status, Output: req.Output}
	if err := checkHeartbeat(hb, ""); err != nil {
		h.writeError(w, err)
		return
	}
	var res hbResult
	if leader {
		errs, index, err := h.store.Heartbeat(r.Context(), []api.BatchHeartbeat{hb})
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
	if h.ForwardWrite(w, r) {
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
	errs, index, err := h.store.Heartbeat(r.Context(), req.Instances)
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

// normalizeBatchHeartbeat checks one renewal of a batch and lowercases its
// service; prefix names its place in the body for errors.
func normalizeBatchHeartbeat(hb *api.BatchHeartbeat, prefix string) error {
	name, err := serviceName(hb.Service, prefix+"service")
	if err != nil {
		return err
	}
	hb.Service = name
	return checkHeartbeat(*hb, prefix)
}

// checkHeartbeat refuses early, as a 400 naming the field under prefix, a
// heartbeat the lease table's rule would refuse whatever the catalog holds
// (lease.CheckHeartbeat): a follower checks before gathering heartbeats
// into a batch, so one bad heartbeat never fails the others.
func checkHeartbeat(hb api.BatchHeartbeat, prefix string) error {
	var ve *registry.ValidationError
	if err := lease.CheckHeartbeat(hb); errors.As(err, &ve) {
		return invalidf(prefix+ve.Field, "invalid %s%s: %s", prefix, ve.Field, ve.Reason)
	} else if err != nil {
		return err
	}
	return nil
}
