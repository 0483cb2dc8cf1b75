package client_test

import (
	"context"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/client"
)

// backend starts an HTTP server answering its name and registers it.
func backend(t *testing.T, c *client.Client, id string) (*httptest.Server, *client.Registration) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, id)
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	reg, err := c.Register(context.Background(), client.InstanceSpec{Service: "users", ID: id, Address: host, Port: p})
	if err != nil {
		t.Fatal(err)
	}
	return srv, reg
}

func get(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTransportBalancesAndRetriesAnotherInstance(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	a, _ := backend(t, c, "users-a")
	backend(t, c, "users-b")
	r := c.NewResolver(client.ResolverOptions{Strategy: client.RoundRobin})
	defer r.Close()
	tr := &client.Transport{Resolver: r, Base: &http.Transport{}}
	defer tr.Base.(*http.Transport).CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	seen := map[string]int{}
	for range 10 {
		body, err := get(hc, "http://users/profile")
		if err != nil {
			t.Fatal(err)
		}
		seen[body]++
	}
	if seen["users-a"] != 5 || seen["users-b"] != 5 {
		t.Fatalf("spread = %v", seen)
	}
	// users-a dies without deregistering: every request still succeeds.
	a.Close()
	for range 10 {
		body, err := get(hc, "http://users/profile")
		if err != nil || body != "users-b" {
			t.Fatalf("after users-a died: %q %v", body, err)
		}
	}
}

func TestTransportFollowsDeregistration(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	_, regA := backend(t, c, "users-a")
	backend(t, c, "users-b")
	r := c.NewResolver(client.ResolverOptions{})
	defer r.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	hc := &http.Client{Transport: &client.Transport{Resolver: r, Base: base}}
	if _, err := get(hc, "http://users/"); err != nil {
		t.Fatal(err)
	}
	if err := regA.Close(); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		in, err := r.Instances(context.Background(), "users")
		if err != nil || len(in) != 1 {
			return fmt.Errorf("instances %v %v", in, err)
		}
		return nil
	})
	for range 6 {
		if body, err := get(hc, "http://users/"); err != nil || body != "users-b" {
			t.Fatalf("%q %v", body, err)
		}
	}
}

func TestDialContextResolvesServiceNames(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	backend(t, c, "users-a")
	r := c.NewResolver(client.ResolverOptions{})
	defer r.Close()
	base := &http.Transport{DialContext: r.DialContext}
	defer base.CloseIdleConnections()
	body, err := get(&http.Client{Transport: base}, "http://users:80/x")
	if err != nil || !strings.HasPrefix(body, "users-a") {
		t.Fatalf("%q %v", body, err)
	}
}
