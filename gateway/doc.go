// Package gateway routes HTTP requests to service instances resolved from
// Roster: an API gateway whose routes come from its configuration and from
// instance tags, kept current by the Go client's watches.
//
// A route maps a path prefix (optionally on one host) to a service. Routes
// come from Config.Routes and, unless disabled, from tags on the instances
// themselves:
//
//	gateway.route=/users        route requests under /users to this service
//	gateway.strip=true          remove the prefix before forwarding
//	gateway.host=api.example.com  only for requests to this host (alone: prefix /)
//
// Requests are proxied with net/http/httputil.ReverseProxy over one
// keep-alive pool per instance, balanced round-robin, by weight, or to the
// instance with the fewest requests in flight. An instance that refuses
// connections or answers 5xx repeatedly is ejected for a cool-off (never the
// last ones of a service); requests that can safely be sent again go to
// another instance. While every Roster server is unreachable the gateway
// keeps routing with the last lists it had, and /healthz says so.
//
//	gw, err := gateway.New(gateway.Config{
//		Addrs:  []string{"127.0.0.1:8500"},
//		Routes: []gateway.Route{{Prefix: "/users", Service: "users"}},
//	})
//	if err != nil { ... }
//	defer gw.Close()
//	http.ListenAndServe("127.0.0.1:8080", gw.Handler())
package gateway
