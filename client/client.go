package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rosterhq/roster/api"
)

// DefaultAddr is the server address used when neither Config.Addrs nor
// $ROSTER_ADDR gives one.
const DefaultAddr = "127.0.0.1:8500"

// EnvAddr names the environment variable holding a comma-separated list of
// server addresses.
const EnvAddr = "ROSTER_ADDR"

// EnvToken names the environment variable holding the ACL token.
const EnvToken = "ROSTER_TOKEN"

// Config configures a Client. The zero value is usable: it talks to
// $ROSTER_ADDR or 127.0.0.1:8500.
type Config struct {
	// Addrs are the servers' HTTP addresses, "host:port" or URLs
	// ("https://host:port"). Default: $ROSTER_ADDR split on commas, else
	// DefaultAddr. The client sticks to one server while it answers and
	// moves to the next on connection errors and 503 answers.
	Addrs []string
	// HTTPClient sends the requests. Default: a client with its own pooled
	// keep-alive transport and no overall timeout (blocking queries last
	// minutes; every call is bounded by its context instead).
	HTTPClient *http.Client
	// Logger receives the client's decisions (failovers, re-registrations).
	// Default: discard.
	Logger *slog.Logger
	// Retry bounds retries of idempotent calls.
	Retry RetryPolicy
	// Token is the ACL token sent with every request (X-Roster-Token);
	// default: $ROSTER_TOKEN.
	Token string
	// TLS configures HTTPS for the default HTTP client (see TLSFiles);
	// default: from $ROSTER_TLS_CA, $ROSTER_TLS_CERT and $ROSTER_TLS_KEY
	// when set. With TLS, addresses without a scheme are https.
	TLS *tls.Config
}

// RetryPolicy bounds the retries of idempotent calls (reads, registration,
// heartbeats, deregistration). Delays grow exponentially from BaseDelay to
// MaxDelay with jitter; a server's Retry-After is honoured as a minimum.
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one call, counting the first.
	// Default 6, and never fewer than one try per server plus one.
	MaxAttempts int
	// BaseDelay is the delay before the first retry. Default 50ms.
	BaseDelay time.Duration
	// MaxDelay caps the delay between tries. Default 2s.
	MaxDelay time.Duration
}

// Client talks to a Roster cluster. It is safe for concurrent use. Close it
// to stop the heartbeat loop and deregister what it registered.
type Client struct {
	servers []*url.URL
	current atomic.Int64 // index into servers of the sticky server
	hc      *http.Client
	ownHC   bool
	log     *slog.Logger
	retry   RetryPolicy

	hb    *heartbeater
	token string

	mu     sync.Mutex
	regs   map[*Registration]struct{}
	closed bool
}

// New returns a Client for the configured servers. It does not contact them.
func New(cfg Config) (*Client, error) {
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = AddrsFromEnv()
	}
	c := &Client{
		hc:    cfg.HTTPClient,
		log:   cfg.Logger,
		retry: cfg.Retry,
		regs:  make(map[*Registration]struct{}),
		token: cfg.Token,
	}
	if c.token == "" {
		c.token = os.Getenv(EnvToken)
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil && cfg.HTTPClient == nil {
		var err error
		if tlsCfg, err = tlsFromEnv(); err != nil {
			return nil, err
		}
	}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if tlsCfg != nil && !strings.Contains(a, "://") {
			a = "https://" + a
		}
		u, err := parseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("roster client: address %q: %w", a, err)
		}
		c.servers = append(c.servers, u)
	}
	if len(c.servers) == 0 {
		return nil, errors.New("roster client: no server address")
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		tr.TLSClientConfig = tlsCfg
		c.hc = &http.Client{Transport: tr}
		c.ownHC = true
	}
	if c.retry.MaxAttempts <= 0 {
		c.retry.MaxAttempts = 6
	}
	if c.retry.MaxAttempts < len(c.servers)+1 {
		c.retry.MaxAttempts = len(c.servers) + 1
	}
	if c.retry.BaseDelay <= 0 {
		c.retry.BaseDelay = 50 * time.Millisecond
	}
	if c.retry.MaxDelay <= 0 {
		c.retry.MaxDelay = 2 * time.Second
	}
	if c.retry.MaxDelay < c.retry.BaseDelay {
		c.retry.MaxDelay = c.retry.BaseDelay
	}
	c.hb = newHeartbeater(c)
	return c, nil
}

// AddrsFromEnv returns the addresses in $ROSTER_ADDR (comma-separated), or
// DefaultAddr when it is unset or empty.
func AddrsFromEnv() []string {
	var out []string
	for _, a := range strings.Split(os.Getenv(EnvAddr), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{DefaultAddr}
	}
	return out
}

func parseAddr(a string) (*url.URL, error) {
	if !strings.Contains(a, "://") {
		a = "http://" + withDefaultPort(a)
	}
	u, err := url.Parse(a)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// Addrs returns the servers the client knows, the one it currently uses first.
func (c *Client) Addrs() []string {
	cur := int(c.current.Load())
	out := make([]string, 0, len(c.servers))
	for i := range c.servers {
		out = append(out, c.servers[(cur+i)%len(c.servers)].Host)
	}
	return out
}

// Close deregisters every instance still registered through this client,
// stops the heartbeat loop and releases idle connections. It waits at most
// 10 seconds for the deregistrations.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	regs := make([]*Registration, 0, len(c.regs))
	for r := range c.regs {
		regs = append(regs, r)
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, r := range regs {
		if err := r.Deregister(ctx); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	c.hb.stop()
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// request describes one API call.
type request struct {
	method string
	path   string // escaped path, e.g. /v1/services/web/instances
	query  url.Values
	body   []byte // nil: no body
	accept string
	// idempotent calls are retried on connection errors and 503/429.
	idempotent bool
	// pinned calls go to the current server only (no failover): "this
	// server leaves" must not leave another one.
	pinned bool
}

// response is a successful answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
	server string
}

// do sends r with failover and retries and returns a 2xx answer, or an
// *APIError for an error answer, or a wrapped ErrUnreachable.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("roster: %s %s: read answer: %w", r.method, r.path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body, server: resp.Request.URL.Host}, nil
}

// send is do without reading the body: the caller must close it. Only 2xx
// answers come back; an error answer is decoded into an *APIError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var lastErr error
	attempts := c.retry.MaxAttempts
	if !r.idempotent {
		attempts = 1
	}
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			delay := c.backoff(attempt - 1)
			var ae *APIError
			if errors.As(lastErr, &ae) && ae.RetryAfter > delay {
				delay = min(ae.RetryAfter, 10*c.retry.MaxDelay)
			}
			if err := sleepCtx(ctx, delay); err != nil {
				return nil, fmt.Errorf("roster: %s %s: %w (last error: %w)", r.method, r.path, err, lastErr)
			}
		}
		idx := int(c.current.Load())
		srv := c.servers[idx%len(c.servers)]
		resp, err := c.sendOnce(ctx, srv, r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("roster: %s %s: %w", r.method, r.path, ctx.Err())
			}
			lastErr = fmt.Errorf("%w: %s: %w", ErrUnreachable, srv.Host, err)
			// A peer that is not an HTTP server (--addr naming the DNS or
			// Raft port) will not become one: with nowhere else to go, say
			// so now instead of after every retry.
			if r.pinned || len(c.servers) == 1 && errors.Is(err, ErrNotHTTP) {
				return nil, fmt.Errorf("roster: %s %s: %w", r.method, r.path, lastErr)
			}
			c.failover(idx, srv, err)
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := decodeError(resp, srv.Host)
		switch resp.StatusCode {
		case http.StatusServiceUnavailable:
			lastErr = apiErr
			if !r.pinned {
				c.failover(idx, srv, apiErr)
			}
			continue
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
			lastErr = apiErr
			continue
		}
		return nil, fmt.Errorf("roster: %s %s: %w", r.method, r.path, apiErr)
	}
	if errors.Is(lastErr, ErrUnreachable) && !r.pinned && len(c.servers) > 1 {
		return nil, fmt.Errorf("roster: %s %s: after %d tries: %w", r.method, r.path, attempts, lastErr)
	}
	return nil, fmt.Errorf("roster: %s %s: %w", r.method, r.path, lastErr)
}

func (c *Client) sendOnce(ctx context.Context, srv *url.URL, r request) (*http.Response, error) {
	u := *srv
	u.Path = srv.Path + r.path
	u.RawPath = srv.Path + r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set(api.HeaderToken, c.token)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	} else {
		req.Header.Set("Accept", "application/json")
	}
	var fresh bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { fresh = !info.Reused },
	}))
	resp, err := c.hc.Do(req)
	if err != nil && fresh && ctx.Err() == nil && notHTTP(err) {
		return nil, fmt.Errorf("%w: %w", ErrNotHTTP, err)
	}
	return resp, err
}

func notHTTP(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "malformed HTTP response") ||
		// net/http's name for a connection closed before the request was
		// written; on a new connection, the peer hung up right away.
		strings.Contains(err.Error(), "server closed idle connection")
}

// failover moves the sticky server past idx, unless another goroutine has
// already moved it.
func (c *Client) failover(idx int, srv *url.URL, cause error) {
	if len(c.servers) == 1 {
		return
	}
	next := (idx + 1) % len(c.servers)
	if c.current.CompareAndSwap(int64(idx), int64(next)) {
		c.log.Info("roster client failing over", "from", srv.Host, "to", c.servers[next].Host, "cause", cause)
	}
}

// backoff returns the delay before retry n (0-based): exponential with equal
// jitter, capped.
func (c *Client) backoff(n int) time.Duration {
	return backoffDelay(c.retry.BaseDelay, c.retry.MaxDelay, n)
}

func backoffDelay(base, maxDelay time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func decodeError(resp *http.Response, server string) *APIError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode, Server: server}
	var wire api.Error
	if json.Unmarshal(body, &wire) == nil && (wire.Code != "" || wire.Message != "") {
		e.Code, e.Message, e.Field = wire.Code, wire.Message, wire.Field
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// getJSON sends an idempotent GET and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) (*response, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q, idempotent: true})
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return nil, fmt.Errorf("roster: GET %s: decode answer from %s: %w", path, resp.server, err)
		}
	}
	return resp, nil
}

// isDialError reports whether err happened before the request could be
// sent, so that even a non-idempotent request may go elsewhere.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func svcPath(service string) string {
	return "/v1/services/" + url.PathEscape(service) + "/instances"
}

func instPath(service, id string) string {
	return svcPath(service) + "/" + url.PathEscape(id)
}
