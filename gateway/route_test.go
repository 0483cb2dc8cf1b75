package gateway

import (
	"fmt"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Route
		err  bool
	}{
		{in: "/users=users", want: Route{Prefix: "/users", Service: "users"}},
		{in: "/users/=Users", want: Route{Prefix: "/users", Service: "users"}},
		{in: "/=web", want: Route{Prefix: "/", Service: "web"}},
		{in: "API.example.com/v1=api", want: Route{Host: "api.example.com", Prefix: "/v1", Service: "api"}},
		{in: "api.example.com=api", want: Route{Host: "api.example.com", Prefix: "/", Service: "api"}},
		{in: "/users", err: true},
		{in: "/users=", err: true},
		{in: "=users", err: true},
		{in: "/users=us_ers", err: true},
		{in: "/users?x=1=users", err: true},
		{in: "api.example.com:80/v1=api", err: true},
	} {
		got, err := ParseRoute(c.in)
		if c.err {
			if err == nil {
				t.Errorf("ParseRoute(%q) = %+v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRoute(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestTagRoutes(t *testing.T) {
	for _, c := range []struct {
		tags []string
		want []Route
		errs int
	}{
		{tags: []string{"v2", "gateway.route=/users"}, want: []Route{{Prefix: "/users", Service: "svc"}}},
		{tags: []string{"gateway.route=/users", "gateway.strip=true"}, want: []Route{{Prefix: "/users", Service: "svc", Strip: true}}},
		{tags: []string{"gateway.host=API.example.com"}, want: []Route{{Host: "api.example.com", Prefix: "/", Service: "svc"}}},
		{tags: []string{"gateway.route=/a", "gateway.route=/b", "gateway.host=x.io"},
			want: []Route{{Host: "x.io", Prefix: "/a", Service: "svc"}, {Host: "x.io", Prefix: "/b", Service: "svc"}}},
		{tags: []string{"gateway.route=users"}, errs: 1},
		{tags: []string{"gateway.route=/users", "gateway.strip=yes"}, want: []Route{{Prefix: "/users", Service: "svc"}}, errs: 1},
		{tags: []string{"gatewayroute=/users", "traefik.enable=true"}},
	} {
		got, errs := tagRoutes("svc", c.tags)
		if fmt.Sprint(got) != fmt.Sprint(c.want) || len(errs) != c.errs {
			t.Errorf("tagRoutes(%q) = %+v, %v; want %+v with %d errors", c.tags, got, errs, c.want, c.errs)
		}
	}
}

func TestTableMatch(t *testing.T) {
	mk := func(s string) *route {
		r, err := ParseRoute(s)
		if err != nil {
			t.Fatal(err)
		}
		return &route{Route: r, name: r.key()}
	}
	tb := newTable([]*route{
		mk("/=web"), mk("/users=users"), mk("/users/admin=admin"),
		mk("api.example.com/users=api-users"), mk("api.example.com=api"),
	})
	for _, c := range []struct{ host, path, want string }{
		{"shop.example.com", "/", "web"},
		{"shop.example.com", "/users", "users"},
		{"shop.example.com", "/users/", "users"},
		{"shop.example.com", "/users/admin/x", "admin"},
		{"shop.example.com", "/users/administrator", "users"},
		{"shop.example.com", "/usersx", "web"},
		{"api.example.com", "/users/1", "api-users"},
		{"API.Example.com:8080", "/users/1", "api-users"},
		{"api.example.com", "/orders", "api"}, // the host's own routes first
	} {
		r := tb.match(c.host, c.path)
		if r == nil || r.Service != c.want {
			t.Errorf("match(%s, %s) = %v, want %s", c.host, c.path, r, c.want)
		}
	}
	if r := newTable([]*route{mk("/users=users")}).match("x", "/orders"); r != nil {
		t.Errorf("no route should match, got %v", r)
	}
}
