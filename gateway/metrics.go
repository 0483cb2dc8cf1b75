package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics holds the gateway's Prometheus vectors; the request path only
// touches children resolved when a route or a member was created.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	ejections *prometheus.CounterVec
	// unrouted counts requests that matched no route (404).
	unrouted prometheus.Counter
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_gateway_requests_total",
			Help: "Requests answered, by route, service, the instance that answered (empty: none did) and status class.",
		}, []string{"route", "service", "instance", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_gateway_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by route, service and instance.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "service", "instance"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_gateway_retries_total",
			Help: "Tries that failed and were sent again to another instance, by route, service and the instance that failed.",
		}, []string{"route", "service", "instance"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_gateway_ejections_total",
			Help: "Instances ejected by passive health checking, by service and instance.",
		}, []string{"service", "instance"}),
	}
	m.unrouted = m.requests.WithLabelValues("", "", "", "4xx")
	g.cfg.Registry.MustRegister(m.requests, m.latency, m.retries, m.ejections, &stateCollector{g: g})
	return m
}

func (m *metrics) newMember(p *pool, b *backend) *member {
	mb := &member{
		b:       b,
		latency: m.latency.WithLabelValues(p.name, p.service, b.id),
		retries: m.retries.WithLabelValues(p.name, p.service, b.id),
	}
	for i, c := range codeClasses {
		mb.requests[i] = m.requests.WithLabelValues(p.name, p.service, b.id, c)
	}
	return mb
}

// forget drops a member's series once it left its pool.
func (m *metrics) forget(p *pool, mb *member) {
	m.latency.DeleteLabelValues(p.name, p.service, mb.b.id)
	m.retries.DeleteLabelValues(p.name, p.service, mb.b.id)
	for _, c := range codeClasses {
		m.requests.DeleteLabelValues(p.name, p.service, mb.b.id, c)
	}
}

// forgetRoute drops the series of a route that left the table.
func (m *metrics) forgetRoute(p *pool) {
	for _, mb := range p.list() {
		m.forget(p, mb)
	}
	m.requests.DeleteLabelValues(p.name, p.service, "", "5xx")
	m.latency.DeleteLabelValues(p.name, p.service, "")
}

// forgetBackend drops a retired backend's ejection series.
func (m *metrics) forgetBackend(b *backend) {
	m.ejections.DeleteLabelValues(b.service, b.id)
}

// routeCounters count a route's requests that no instance was tried for
// (503: the route has no instance).
type routeCounters struct {
	noInstance prometheus.Counter
	latency    prometheus.Observer
}

func (m *metrics) newRouteCounters(name, service string) routeCounters {
	return routeCounters{
		noInstance: m.requests.WithLabelValues(name, service, "", "5xx"),
		latency:    m.latency.WithLabelValues(name, service, ""),
	}
}

func classOf(status int) int {
	c := status/100 - 1
	if c < 0 || c > 4 {
		return 4
	}
	return c
}

// stateCollector reports the gateway's state at scrape time: routes, their
// live and ejected instances, and whether the registry is reachable.
type stateCollector struct{ g *Gateway }

var (
	descRoutes = prometheus.NewDesc("roster_gateway_routes",
		"Routes in the routing table.", nil, nil)
	descInstances = prometheus.NewDesc("roster_gateway_route_instances",
		"Instances a route balances over, by route, service and state (live or ejected).",
		[]string{"route", "service", "state"}, nil)
	descInFlight = prometheus.NewDesc("roster_gateway_instance_in_flight",
		"Requests in flight to an instance (streams and WebSockets included), by service and instance.",
		[]string{"service", "instance"}, nil)
	descReachable = prometheus.NewDesc("roster_gateway_registry_reachable",
		"1 when the last request to a Roster server succeeded; 0 while every server fails and the gateway routes from its last known lists.", nil, nil)
	descStale = prometheus.NewDesc("roster_gateway_registry_stale_seconds",
		"How long the routes have been served from the last known lists because no Roster server answers (0 when fresh).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRoutes
	ch <- descInstances
	ch <- descInFlight
	ch <- descReachable
	ch <- descStale
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.g.table.Load()
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(len(t.all)))
	now := time.Now().UnixNano()
	seen := map[*backend]bool{}
	for _, r := range t.all {
		live, ejected := 0, 0
		for _, m := range r.pool.list() {
			if m.b.isEjected(now) {
				ejected++
			} else {
				live++
			}
			if !seen[m.b] {
				seen[m.b] = true
				ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(m.b.inflight.Load()), m.b.service, m.b.id)
			}
		}
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(live), r.name, r.Service, "live")
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(ejected), r.name, r.Service, "ejected")
	}
	h := c.g.contact.health()
	reachable, stale := 1.0, 0.0
	if !h.Reachable {
		reachable = 0
		stale = h.staleFor.Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, reachable)
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, stale)
}
