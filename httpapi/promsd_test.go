package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rosterhq/roster/registry"
)

type sdTargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// The HTTP SD answer is one target group per instance with the contract's
// labels, filtered like the instance listing.
func TestPrometheusSDTargetGroups(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w1", `{"address":"10.0.0.1","port":8080,"tags":["a","b"],"meta":{"zone":"eu-1","rack.id":"r7"},"weight":3}`)
	n.register("web", "w2", `{"address":"fd00::2","port":8081,"status":"critical"}`)
	n.register("api", "a1", `{"address":"10.0.0.3","port":9090,"tags":["b"],"status":"warning"}`)

	var got []sdTargetGroup
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd?service=web", "").body, &got)
	if len(got) != 1 {
		t.Fatalf("web (passing and warning): %+v, want w1 only", got)
	}
	want := map[string]string{
		"__meta_roster_service": "web", "__meta_roster_instance_id": "w1", "__meta_roster_tags": ",a,b,",
		"__meta_roster_status": "passing", "__meta_roster_weight": "3",
		"__meta_roster_meta_zone": "eu-1", "__meta_roster_meta_rack_id": "r7",
	}
	if len(got[0].Targets) != 1 || got[0].Targets[0] != "10.0.0.1:8080" || len(got[0].Labels) != len(want) {
		t.Fatalf("w1 target group %+v", got[0])
	}
	for k, v := range want {
		if got[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[0].Labels[k], v)
		}
	}

	cases := []struct{ query, want string }{
		{"", "a1,w1"},
		{"?status=any", "a1,w1,w2"},
		{"?status=critical", "w2"},
		{"?service=web&service=api", "w1,a1"},
		{"?tag=b", "a1,w1"},
		{"?service=api&tag=a", ""},
		{"?service=nothing-here", ""},
	}
	for _, c := range cases {
		var groups []sdTargetGroup
		decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd"+c.query, "").body, &groups)
		var ids string
		for i, g := range groups {
			if i > 0 {
				ids += ","
			}
			ids += g.Labels["__meta_roster_instance_id"]
		}
		if ids != c.want {
			t.Errorf("%q: instances %q, want %q", c.query, ids, c.want)
		}
	}
	var ipv6 []sdTargetGroup
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd?status=critical", "").body, &ipv6)
	if ipv6[0].Targets[0] != "[fd00::2]:8081" || ipv6[0].Labels["__meta_roster_tags"] != ",," {
		t.Errorf("IPv6 target %+v", ipv6[0])
	}
	n.must(http.StatusBadRequest, http.MethodGet, "/v1/prometheus/sd?service=no_such!", "")
	n.must(http.StatusBadRequest, http.MethodGet, "/v1/prometheus/sd?status=sometimes", "")
}

// A poll after a change sees the change: the cached fragment belongs to
// one view, and a new view replaces it.
func TestPrometheusSDFollowsChanges(t *testing.T) {
	n := startDev(t, nil)
	n.register("web", "w1", `{"address":"10.0.0.1","port":8080}`)
	var groups []sdTargetGroup
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd", "").body, &groups)
	if len(groups) != 1 {
		t.Fatalf("before: %+v", groups)
	}
	n.register("web", "w1", `{"address":"10.0.0.1","port":9999}`)
	decode(t, n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd", "").body, &groups)
	if len(groups) != 1 || groups[0].Targets[0] != "10.0.0.1:9999" {
		t.Fatalf("after a re-registration on a new port: %+v", groups)
	}
	n.must(http.StatusOK, http.MethodDelete, "/v1/services/web/instances/w1", "")
	a := n.must(http.StatusOK, http.MethodGet, "/v1/prometheus/sd", "")
	if string(a.body) != "[]\n" {
		t.Fatalf("after deregistering the last instance: %s, want []", a.body)
	}
}

// BenchmarkPrometheusSD is one poll of /v1/prometheus/sd for a 10-instance
// service and for 100 such services, through the handler (the view's
// cached fragment is reused between polls).
//
//	go test -run '^$' -bench PrometheusSD -benchmem ./httpapi/
func BenchmarkPrometheusSD(b *testing.B) {
	for _, services := range []int{1, 100} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			st := openDevStore(b)
			for s := range services {
				for i := range 10 {
					_, _, err := st.Register(context.Background(), registry.Instance{
						Service: fmt.Sprintf("svc-%d", s), ID: fmt.Sprintf("svc-%d-%02d", s, i),
						Address: fmt.Sprintf("10.0.%d.%d", s, i+1), Port: 8080,
						Tags: []string{"v1", "metrics"}, Meta: map[string]string{"version": "1.4.2"}, TTL: 10e9,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			h, err := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(h.Close)
			req := httptest.NewRequest(http.MethodGet, "/v1/prometheus/sd", nil)
			w := &discardWriter{hdr: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				w.n = 0
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK || w.n == 0 {
				b.Fatalf("status %d, %d bytes", w.status, w.n)
			}
			b.ReportMetric(float64(w.n), "bytes/answer")
		})
	}
}
