package gateway_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/gateway"
	"github.com/rosterhq/roster/testkit"
)

func TestAccessLogIsOffByDefaultAndWritesWhatItSamples(t *testing.T) {
	r := startRoster(t)
	ok, bad := startBackend(t, "users-1"), startBackend(t, "orders-1")
	bad.status.Store(http.StatusInternalServerError)
	r.register(t, "users", ok, 1)
	r.register(t, "orders", bad, 1)
	routes := []gateway.Route{{Prefix: "/users", Service: "users"}, {Prefix: "/orders", Service: "orders"}}

	for _, c := range []struct {
		sample      float64
		users, errs int // records of the 10 good and the 2 failed requests
	}{
		{sample: 0, users: 0, errs: 0},
		{sample: 1, users: 10, errs: 2},
		{sample: 0.0001, users: 0, errs: 2}, // sampled out, but 5xx are always written
	} {
		var buf testkit.LogBuffer
		g := startGateway(t, gateway.Config{Addrs: []string{r.addr()}, NoTagRoutes: true, Routes: routes, MaxTries: 1,
			AccessLogSample: c.sample, AccessLog: slog.New(slog.NewTextHandler(&buf, nil))})
		for range 10 {
			get(t, g.url+"/users/1")
		}
		for range 2 {
			get(t, g.url+"/orders/1")
		}
		log := buf.String()
		users := strings.Count(log, "path=/users/1")
		errs := strings.Count(log, "status=500")
		// The sampled case may, rarely, keep one of the ten.
		if errs != c.errs || (c.sample != 0.0001 && users != c.users) || users > 1 && c.sample == 0.0001 {
			t.Errorf("sample %v: %d records of good requests, %d of failed ones; want %d and %d:\n%s", c.sample, users, errs, c.users, c.errs, log)
		}
		if c.sample == 1 && (!strings.Contains(log, "route=/users") || !strings.Contains(log, "instance=users-1") || !strings.Contains(log, "request_id=")) {
			t.Errorf("record lacks route, instance or request id:\n%s", log)
		}
	}
}
