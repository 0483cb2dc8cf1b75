package httpapi

import (
	"net/http"
	"testing"

	"github.com/gorilla/mux"

	"github.com/rosterhq/roster/acl"
)

// TestEveryRouteHasAPermissionRule fails when a route is added to the
// native router without its permission in acl.Routes (with ACLs on, such
// a route would refuse everyone).
func TestEveryRouteHasAPermissionRule(t *testing.T) {
	n := startDev(t, nil)
	routes := 0
	err := n.h.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("%s: no methods", tmpl)
			return nil
		}
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
	// And a route missing from the table is refused, not allowed.
	id := acl.NewIdentity("x", nil)
	if acl.Check(id, http.MethodGet, "/v1/unlisted", "") == nil {
		t.Fatal("a route without a rule was allowed")
	}
}
