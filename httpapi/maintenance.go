package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rosterhq/roster/api"
)

// maintenance answers PUT /v1/services/{service}/instances/{id}/maintenance:
// it turns the instance's maintenance mode on or off and answers the
// instance as stored, with the index of the write.
func (h *Handler) maintenance(w http.ResponseWriter, r *http.Request) {
	if h.ForwardWrite(w, r) {
		return
	}
	name, err := serviceVar(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	var req api.MaintenanceRequest
	if err := h.decodeBody(w, r, &req, true); err != nil {
		h.writeError(w, err)
		return
	}
	if req.Enable == nil {
		h.writeError(w, invalidf("enable", "enable is required: true or false"))
		return
	}
	stored, index, err := h.store.SetMaintenance(r.Context(), name, mux.Vars(r)["id"], *req.Enable, req.Reason)
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), index)
	writeJSON(w, http.StatusOK, api.RegisterResponse{Instance: stored.ToAPI(), Index: index})
}
