package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/client/rostertest"
)

// A service registers itself with a TTL; the client renews the lease in the
// background and Close deregisters it.
func ExampleClient_Register() {
	srv := rostertest.NewServer() // in real life: a Roster cluster
	defer srv.Close()

	c, err := client.New(client.Config{Addrs: []string{srv.Addr()}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	ctx := context.Background()
	reg, err := c.Register(ctx, client.InstanceSpec{
		Service: "users",
		ID:      "users-1",
		Address: "10.0.0.7",
		Port:    8080,
		Tags:    []string{"v2"},
		TTL:     10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	// Report a degraded state at once; heartbeats keep reporting it.
	if err := reg.SetStatus(ctx, api.StatusWarning, "cache cold"); err != nil {
		panic(err)
	}

	list, err := c.Instances(ctx, "users", nil)
	if err != nil {
		panic(err)
	}
	for _, in := range list.Instances {
		fmt.Println(in.ID, in.Address, in.Port, in.Status, in.Output)
	}
	if err := reg.Close(); err != nil { // deregisters
		panic(err)
	}
	// Output:
	// users-1 10.0.0.7 8080 warning cache cold
}

// Watch delivers the current list at once and then every change.
func ExampleClient_Watch() {
	_, c, stop := exampleClient()
	defer stop()
	ctx := context.Background()

	w := c.Watch(ctx, "orders", nil) // a service may be watched before it exists
	defer w.Stop()
	fmt.Println("instances:", len((<-w.Updates()).Instances))

	if _, err := c.Register(ctx, client.InstanceSpec{Service: "orders", ID: "orders-1", Address: "10.0.0.9", Port: 9000}); err != nil {
		panic(err)
	}
	list := <-w.Updates()
	fmt.Println("instances:", len(list.Instances), list.Instances[0].ID)
	// Output:
	// instances: 0
	// instances: 1 orders-1
}

// A Transport sends http://<service>/... to the service's live instances,
// balanced, and retries another instance when one cannot be reached.
func ExampleTransport() {
	_, c, stop := exampleClient()
	defer stop()

	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "users answers %s", r.URL.Path)
	}))
	defer users.Close()
	u, _ := url.Parse(users.URL)
	port, _ := strconv.Atoi(u.Port())
	if _, err := c.Register(context.Background(), client.InstanceSpec{Service: "users", Address: u.Hostname(), Port: port}); err != nil {
		panic(err)
	}

	r := c.NewResolver(client.ResolverOptions{Strategy: client.RoundRobin})
	defer r.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	hc := &http.Client{Transport: &client.Transport{Resolver: r, Base: base}}
	resp, err := hc.Get("http://users/profile/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// users answers /profile/42
}
