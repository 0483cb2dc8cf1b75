package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Balance chooses how a route spreads requests over its instances.
type Balance int

// The balancing strategies.
const (
	// RoundRobin takes the instances in turn.
	RoundRobin Balance = iota
	// Weighted takes instances in proportion to their registered weight,
	// evenly interleaved (smooth weighted round robin, as nginx does).
	Weighted
	// LeastRequests takes the instance with the fewest requests in flight
	// relative to its weight, ties broken in turn.
	LeastRequests
)

// String names the strategy as the --balance flag spells it.
func (b Balance) String() string {
	switch b {
	case RoundRobin:
		return "round-robin"
	case Weighted:
		return "weighted"
	case LeastRequests:
		return "least-requests"
	}
	return fmt.Sprintf("Balance(%d)", int(b))
}

// ParseBalance reads "round-robin", "weighted" or "least-requests".
func ParseBalance(s string) (Balance, error) {
	switch s {
	case "round-robin", "roundrobin", "rr", "":
		return RoundRobin, nil
	case "weighted":
		return Weighted, nil
	case "least-requests", "least-request", "least":
		return LeastRequests, nil
	}
	return RoundRobin, fmt.Errorf("balance %q: want round-robin, weighted or least-requests", s)
}

// Defaults of Config, taken by its zero values.
const (
	// DefaultConnectTimeout is Config.ConnectTimeout's default.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultResponseTimeout is Config.ResponseTimeout's default.
	DefaultResponseTimeout = 30 * time.Second
	// DefaultMaxTries is Config.MaxTries's default: the first try and two
	// retries.
	DefaultMaxTries = 3
	// DefaultEjectAfter is Config.EjectAfter's default.
	DefaultEjectAfter = 3
	// DefaultEjectFor is Config.EjectFor's default.
	DefaultEjectFor = 10 * time.Second
	// DefaultMaxEjectPercent is Config.MaxEjectPercent's default.
	DefaultMaxEjectPercent = 50
	// DefaultMaxIdlePerInst is Config.MaxIdlePerInstance's default.
	DefaultMaxIdlePerInst = 64
	// DefaultResolveTimeout is Config.ResolveTimeout's default.
	DefaultResolveTimeout = 5 * time.Second
	// DefaultRequestIDHeader is Config.RequestIDHeader's default.
	DefaultRequestIDHeader = "X-Request-Id"
)

// Config configures a Gateway. Zero values take the defaults above.
type Config struct {
	// Addrs are the Roster servers' HTTP addresses (default $ROSTER_ADDR or
	// 127.0.0.1:8500).
	Addrs []string
	// TLS, when set, is how the gateway talks to Roster servers that serve
	// HTTPS (their CA; this gateway's certificate when they verify
	// clients): addresses without a scheme are then https. It does not
	// concern the instances, which are proxied as they registered.
	TLS *tls.Config
	// Routes are the configured routes. They win over tag routes for the
	// same host and prefix.
	Routes []Route
	// NoTagRoutes turns off routes from instance tags (gateway.route=...).
	NoTagRoutes bool
	// Balance spreads each route's requests over its instances.
	Balance Balance

	// ConnectTimeout bounds connecting to an instance; a timed-out connect
	// is retried on another instance.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for an instance's response headers
	// once the request is sent (not the body: streams and WebSockets live
	// as long as they need). A timeout answers 504 and is not retried.
	ResponseTimeout time.Duration
	// MaxTries bounds the instances tried for one request, counting the
	// first (1 turns retries off).
	MaxTries int
	// EjectAfter is how many consecutive failures (refused or broken
	// connections, timeouts, 5xx answers) eject an instance.
	EjectAfter int
	// EjectFor is an ejection's cool-off; it grows with each ejection in a
	// row of the same instance, up to 8 times.
	EjectFor time.Duration
	// MaxEjectPercent caps the share of a service's instances ejected at
	// once. At least one of two or more may be ejected; the last one never.
	MaxEjectPercent int
	// MaxIdlePerInstance bounds the idle keep-alive connections kept to
	// each instance.
	MaxIdlePerInstance int
	// ResolveTimeout bounds how long requests wait for the first instance
	// lists after start; past it they are answered at once (404 or 503)
	// even if the registry has never answered.
	ResolveTimeout time.Duration

	// RequestIDHeader carries the request id: kept from the client when
	// present, otherwise generated; sent to the instance and answered to
	// the client.
	RequestIDHeader string
	// TrustForwarded appends to the X-Forwarded-For a client sent (and
	// keeps its X-Forwarded-Host and -Proto) instead of replacing them:
	// for a gateway behind another proxy.
	TrustForwarded bool

	// AccessLogSample is the fraction of requests written to AccessLog
	// (0: none, 1: all). Failed requests (5xx) are always written when it
	// is above 0.
	AccessLogSample float64
	// AccessLog receives the access log (default: Logger).
	AccessLog *slog.Logger
	// Logger receives the gateway's decisions (routes, ejections, the
	// registry becoming unreachable). Default: discard.
	Logger *slog.Logger
	// Registry receives the metrics, served by the admin handler's /metrics.
	// Default: a new registry.
	Registry *prometheus.Registry
	// Transport, when set, replaces the per-instance keep-alive transports
	// (tests). ConnectTimeout, ResponseTimeout and MaxIdlePerInstance then
	// do not apply.
	Transport http.RoundTripper
}

// Validate reports what New would refuse in c (its zero fields taking the
// defaults), without starting anything: a command checks its flags before
// it binds an address.
func (c Config) Validate() error { return c.setDefaults() }

func (c *Config) setDefaults() error {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = DefaultResponseTimeout
	}
	if c.MaxTries == 0 {
		c.MaxTries = DefaultMaxTries
	}
	if c.EjectAfter == 0 {
		c.EjectAfter = DefaultEjectAfter
	}
	if c.EjectFor == 0 {
		c.EjectFor = DefaultEjectFor
	}
	if c.MaxEjectPercent == 0 {
		c.MaxEjectPercent = DefaultMaxEjectPercent
	}
	if c.MaxIdlePerInstance == 0 {
		c.MaxIdlePerInstance = DefaultMaxIdlePerInst
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	if c.RequestIDHeader == "" {
		c.RequestIDHeader = DefaultRequestIDHeader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AccessLog == nil {
		c.AccessLog = c.Logger
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	var errs []error
	if c.ConnectTimeout < 0 || c.ResponseTimeout < 0 || c.EjectFor < 0 || c.ResolveTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.MaxTries < 1 {
		errs = append(errs, fmt.Errorf("max tries %d: want at least 1", c.MaxTries))
	}
	if c.EjectAfter < 1 {
		errs = append(errs, fmt.Errorf("eject after %d failures: want at least 1", c.EjectAfter))
	}
	if c.MaxEjectPercent < 0 || c.MaxEjectPercent > 100 {
		errs = append(errs, fmt.Errorf("max eject percent %d: want 0 to 100", c.MaxEjectPercent))
	}
	if c.MaxIdlePerInstance < 0 {
		errs = append(errs, fmt.Errorf("max idle per instance %d: must not be negative", c.MaxIdlePerInstance))
	}
	if c.AccessLogSample < 0 || c.AccessLogSample > 1 {
		errs = append(errs, fmt.Errorf("access log sample %v: want 0 to 1", c.AccessLogSample))
	}
	if c.Balance < RoundRobin || c.Balance > LeastRequests {
		errs = append(errs, fmt.Errorf("unknown balance %d", int(c.Balance)))
	}
	seen := map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		if err := r.normalize(); err != nil {
			errs = append(errs, err)
			continue
		}
		k := r.key()
		if seen[k] {
			errs = append(errs, fmt.Errorf("route %s given twice", r))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}
