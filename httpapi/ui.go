package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/ui"
)

// uiRoutes serves the web UI under /ui/ and sends a browser that opens the
// server's root there; an API client asking for / keeps getting the JSON 404.
func (h *Handler) uiRoutes(r *mux.Router) {
	files := ui.Handler()
	r.PathPrefix(ui.Prefix).Handler(h.instrument(routeUI, files.ServeHTTP)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/ui", h.instrument(routeUI, ui.Redirect)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/", h.instrument(routeUI, func(w http.ResponseWriter, r *http.Request) {
		if ui.WantsHTML(r) {
			ui.Redirect(w, r)
			return
		}
		h.writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound,
			msg: "no route for " + r.Method + " " + r.URL.Path})
	})).Methods(http.MethodGet, http.MethodHead)
}

// openAPI answers GET /v1/openapi.yaml: the API's OpenAPI 3.1 description.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	h.setReadHeaders(hdr, h.store.Catalog().Index())
	hdr["Content-Type"] = []string{"application/yaml"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(api.OpenAPI))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(api.OpenAPI)
}
