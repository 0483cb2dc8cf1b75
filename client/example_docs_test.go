package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/client/rostertest"
)

// These examples are the snippets of docs/client.md, compiled and run by
// go test ./client/ against the in-process fake server.

// A client for a 3-server cluster; Close deregisters what it registered.
func ExampleNew() {
	c, err := client.New(client.Config{
		Addrs:  []string{"10.0.0.1:8500", "10.0.0.2:8500", "10.0.0.3:8500"},
		Logger: slog.Default(), // optional; the default discards
	})
	if err != nil {
		panic(err)
	}
	defer c.Close() // deregisters what this client registered
	fmt.Println(c.Addrs())
	// Output:
	// [10.0.0.1:8500 10.0.0.2:8500 10.0.0.3:8500]
}

// Errors are branched on with errors.Is; an answer is an *APIError.
func ExampleAPIError() {
	_, c, stop := exampleClient()
	defer stop()
	ctx := context.Background()

	_, err := c.Instance(ctx, "users", "users-404")
	switch {
	case errors.Is(err, client.ErrNotFound):
		fmt.Println("not registered")
	case errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrUnreachable):
		fmt.Println("retry later")
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.Status, ae.Code)
	}
	// Output:
	// not registered
	// 404 not_found
}

// Every field of a registration, and a status reported at once.
func ExampleInstanceSpec() {
	_, c, stop := exampleClient()
	defer stop()
	ctx := context.Background()

	reg, err := c.Register(ctx, client.InstanceSpec{
		Service:         "users",   // 1-63 letters, digits, hyphens
		ID:              "users-1", // optional: defaults to users-<random>
		Address:         "10.0.0.7",
		Port:            8080,
		Tags:            []string{"v2"},
		Meta:            map[string]string{"zone": "a"},
		Weight:          1,
		TTL:             10 * time.Second, // renewed about every TTL/3
		DeregisterAfter: time.Minute,
	})
	if err != nil {
		panic(err)
	}
	defer reg.Close() // deregisters

	// Report a degraded state at once; later heartbeats keep reporting it.
	err = reg.SetStatus(ctx, api.StatusWarning, "cache cold")
	if err != nil {
		panic(err)
	}
	fmt.Println(reg.Service(), reg.ID())
	// Output:
	// users users-1
}

// A service's main ends by waiting for SIGINT or SIGTERM (or its context),
// then deregisters.
func ExampleDeregisterOnSignal() {
	srv, c, stop := exampleClient()
	defer stop()
	reg, err := c.Register(context.Background(), client.InstanceSpec{Service: "users", ID: "users-1", Address: "10.0.0.7", Port: 8080})
	if err != nil {
		panic(err)
	}

	// Here the context ends the wait; in a service, a signal does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := client.DeregisterOnSignal(ctx, reg); err != nil {
		fmt.Println(err)
	}
	_, found := srv.Get("users-1")
	fmt.Println("still registered:", found)
	// Output:
	// still registered: false
}

// Looking up: one service's instances, every service, one instance.
func ExampleClient_Instances() {
	_, c, stop := exampleClient(
		client.InstanceSpec{Service: "users", ID: "users-1", Address: "10.0.0.7", Port: 8080, Tags: []string{"v2"}},
		client.InstanceSpec{Service: "users", ID: "users-2", Address: "10.0.0.8", Port: 8080, Tags: []string{"v1"}},
	)
	defer stop()
	ctx := context.Background()

	list, err := c.Instances(ctx, "users", &client.QueryOptions{
		Status:     "", // default passing+warning; "passing", "warning", "critical", "any"
		Tag:        "v2",
		Consistent: false, // true: linearizable read through the leader
	})
	if err != nil {
		panic(err)
	}
	services, err := c.Services(ctx)
	if err != nil {
		panic(err)
	}
	inst, err := c.Instance(ctx, "users", "users-1") // ErrNotFound if unknown
	if err != nil {
		panic(err)
	}
	fmt.Println(len(list.Instances), list.Instances[0].ID)
	fmt.Println(services.Services[0].Name, services.Services[0].Instances)
	fmt.Println(inst.Address)
	// Output:
	// 1 users-1
	// users 2
	// 10.0.0.7
}

// Last keeps the last list a server answered, also while none answers.
func ExampleWatcher_Last() {
	srv, c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	if _, err := c.Register(ctx, client.InstanceSpec{Service: "orders", ID: "orders-1", Address: "10.0.0.9", Port: 9000}); err != nil {
		panic(err)
	}

	w := c.Watch(ctx, "orders", nil) // a service can be watched before it exists
	defer w.Stop()
	<-w.Ready()
	srv.Stop() // the registry goes away

	if list, ok := w.Last(); ok { // false before the first list
		fmt.Println(list.Index > 0, len(list.Instances))
	}
	// Output:
	// true 1
}

// A Resolver picks live instances, remembers failures, and dials
// "service:port" addresses.
func ExampleResolver() {
	_, c, stop := exampleClient(
		client.InstanceSpec{Service: "users", ID: "users-1", Address: "10.0.0.7", Port: 8080, Weight: 5},
		client.InstanceSpec{Service: "users", ID: "users-2", Address: "10.0.0.8", Port: 8080, Weight: 1},
	)
	defer stop()
	ctx := context.Background()

	r := c.NewResolver(client.ResolverOptions{Strategy: client.Weighted}) // RoundRobin, Random, Weighted
	defer r.Close()

	inst, err := r.Pick(ctx, "users") // waits for the first list until ctx ends
	if err != nil {
		panic(err)
	}
	fmt.Println(inst.ID)
	r.Fail(inst) // skip it for a cool-off (5 s default)
	next, _ := r.Pick(ctx, "users")
	fmt.Println(next.ID)

	hc := &http.Client{Transport: &client.Transport{Resolver: r}} // http://users/... goes to an instance
	dialer := &http.Transport{DialContext: r.DialContext}         // "users:80" resolves too
	_, _ = hc, dialer
	// Output:
	// users-1
	// users-2
}

// A backup downloads into any writer and restores from any reader.
func ExampleClient_SnapshotSave() {
	_, c, stop := exampleClient()
	defer stop()
	ctx := context.Background()

	var backup bytes.Buffer
	n, err := c.SnapshotSave(ctx, &backup) // the bytes written, and an error
	if err != nil {
		panic(err)
	}
	if err := c.SnapshotRestore(ctx, &backup); err != nil {
		panic(err)
	}
	fmt.Println(n > 0)
	// Output:
	// true
}

// exampleClient starts a rostertest server, registers specs through a
// client of it, and returns both; stop closes them.
func exampleClient(specs ...client.InstanceSpec) (*rostertest.Server, *client.Client, func()) {
	srv := rostertest.NewServer()
	c, _ := client.New(client.Config{Addrs: []string{srv.Addr()}})
	for _, spec := range specs {
		if _, err := c.Register(context.Background(), spec); err != nil {
			panic(err)
		}
	}
	return srv, c, func() { c.Close(); srv.Close() }
}
