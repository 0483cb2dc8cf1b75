package httpapi

import (
	"context"
	"net/http"

	"github.com/rosterhq/roster/api"
)

// KeyringStore is the gossip key manager (serf's) as the keyring endpoints
// use it.
type KeyringStore interface {
	GossipKeyring(ctx context.Context) (api.Keyring, error)
	GossipKeyringChange(ctx context.Context, op, key string) (api.Keyring, error)
}

var errNoKeyring = &apiError{status: http.StatusNotFound, code: codeNotFound, msg: "this server has no gossip key manager"}

// keyringList answers GET /v1/cluster/keyring: every gossip key and on how
// many servers it is installed and primary (operator:write: keys are secrets).
func (h *Handler) keyringList(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Keyring == nil {
		h.writeError(w, errNoKeyring)
		return
	}
	kr, err := h.cfg.Keyring.GossipKeyring(r.Context())
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, kr)
}

// keyringChange answers PUT /v1/cluster/keyring {"op":"install|use|remove","key"}:
// the change goes to every server through gossip; the answer counts the
// servers holding each key afterwards.
func (h *Handler) keyringChange(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Keyring == nil {
		h.writeError(w, errNoKeyring)
		return
	}
	var req api.KeyringRequest
	if err := h.decodeBody(w, r, &req, true); err != nil {
		h.writeError(w, err)
		return
	}
	kr, err := h.cfg.Keyring.GossipKeyringChange(r.Context(), req.Op, req.Key)
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.setReadHeaders(w.Header(), h.store.Catalog().Index())
	writeJSON(w, http.StatusOK, kr)
}
