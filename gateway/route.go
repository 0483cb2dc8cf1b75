package gateway

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Route sends the requests under a path prefix, optionally on one host, to a
// service.
type Route struct {
	// Host restricts the route to requests for this host name (the Host
	// header without its port, case-insensitive). Empty: any host.
	Host string
	// Prefix is the path prefix, matched on whole segments: /users matches
	// /users and /users/42, not /usersx. The longest matching prefix wins.
	Prefix string
	// Service is the Roster service the requests go to.
	Service string
	// Strip removes the prefix from the path before forwarding
	// (/users/42 reaches the instance as /42).
	Strip bool
}

// ParseRoute reads a route as the --route flag spells it:
// "/prefix=service", or "host/prefix=service" for a host route.
func ParseRoute(s string) (Route, error) {
	lhs, svc, ok := strings.Cut(s, "=")
	if !ok || svc == "" || lhs == "" {
		return Route{}, fmt.Errorf("route %q: want /prefix=service or host/prefix=service", s)
	}
	var r Route
	if i := strings.IndexByte(lhs, '/'); i > 0 {
		r.Host, r.Prefix = lhs[:i], lhs[i:]
	} else if i < 0 {
		r.Host, r.Prefix = lhs, "/"
	} else {
		r.Prefix = lhs
	}
	r.Service = svc
	if err := r.normalize(); err != nil {
		return Route{}, err
	}
	return r, nil
}

// String spells the route as ParseRoute reads it.
func (r Route) String() string { return r.Host + r.Prefix + "=" + r.Service }

// key identifies a route's match (host and prefix), whatever its service.
func (r Route) key() string { return r.Host + r.Prefix }

func (r *Route) normalize() error {
	if !strings.HasPrefix(r.Prefix, "/") {
		return fmt.Errorf("route %s: prefix must start with /", r)
	}
	if strings.ContainsAny(r.Prefix, "?#") {
		return fmt.Errorf("route %s: prefix must be a path, without ? or #", r)
	}
	if len(r.Prefix) > 1 {
		r.Prefix = strings.TrimRight(r.Prefix, "/")
		if r.Prefix == "" {
			r.Prefix = "/"
		}
	}
	r.Host = strings.ToLower(r.Host)
	if strings.ContainsAny(r.Host, ":/ ") {
		return fmt.Errorf("route %s: host must be a name without port", r)
	}
	r.Service = strings.ToLower(r.Service)
	if !validService(r.Service) {
		return fmt.Errorf("route %s: service must be 1-63 letters, digits and hyphens", r)
	}
	return nil
}

func validService(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// matches reports whether path lies under prefix, on a segment boundary.
func matches(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// stripPrefix removes prefix from path (which matches it); the result
// starts with /.
func stripPrefix(prefix, path string) string {
	if prefix == "/" {
		return path
	}
	rest := path[len(prefix):]
	if rest == "" {
		return "/"
	}
	return rest
}

// Tags that define routes on instances, each as key=value.
const (
	// TagRoute routes a path prefix to the instance's service
	// (gateway.route=/users); an instance may carry several.
	TagRoute = "gateway.route"
	// TagStrip removes the prefix before forwarding (gateway.strip=true).
	TagStrip = "gateway.strip"
	// TagHost restricts the instance's routes to one host
	// (gateway.host=api.example.com); alone, it routes the whole host.
	TagHost = "gateway.host"
)

// tagPrefix starts every tag the gateway reads: a service holding one is
// watched for routes.
const tagPrefix = "gateway."

// tagRoutes reads the routes an instance of service declares in its tags.
// A gateway.host without gateway.route routes the whole host (prefix /).
// Malformed tags are reported and skipped.
func tagRoutes(service string, tags []string) ([]Route, []error) {
	var prefixes []string
	var host string
	strip := false
	var errs []error
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || !strings.HasPrefix(k, tagPrefix) {
			continue
		}
		switch k {
		case TagRoute:
			prefixes = append(prefixes, v)
		case TagHost:
			host = v
		case TagStrip:
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("tag %q: want true or false", t))
				continue
			}
			strip = b
		}
	}
	if len(prefixes) == 0 && host != "" {
		prefixes = []string{"/"}
	}
	var out []Route
	for _, p := range prefixes {
		r := Route{Host: host, Prefix: p, Service: service, Strip: strip}
		if err := r.normalize(); err != nil {
			errs = append(errs, fmt.Errorf("tag %s=%s: %w", TagRoute, p, err))
			continue
		}
		out = append(out, r)
	}
	return out, errs
}

// table is an immutable routing table: the request path reads it with one
// atomic load.
type table struct {
	byHost  map[string][]*route // routes for one host, longest prefix first
	anyHost []*route            // routes for any host, longest prefix first
	all     []*route            // sorted by name
}

func newTable(routes []*route) *table {
	t := &table{byHost: map[string][]*route{}, all: routes}
	for _, r := range routes {
		if r.Host == "" {
			t.anyHost = append(t.anyHost, r)
		} else {
			t.byHost[r.Host] = append(t.byHost[r.Host], r)
		}
	}
	longestFirst := func(rs []*route) {
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Prefix) > len(rs[j].Prefix) })
	}
	longestFirst(t.anyHost)
	for _, rs := range t.byHost {
		longestFirst(rs)
	}
	sort.Slice(t.all, func(i, j int) bool { return t.all[i].name < t.all[j].name })
	return t
}

// match finds the route of a request: the longest prefix among the routes
// of its host, else the longest among the routes for any host.
func (t *table) match(hostport, path string) *route {
	if len(t.byHost) > 0 {
		host := hostport
		if h, _, err := net.SplitHostPort(hostport); err == nil {
			host = h
		}
		for _, r := range t.byHost[strings.ToLower(host)] {
			if matches(r.Prefix, path) {
				return r
			}
		}
	}
	for _, r := range t.anyHost {
		if matches(r.Prefix, path) {
			return r
		}
	}
	return nil
}
