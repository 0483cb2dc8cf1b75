// Command goldengen writes ../golden: one JSON file per Consul endpoint
// that Roster serves, encoded by Consul 1.20's own types (agent/structs for
// catalog and health answers, api for agent answers, as Consul's HTTP
// handlers return them). consulapi's golden test compares Roster's answers
// with these field by field: names, casing, nesting and JSON kinds.
//
// It is its own module so that Consul's dependencies stay out of Roster's.
// Run it from this directory: go run . -out ../golden
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/consul/agent/structs"
	"github.com/hashicorp/consul/api"
)

func main() {
	out := flag.String("out", "../golden", "directory to write the golden files to")
	flag.Parse()

	index := structs.RaftIndex{CreateIndex: 12, ModifyIndex: 14}
	tags := []string{"v1"}
	meta := map[string]string{"zone": "a"}
	node := &structs.Node{
		Node: "10.0.0.1", Address: "10.0.0.1", Datacenter: "dc1",
		TaggedAddresses: map[string]string{}, Meta: map[string]string{}, RaftIndex: index,
	}
	service := &structs.NodeService{
		ID: "web-1", Service: "web", Tags: tags, Address: "10.0.0.1", Meta: meta, Port: 8080,
		Weights: &structs.Weights{Passing: 1, Warning: 1}, RaftIndex: index,
	}
	check := &structs.HealthCheck{
		Node: "10.0.0.1", CheckID: "service:web-1", Name: "Service 'web' check", Status: "passing",
		ServiceID: "web-1", ServiceName: "web", ServiceTags: tags, Type: "ttl", RaftIndex: index,
	}
	serviceNode := &structs.ServiceNode{
		Node: "10.0.0.1", Address: "10.0.0.1", Datacenter: "dc1",
		TaggedAddresses: map[string]string{}, NodeMeta: map[string]string{},
		ServiceID: "web-1", ServiceName: "web", ServiceTags: tags, ServiceAddress: "10.0.0.1",
		ServiceWeights: structs.Weights{Passing: 1, Warning: 1}, ServiceMeta: meta, ServicePort: 8080,
		RaftIndex: index,
	}
	agentService := &api.AgentService{
		ID: "web-1", Service: "web", Tags: tags, Meta: meta, Port: 8080, Address: "10.0.0.1",
		Weights: api.AgentWeights{Passing: 1, Warning: 1}, CreateIndex: 12, ModifyIndex: 14, Datacenter: "dc1",
	}
	withHash := *agentService
	withHash.ContentHash = "3c5b2a7d0e1f4a69"
	member := api.AgentMember{
		Name: "server-1", Addr: "127.0.0.1", Port: 8301, Tags: map[string]string{"role": "consul", "dc": "dc1"},
		Status: 1, ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
	// The Config section as agent/agent_endpoint.go (AgentSelf) builds it.
	type selfConfig struct {
		Datacenter        string
		PrimaryDatacenter string
		NodeName          string
		NodeID            string
		Partition         string `json:",omitempty"`
		Revision          string
		Server            bool
		Version           string
		BuildDate         string
	}
	self := struct {
		Config selfConfig
		Member api.AgentMember
		Meta   map[string]string
	}{
		Config: selfConfig{Datacenter: "dc1", PrimaryDatacenter: "dc1", NodeName: "server-1", NodeID: "6a3c",
			Revision: "abc", Server: true, Version: "1.20.6", BuildDate: time.Unix(0, 0).UTC().Format(time.RFC3339)},
		Member: member,
		Meta:   map[string]string{"k": "v"},
	}

	files := map[string]any{
		"agent_services":      map[string]*api.AgentService{"web-1": agentService},
		"agent_service":       &withHash,
		"agent_checks":        map[string]*structs.HealthCheck{"service:web-1": check},
		"agent_members":       []api.AgentMember{member},
		"agent_self":          self,
		"catalog_datacenters": []string{"dc1"},
		"catalog_services":    map[string][]string{"web": tags},
		"catalog_service":     structs.ServiceNodes{serviceNode},
		"catalog_nodes":       structs.Nodes{node},
		"catalog_node":        &structs.NodeServices{Node: node, Services: map[string]*structs.NodeService{"web-1": service}},
		"catalog_register":    true,
		"health_service":      structs.CheckServiceNodes{{Node: node, Service: service, Checks: structs.HealthChecks{check}}},
		"health_checks":       structs.HealthChecks{check},
		"health_state":        structs.HealthChecks{check},
		"health_node":         structs.HealthChecks{check},
		"status_leader":       "127.0.0.1:8300",
		"status_peers":        []string{"127.0.0.1:8300"},
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(*out, name+".json"), append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
