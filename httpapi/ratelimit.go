package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rosterhq/roster/api"
)

// Per-client rate limits on the write path (issue #15): one client must
// not take every write or heartbeat a server can apply. A client is its
// remote IP address (later, its token). Requests a follower forwarded are
// counted where the client sent them, so the leader does not count them
// again when they come from a cluster member.
const (
	// DefaultWriteRate is the write requests (registrations,
	// deregistrations, heartbeat requests, single or batched) per second one
	// client may send (DefaultWriteBurst at once). The Go client sends one
	// heartbeat batch per process per third of a TTL.
	DefaultWriteRate  = 1000
	DefaultWriteBurst = 2000
	// DefaultHeartbeatRate is the renewals per second one client may send,
	// single or batched (DefaultHeartbeatBurst at once). The Go client
	// renews all of a process's instances every third of the shortest TTL:
	// 20,000/s is 60,000 instances at a 10 s TTL from one address.
	DefaultHeartbeatRate  = 20000
	DefaultHeartbeatBurst = 40000
	// maxTarpit is how long a refusal is held back before it is sent:
	// a client that ignores Retry-After and retries at once is slowed to
	// one request per connection per maxTarpit, so refusing it costs the
	// server next to nothing. At most maxTarpits are held at once (they
	// hold a connection each); past that, refusals go out at once.
	maxTarpit  = time.Second
	maxTarpits = 1024
	// limiterIdle is how long a client's limiter is kept after its last
	// request; a full bucket (idle that long) is the same as a new one.
	limiterIdle = time.Minute
)

// clientLimits holds one token bucket per client address. Idle buckets
// are swept, so memory follows the clients active in the last minute.
type clientLimits struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	m     map[string]*clientBucket
	swept time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newClientLimits returns nil (no limit) for a negative rate.
func newClientLimits(perSecond float64, burst int) *clientLimits {
	if perSecond < 0 {
		return nil
	}
	return &clientLimits{limit: rate.Limit(perSecond), burst: max(burst, 1), m: make(map[string]*clientBucket)}
}

// allow takes n tokens from client's bucket, or reports how long until
// they would be there.
func (c *clientLimits) allow(client string, n int, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) > limiterIdle {
		for k, b := range c.m {
			if now.Sub(b.seen) > limiterIdle {
				delete(c.m, k)
			}
		}
		c.swept = now
	}
	b := c.m[client]
	if b == nil {
		b = &clientBucket{lim: rate.NewLimiter(c.limit, c.burst)}
		c.m[client] = b
	}
	b.seen = now
	// A batch larger than the burst can never pass whole: let it take the
	// whole bucket instead.
	n = min(n, c.burst)
	if b.lim.AllowN(now, n) {
		return true, 0
	}
	missing := float64(n) - b.lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(c.limit) * float64(time.Second)))
}

// clientKey is the client a request is counted for: its remote IP.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fromMember reports whether a forwarded request comes from a cluster
// member's address (a follower forwarding for its own clients).
func (h *Handler) fromMember(r *http.Request) bool {
	if r.Header.Get(api.HeaderForwarded) == "" {
		return false
	}
	return h.memberIPs.has(h.store, clientKey(r), time.Now())
}

// memberIPs caches the IP addresses of the cluster's members (Members
// asks Raft for its configuration: too slow for every forwarded write).
// An address it does not know refreshes it, at most once a second.
type memberIPs struct {
	mu        sync.Mutex
	ips       map[string]bool
	refreshed time.Time
}

func (m *memberIPs) has(store Store, ip string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ips[ip] {
		return true
	}
	if now.Sub(m.refreshed) < time.Second {
		return false
	}
	m.refreshed = now
	m.ips = make(map[string]bool)
	for _, mem := range store.Members() {
		for _, addr := range []string{mem.HTTPAddr, mem.RaftAddr, mem.GossipAddr} {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				m.ips[host] = true
			}
		}
	}
	return m.ips[ip]
}

// headerClient carries, on a request a follower forwards, the address of
// the client it came from, so the leader counts it for that client. It is
// believed only from a cluster member's address.
const headerClient = "X-Roster-Client"

// rateLimited counts n operations of r against lim for r's client and,
// over the limit, answers 429 with Retry-After (held back maxTarpit first)
// and reports true. A
// follower's coalesced heartbeat batch (forwarded, from a member, naming
// no client) was counted per client at the follower.
func (h *Handler) rateLimited(w http.ResponseWriter, r *http.Request, lim *clientLimits, n int, what string) bool {
	if lim == nil || n <= 0 {
		return false
	}
	client := clientKey(r)
	if h.fromMember(r) {
		c := r.Header.Get(headerClient)
		if c == "" {
			return false
		}
		client = c
	}
	ok, wait := lim.allow(client, n, time.Now())
	if ok {
		return false
	}
	if !inForwardBatch(r.Context()) {
		h.tarpit(r.Context())
	}
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	w.Header()["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
	h.metrics.rateLimited.Inc()
	writeJSON(w, http.StatusTooManyRequests, api.Error{Code: codeTooMany,
		Message: "too many " + what + " from " + client + "; retry after " + strconv.FormatInt(secs, 10) + "s"})
	return true
}

// tarpit holds a refusal back maxTarpit (at most maxTarpits at once), or
// until ctx ends or the handler closes. A write that a follower forwarded
// in a batch is refused at once, and the follower holds the refusal back
// for its client instead: a held write must not hold up the batch's
// sender, which the follower's other clients are waiting for.
func (h *Handler) tarpit(ctx context.Context) {
	if h.tarpits.Add(1) <= maxTarpits {
		t := time.NewTimer(maxTarpit)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-h.closing:
		}
		t.Stop()
	}
	h.tarpits.Add(-1)
}

// clientLimits builds the configured per-client limits.
func (c *Config) clientLimits() (writes, heartbeats *clientLimits) {
	return newClientLimits(c.WriteRate, c.WriteBurst), newClientLimits(c.HeartbeatRate, c.HeartbeatBurst)
}

// burstOf is the burst that goes with a per-client rate set without one:
// two seconds' worth (0 for a default or disabled rate).
func burstOf(rate float64) int {
	if rate <= 0 {
		return 0
	}
	return max(int(2*rate), 1)
}
