// Package client is Roster's Go client: it registers instances and keeps
// their leases alive, looks instances up and watches them, balances requests
// over a service's live instances, and fails over between Roster servers.
//
// A service registers itself in a few lines:
//
//	c, err := client.New(client.Config{}) // $ROSTER_ADDR or 127.0.0.1:8500
//	if err != nil { ... }
//	defer c.Close()
//	reg, err := c.Register(ctx, client.InstanceSpec{Service: "users", Address: "10.0.0.7", Port: 8080, TTL: 10 * time.Second})
//	if err != nil { ... }
//	defer reg.Close() // deregisters
//
// All registrations of one Client share one heartbeat loop that renews every
// lease in a single PUT /v1/heartbeats request per interval. A gateway
// resolves and balances through a Resolver, which keeps serving the last known
// good list while the servers are unreachable:
//
//	r := c.NewResolver(client.ResolverOptions{Strategy: client.RoundRobin})
//	defer r.Close()
//	hc := &http.Client{Transport: &client.Transport{Resolver: r}}
//	resp, err := hc.Get("http://users/profile/42")
package client
