package consulapi_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkHealthService is GET /v1/health/service/{name} of a
// 10-instance service through a dev server on loopback, with a keep-alive
// client: what consul-template, Traefik and Prometheus poll.
//
//	go test -run '^$' -bench HealthService -benchmem ./consulapi/
func BenchmarkHealthService(b *testing.B) {
	n := startNode(b)
	for i := range 10 {
		must(b, n, http.StatusOK, http.MethodPut, "/v1/agent/service/register",
			fmt.Sprintf(`{"ID":"web-%d","Name":"web","Tags":["v1"],"Address":"10.0.0.%d","Port":8080,"Meta":{"version":"1.4.2"},"Check":{"TTL":"1m","Status":"passing"}}`, i, i+1))
	}
	for _, path := range []string{"/v1/health/service/web", "/v1/health/service/web?passing", "/v1/catalog/service/web"} {
		b.Run(path, func(b *testing.B) {
			url := "http://" + n.HTTPAddr() + path
			b.ReportAllocs()
			for b.Loop() {
				resp, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
