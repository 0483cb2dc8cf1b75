package compat

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	promconsul "github.com/prometheus/prometheus/discovery/consul"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/rosterhq/roster/testkit"
)

// Prometheus's own Consul service discovery (consul_sd_configs) finds
// Roster's instances with their labels, and follows a change through its
// blocking queries.
func TestPrometheusConsulDiscovery(t *testing.T) {
	n := testkit.StartDev(t)
	c := consulClient(t, n)
	err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"metrics", "v1"}, Address: "127.0.0.1", Port: 9100,
		Meta: map[string]string{"team": "core"},
	})
	if err != nil {
		t.Fatal(err)
	}

	conf := promconsul.DefaultSDConfig
	conf.Server = n.HTTPAddr()
	conf.Services = []string{"web"}
	// Prometheus waits this long between two blocking queries (30s by default).
	conf.RefreshInterval = model.Duration(100 * time.Millisecond)
	reg := prometheus.NewRegistry()
	refresh := discovery.NewRefreshMetrics(reg)
	metrics := conf.NewDiscovererMetrics(reg, refresh)
	if err := metrics.Register(); err != nil {
		t.Fatal(err)
	}
	defer metrics.Unregister()
	d, err := promconsul.NewDiscovery(&conf, slog.New(slog.DiscardHandler), metrics)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan []*targetgroup.Group)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, ch)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// next waits for a group of service web with want targets.
	next := func(want int) *targetgroup.Group {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case groups := <-ch:
				for _, g := range groups {
					if g.Source == "web" && len(g.Targets) == want {
						return g
					}
				}
			case <-deadline:
				t.Fatalf("no target group for web with %d targets", want)
			}
		}
	}
	g := next(1)
	want := model.LabelSet{
		"__address__":                         "127.0.0.1:9100",
		"__meta_consul_service":               "web",
		"__meta_consul_service_id":            "web-1",
		"__meta_consul_node":                  "127.0.0.1",
		"__meta_consul_tags":                  ",metrics,v1,",
		"__meta_consul_health":                "passing",
		"__meta_consul_dc":                    "dc1",
		"__meta_consul_service_metadata_team": "core",
	}
	labels := g.Targets[0].Merge(g.Labels)
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, labels[k], v, labels)
		}
	}

	err = c.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "web-2", Name: "web", Address: "127.0.0.2", Port: 9100})
	if err != nil {
		t.Fatal(err)
	}
	g = next(2)
	got := fmt.Sprint(g.Targets[0]["__address__"], " ", g.Targets[1]["__address__"])
	if got != "127.0.0.1:9100 127.0.0.2:9100" {
		t.Errorf("after a second registration the targets are %s", got)
	}
}
