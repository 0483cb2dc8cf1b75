package consulapi

import (
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/acl"
)

// TestEveryConsulRouteHasAPermissionRule fails when a route is added to the
// Consul subset without its permission in acl.Routes.
func TestEveryConsulRouteHasAPermissionRule(t *testing.T) {
	h := &Handler{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_requests"}, []string{"endpoint", "code"})}
	routes := 0
	err := h.routes().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			routes++
			if _, ok := acl.Routes[m+" "+tmpl]; !ok {
				t.Errorf("route %s %s has no permission rule in acl.Routes", m, tmpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if routes < 20 {
		t.Fatalf("walked only %d routes", routes)
	}
}
