package httpapi

import (
	"sort"

	"github.com/gorilla/mux"
)

// Routes lists the handler's routes as "METHOD /path/{template}", for the
// OpenAPI coverage test in package httpapi_test.
func Routes(h *Handler) []string {
	var out []string
	_ = h.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	sort.Strings(out)
	return out
}
